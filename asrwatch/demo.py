"""`asrwatch demo`: the main job on the embedded default."""

from __future__ import annotations

import typer

from asrwatch.settings import load_settings


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        port: int = typer.Option(8080, help="Collector port"),
        headless: bool = typer.Option(False, help="No console; run for --minutes and print a summary"),
        minutes: float = typer.Option(5.0, help="How long a headless demo runs (wall-clock minutes)"),
    ) -> None:
        """Run the collector on ./asrwatch-data/ with a simulated fleet, the probe and the console."""
        from collector.cli import serve

        settings = load_settings()
        typer.echo(f"asrwatch demo: collector on http://127.0.0.1:{port} (SQLite under ./asrwatch-data/)")
        typer.echo("  API docs: http://127.0.0.1:%d/docs" % port)
        typer.echo("  not yet wired into the demo: simulated fleet, evaluator, probe, console")
        serve(settings, "127.0.0.1", port)
