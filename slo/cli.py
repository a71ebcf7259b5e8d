"""`asrwatch slo validate|rules|import-openslo` (registered into `asrwatch.cli`)."""

from __future__ import annotations

from pathlib import Path

import typer

slo_app = typer.Typer(help="SLO specs: validate them, export Prometheus rules, import OpenSLO.",
                      no_args_is_help=True)


def _load(config: Path):
    """The settings and parsed SLO specs, or exit 1 naming each bad SLO and field."""
    from asrwatch.settings import load_settings
    from slo.spec import SLOSpecError, slos_from_settings

    try:
        settings = load_settings(config)
        return settings, slos_from_settings(settings)
    except (SLOSpecError, ValueError) as exc:
        typer.echo(f"invalid: {exc}", err=True)
        raise typer.Exit(1) from None


@slo_app.command("validate")
def validate(config: Path = typer.Option(..., "--config", exists=True, dir_okay=False,
                                         help="asrwatch.yaml with a `slos:` list")) -> None:
    """Check every SLO spec; exit 1 naming each bad SLO and field."""
    from slo.alerting import policy
    from slo.spec import format_duration, min_events_for

    settings, specs = _load(config)
    for spec in specs:
        tiers = ", ".join(
            f"{t.severity} {format_duration_min(t.long_minutes)}&{format_duration_min(t.short_minutes)}>{t.factor:g}x"
            for t in policy(spec.window))
        typer.echo(f"ok  {spec.name}: {spec.sli} objective {spec.objective} over {format_duration(spec.window)}"
                   f", group_by [{', '.join(spec.group_by)}], min_events {min_events_for(spec, settings)}; {tiers}")
    typer.echo(f"{len(specs)} SLO(s) valid")


def format_duration_min(minutes: int) -> str:
    from datetime import timedelta

    from slo.spec import format_duration

    return format_duration(timedelta(minutes=minutes))


@slo_app.command("rules")
def rules(config: Path = typer.Option(..., "--config", exists=True, dir_okay=False,
                                      help="asrwatch.yaml with a `slos:` list")) -> None:
    """Prometheus recording + alerting rules (YAML on stdout), for `rule_files:`."""
    from slo.prometheus_rules import export_rules, folding_warnings, to_yaml

    settings, specs = _load(config)
    doc, skipped = export_rules(specs, settings)
    for reason in skipped:
        typer.echo(f"skipped: {reason}", err=True)
    for warning in folding_warnings(specs, settings):
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(to_yaml(doc), nl=False)


@slo_app.command("import-openslo")
def import_openslo_cmd(paths: list[Path] = typer.Argument(
        ..., metavar="PATH", help="OpenSLO files or directories (*.yaml, *.yml), read together so that indicatorRef "
                  "and metricSourceRef resolve across them")) -> None:
    """Print the asrwatch `slos:` entries for OpenSLO SLOs; exit 1 naming file, document, field and reason."""
    import yaml

    from slo.openslo import load_openslo, to_config
    from slo.spec import SLOSpecError

    try:
        imported = load_openslo(list(paths))
    except SLOSpecError as exc:
        typer.echo(f"invalid: {exc}", err=True)
        raise typer.Exit(1) from None
    for note in imported.notes:  # choices made on import (e.g. a rolling 1M read as 30d)
        typer.echo(f"note: {note}", err=True)
    typer.echo(yaml.safe_dump({"slos": to_config(imported.specs)}, sort_keys=False), nl=False)


def register(app: typer.Typer) -> None:
    """Add this part's commands to the `asrwatch` app."""
    app.add_typer(slo_app, name="slo")
