"""`asrwatch simulate`: a simulated ASR fleet posting to a collector (also the load generator)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Optional

import typer


def _list_scenarios() -> None:
    from simulator.scenarios import SCENARIOS

    for scenario in SCENARIOS.values():
        fires = ", ".join(scenario.should_fire) or "nothing"
        typer.echo(f"{scenario.name:<28} onset {scenario.default_onset:<5} fires: {fires}")
        typer.echo(f"  {scenario.summary}")


def _parse_start(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not an RFC 3339 time: {text!r}", param_hint="--start") from None
    if at.tzinfo is None:
        raise typer.BadParameter("needs a timezone offset, e.g. 2026-11-21T00:00:00Z", param_hint="--start")
    return at.astimezone(timezone.utc)


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_command(
        collector: Optional[str] = typer.Option(None, "--collector", help="Collector base URL, e.g. http://127.0.0.1:8080"),
        token: Optional[str] = typer.Option(None, "--token", envvar="ASRWATCH_TOKEN", help="Ingest-scope bearer token"),
        scenario: str = typer.Option(
            "steady", "--scenario", "-s",
            help="Scenario name(s), comma-separated; NAME@ONSET[-END] with ONSET like 90m, 2h or a fraction 0..1",
        ),
        hours: float = typer.Option(1.0, "--hours", min=0.0167, help="Simulated event-time span"),
        rate: float = typer.Option(300.0, "--rate", min=0.0, help="Mean sessions per minute (diurnal curve around it)"),
        seed: int = typer.Option(0, "--seed", help="Same seed, same sessions (re-posting is idempotent)"),
        start: Optional[str] = typer.Option(None, "--start", help="Event time of the first minute (default: now - hours; now with --speed)"),
        label_fraction: float = typer.Option(0.05, "--label-fraction", min=0.0, max=1.0, help="Share of sessions with a labeled transcript"),
        otlp_fraction: float = typer.Option(0.0, "--otlp-fraction", min=0.0, max=1.0, help="Share of sessions sent as OTLP traces"),
        speed: Optional[float] = typer.Option(None, "--speed", help="Live mode: event seconds per wall second (1 = real time)"),
        router_file: Optional[str] = typer.Option(
            None, "--router", envvar="ASRWATCH_TRAFFIC_ROUTER_FILE",
            help="Traffic-router state (JSON file or http URL) re-read every simulated minute",
        ),
        stable_version: str = typer.Option("whisper-large-v3@2026-10-01", "--stable-version"),
        canary_version: str = typer.Option("whisper-large-v3@2026-11-15", "--canary-version"),
        hypotheses: bool = typer.Option(False, "--hypotheses/--no-hypotheses", help="Send every session's transcript"),
        batch_size: int = typer.Option(500, "--batch-size", min=1, help="Sessions per POST"),
        truth: bool = typer.Option(False, "--truth", help="Print each scenario's ground truth as JSON at the end"),
        list_: bool = typer.Option(False, "--list", help="List the scenarios and exit"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar"),
    ) -> None:
        """Simulate a fleet of ASR servers in event time and post it to a collector."""
        if list_:
            _list_scenarios()
            return
        if not collector:
            raise typer.BadParameter("give the collector's URL (or --list)", param_hint="--collector")
        from collector.client import CollectorAuthError, CollectorUnreachable
        from simulator.fleet import FleetConfig
        from simulator.post import SimulationRejected
        from simulator.run import simulate
        from simulator.traffic_router import RouterStateError

        try:
            fleet = FleetConfig(stable_version=stable_version, canary_version=canary_version, label_fraction=label_fraction)
            report = simulate(
                collector, token, scenario, start=_parse_start(start), hours=hours, rate=rate, seed=seed,
                speed=speed, router_file=router_file, otlp_fraction=otlp_fraction, fleet=fleet,
                hypotheses=hypotheses, batch_size=batch_size, progress=not quiet,
            )
        except CollectorAuthError as exc:
            typer.echo(f"error: {exc}. Pass an ingest-scope token with --token or ASRWATCH_TOKEN.", err=True)
            raise typer.Exit(2) from None
        except CollectorUnreachable as exc:
            typer.echo(f"error: {exc}. Is `asrwatch serve` running there?", err=True)
            raise typer.Exit(3) from None
        except (SimulationRejected, RouterStateError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(4) from None
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        s = report.stats
        typer.echo(
            f"simulated {report.minutes} min from {report.start.isoformat()}: {s.sessions + s.traced} sessions "
            f"({s.traced} as traces), {s.samples} labeled samples; accepted {s.accepted}, duplicates {s.duplicates}, "
            f"rejected {s.rejected}; {report.sessions_per_s:.0f} sessions/s"
        )
        if s.first_rejection:
            typer.echo(f"first rejection: {s.first_rejection}", err=True)
        if truth:
            typer.echo(json.dumps([t.as_dict() for t in report.truths], indent=2))
