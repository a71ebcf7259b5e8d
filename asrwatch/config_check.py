"""`asrwatch check --config F`: every section of asrwatch.yaml checked as `serve` would, without
starting anything. `asrwatch slo validate` checks the SLO specs only; a typo in the router, drift,
cost or rollout sections used to surface only when a collector refused to start."""

from __future__ import annotations

from pathlib import Path

import typer

from asrwatch.settings import Settings, load_settings


def check_config(settings: Settings) -> list[str]:
    """One line per section that parsed; raises ValueError naming the section and key otherwise.
    The same parsers `serve` runs at start (asrwatch.server), minus the database."""
    from drift import DriftConfig
    from slo import cache_watch, check_sli_source, cost_watch, load_router_config, rollout_actuators, slos_from_settings
    from slo.maintenance import config_windows

    specs = slos_from_settings(settings)
    router = load_router_config(settings)
    drift = DriftConfig.from_settings(settings)
    cost = cost_watch.CostWatchConfig.from_settings(settings)
    cache = cache_watch.CacheWatchConfig.from_settings(settings)
    acting = rollout_actuators(settings)
    windows = config_windows(settings, specs)
    check_sli_source(settings)
    source = f"prometheus at {settings.prometheus.url}" if settings.prometheus and settings.sli_source == "prometheus" \
        else "local rollups"
    return [
        f"ok  slos: {len(specs)} spec(s)",
        f"ok  router: {len(router.receivers)} receiver(s)",
        f"ok  drift: every {drift.interval_s:g} s" if drift.interval_s else "ok  drift: loop off",
        f"ok  cost: window {cost.window_hours:g} h" if cost.enabled else "ok  cost: disabled",
        f"ok  cache: window {cache.window_hours:g} h" if cache.enabled else "ok  cache: disabled",
        f"ok  rollout actuators: {len(acting)}",
        f"ok  maintenance windows: {len(windows)}",
        f"ok  sli_source: {source}",
    ]


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check_command(
        config: Path = typer.Option(..., "--config", "-c", exists=True, dir_okay=False, help="asrwatch.yaml"),
    ) -> None:
        """Check every section of the config as `serve` would; exit 1 naming the bad key."""
        try:
            lines = check_config(load_settings(config))
        except ValueError as exc:  # pydantic's ValidationError and SLOSpecError are ValueErrors
            typer.echo(f"invalid: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo("\n".join(lines))
