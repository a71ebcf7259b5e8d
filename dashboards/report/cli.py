"""`asrwatch report --month YYYY-MM --out report.html [--pdf report.pdf]`: the leadership report."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import typer

DEFAULT_API = "http://127.0.0.1:8080"


def api_from_config(path: Path) -> str:
    """The collector a config file describes: its `external_url`, else its host and port
    (a wildcard bind is reached on loopback)."""
    from asrwatch.settings import load_settings

    settings = load_settings(path)
    if settings.external_url:
        return settings.external_url
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def write_text_atomically(path: Path, text: str) -> None:
    """A reader (or a mail job) never sees half a report: write beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def register(app: typer.Typer) -> None:
    """Add this part's commands to the `asrwatch` app."""

    @app.command()
    def report(
        month: str = typer.Option(..., "--month", help="Calendar month in UTC event time: YYYY-MM."),
        out: Path = typer.Option(..., "--out", dir_okay=False, help="The HTML file to write (self-contained)."),
        pdf: Path | None = typer.Option(None, "--pdf", dir_okay=False, help="Also print it to this PDF (Chromium)."),
        api: str | None = typer.Option(None, "--api", help=f"Collector API base URL (default {DEFAULT_API})."),
        token: str | None = typer.Option(None, "--token", envvar=["ASRWATCH_TOKEN", "ASRWATCH_CONSOLE_TOKEN"],
                                         help="Read-scope bearer token (or ASRWATCH_TOKEN)."),
        config: Path | None = typer.Option(None, "--config", "-c", exists=True, dir_okay=False,
                                           help="asrwatch.yaml: read the collector it serves (external_url, "
                                                "else host and port) instead of --api."),
        chromium: str | None = typer.Option(None, "--chromium", help="Chromium binary for --pdf."),
    ) -> None:
        """A month's SLO compliance, budget spent, incidents, cost and WER by model version, as one
        self-contained HTML file (and a PDF), read through the collector's API."""
        from dashboards.api import ConsoleAPI, ConsoleError
        from dashboards.report.data import MonthNotBegun, read_report
        from dashboards.report.month import parse_month
        from dashboards.report.pdf import PDFUnavailable, print_pdf
        from dashboards.report.render import render_html

        try:
            period = parse_month(month)
        except ValueError as exc:
            raise typer.BadParameter(str(exc).removeprefix("--month: "), param_hint="'--month'") from None
        if api and config:
            raise typer.BadParameter("give --api or --config, not both", param_hint="'--api' / '--config'")
        if config is not None:
            try:
                api = api_from_config(config)
            except ValueError as exc:
                raise typer.BadParameter(str(exc).splitlines()[0], param_hint="'--config'") from None
        client = ConsoleAPI(api or DEFAULT_API, token)
        try:
            data = read_report(client, period, datetime.now(timezone.utc))
        except MonthNotBegun as exc:
            raise typer.BadParameter(str(exc).removeprefix("--month: "), param_hint="'--month'") from None
        except ConsoleError as exc:
            typer.echo(f"asrwatch report: {exc.message}", err=True)
            raise typer.Exit(1) from None
        write_text_atomically(out, render_html(data))
        summary = (f"{len(data.slos)} SLO(s), {len(data.incidents)} incident(s), {data.sessions:,} session(s)"
                   if data.has_data else "no data in this month")
        typer.echo(f"wrote {out} for {period.label}: {summary}", err=True)
        if pdf is not None:
            try:
                typer.echo(f"wrote {print_pdf(out, pdf, chromium)}", err=True)
            except PDFUnavailable as exc:
                typer.echo(f"asrwatch report: {exc} (the HTML report {out} is written)", err=True)
                raise typer.Exit(1) from None
