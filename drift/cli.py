"""`asrwatch drift scan|pin|unpin` (registered into `asrwatch.cli`)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import typer

drift_app = typer.Typer(help="Drift detection: scan both windows, pin reference baselines.", no_args_is_help=True)

_CONFIG = typer.Option(..., "--config", exists=True, dir_okay=False, help="asrwatch.yaml")


def _time(value: str | None, name: str) -> datetime:
    if value is None:
        return datetime.now(timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not an RFC 3339 time: {value!r}", param_hint=name) from None
    if parsed.tzinfo is None:
        raise typer.BadParameter("must carry a timezone, e.g. 2026-11-21T12:00:00Z", param_hint=name)
    return parsed.astimezone(timezone.utc)


def _engine(settings):
    from collector.store import configure_dimensions, configure_sampling, make_engine, migrate

    engine = make_engine(settings.database_url)
    migrate(engine)
    configure_dimensions(engine, settings.dimensions)  # the slots the configured dimensions are read from
    configure_sampling(engine, settings.store.policy())  # under sampling, the share drawn by id, as `serve` scans
    return engine


@drift_app.command("scan")
def scan(
    config: Path = _CONFIG,
    at: str | None = typer.Option(None, "--at", help="end of the current window (RFC 3339, default now)"),
    as_json: bool = typer.Option(False, "--json", help="the full report as JSON (as GET /api/v1/drift)"),
    route: bool = typer.Option(False, "--route", help="send new/resolved tickets through the alert router"),
    all_findings: bool = typer.Option(False, "--all", help="list info findings too"),
) -> None:
    """Run one drift scan and print its findings (tickets first)."""
    import orjson
    from tqdm import tqdm

    from asrwatch.settings import load_settings
    from drift.config import DriftConfig
    from drift.service import scan_database

    when = _time(at, "--at")
    try:
        settings = load_settings(config)
        drift_config = DriftConfig.from_settings(settings)
    except ValueError as exc:
        typer.echo(f"invalid: {exc}", err=True)
        raise typer.Exit(1) from None
    engine = _engine(settings)
    with tqdm(desc="drift scan", unit="step", disable=as_json) as bar:
        def progress(what: str) -> None:
            bar.set_postfix_str(what)
            bar.update(1)

        report = scan_database(engine, drift_config, when, progress)
    if route:
        from drift.tickets import flush_router, route_findings
        from slo import AlertRouter

        alert_router = AlertRouter.from_settings(engine, settings)
        try:
            outcome = route_findings(engine, report.findings, when, alert_router.process, drift_config.teams)
            flush_router(alert_router, when)
        finally:
            alert_router.close()
        typer.echo(f"routed: {len(outcome.opened)} opened, {len(outcome.refreshed)} still open, "
                   f"{len(outcome.resolved)} resolved", err=True)
    if as_json:
        typer.echo(orjson.dumps(report.to_dict()).decode())
        return
    shown = [f for f in report.findings if all_findings or f.severity != "info"]
    typer.echo(f"{report.tests_run} tests over {report.slices_evaluated} slices, "
               f"{len(report.insufficient)} slice/feature pairs with insufficient data")
    for f in shown:
        p = "n/a" if f.p_adjusted is None else f"{f.p_adjusted:.3g}"
        typer.echo(f"{f.severity:6s} {f.feature:22s} {f.slice_key:40s} {f.test:18s} q={p:9s} {f.summary}")
    if not shown:
        typer.echo("no drift findings")


@drift_app.command("pin")
def pin(
    config: Path = _CONFIG,
    model_version: str = typer.Option(..., "--model-version"),
    since: str = typer.Option(..., "--since", help="start of the baseline window (RFC 3339)"),
    until: str = typer.Option(..., "--until", help="end of the baseline window (RFC 3339)"),
    note: str = typer.Option("", "--note"),
) -> None:
    """Pin a model version's reference window (used instead of the 7 days before `at`)."""
    from sqlalchemy.orm import Session as OrmSession

    from asrwatch.settings import load_settings
    from drift.models import DriftBaseline

    start, end = _time(since, "--since"), _time(until, "--until")
    if end <= start:
        raise typer.BadParameter("must be after --since", param_hint="--until")
    engine = _engine(load_settings(config))
    with OrmSession(engine) as s, s.begin():
        s.merge(DriftBaseline(model_version=model_version, reference_start=start, reference_end=end,
                              pinned_at=datetime.now(timezone.utc), pinned_by="cli", note=note))
    typer.echo(f"pinned {model_version}: {start.isoformat()} .. {end.isoformat()}")


@drift_app.command("unpin")
def unpin(config: Path = _CONFIG, model_version: str = typer.Option(..., "--model-version")) -> None:
    """Go back to the rolling reference window for a model version."""
    from sqlalchemy.orm import Session as OrmSession

    from asrwatch.settings import load_settings
    from drift.models import DriftBaseline

    engine = _engine(load_settings(config))
    with OrmSession(engine) as s, s.begin():
        row = s.get(DriftBaseline, model_version)
        if row is None:
            typer.echo(f"model_version: no pinned baseline for {model_version!r}", err=True)
            raise typer.Exit(1)
        s.delete(row)
    typer.echo(f"unpinned {model_version}")


def register(app: typer.Typer) -> None:
    """Add this part's commands to the `asrwatch` app."""
    app.add_typer(drift_app, name="drift")
