"""Subcommands of this part (registered into `asrwatch.cli`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

APP_PATH = Path(__file__).with_name("app.py")


def console_command(port: int, host: str) -> list[str]:
    """The `streamlit run` command line; the API URL and token travel by environment, never argv."""
    return [sys.executable, "-m", "streamlit", "run", str(APP_PATH), "--server.port", str(port),
            "--server.address", host, "--server.headless", "true", "--browser.gatherUsageStats", "false"]


def register(app: typer.Typer) -> None:
    """Add this part's commands to the `asrwatch` app."""

    @app.command()
    def console(
        api: str = typer.Option("http://127.0.0.1:8080", "--api", help="Collector API base URL."),
        token: str = typer.Option(None, "--token", envvar="ASRWATCH_CONSOLE_TOKEN",
                                  help="Read-scope bearer token (or ASRWATCH_CONSOLE_TOKEN)."),
        port: int = typer.Option(8501, "--port", help="Port of the console."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind the console to."),
    ) -> None:
        """The Streamlit console (reads only through the collector's API)."""
        try:
            import streamlit  # noqa: F401
        except ImportError:
            raise typer.BadParameter("the console needs Streamlit: pip install 'asrwatch[console]'") from None
        env = dict(os.environ, ASRWATCH_CONSOLE_API=api)
        if token:
            env["ASRWATCH_CONSOLE_TOKEN"] = token
        typer.echo(f"asrwatch console on http://{host}:{port} reading {api}", err=True)
        argv = console_command(port, host)
        if os.name == "posix":
            # Become Streamlit, so signals (Ctrl-C, SIGTERM from a supervisor) reach it directly
            # and no server is left behind when this wrapper is stopped.
            os.execve(argv[0], argv, env)
        try:
            raise typer.Exit(subprocess.call(argv, env=env))
        except KeyboardInterrupt:
            raise typer.Exit(0) from None
