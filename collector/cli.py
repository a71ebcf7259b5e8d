"""`asrwatch serve`: the collector API (and, with it, the evaluator)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from asrwatch.settings import Settings, is_loopback, load_settings


def check_bind(settings: Settings, host: str) -> None:
    """A server reachable from other machines must not be open to anyone."""
    if not is_loopback(host) and not settings.auth.enabled:
        raise typer.BadParameter(
            f"refusing to bind {host} without tokens: set auth.ingest/read/admin in the config "
            "(or ASRWATCH_AUTH__READ etc.), or bind 127.0.0.1", param_hint="--host")


def serve(settings: Settings, host: str, port: int, log_level: str = "info") -> None:
    import uvicorn

    from collector.app import create_app

    check_bind(settings, host)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, access_log=False)


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_command(
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="asrwatch.yaml", exists=True, dir_okay=False),
        host: Optional[str] = typer.Option(None, help="Bind address (default from config, 127.0.0.1)"),
        port: Optional[int] = typer.Option(None, help="Port (default from config, 8080)"),
        log_level: str = typer.Option("info", help="uvicorn log level"),
    ) -> None:
        """Run the collector API and the evaluator."""
        settings = load_settings(config)
        serve(settings, host or settings.host, port or settings.port, log_level)
