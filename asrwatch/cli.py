"""The `asrwatch` command. Each part of the project registers its own subcommands, and
imports its heavy dependencies (torch, streamlit) only inside them, so a collector host
needs neither."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="asrwatch",
    help="Observability and SLO control plane for fleets of speech-recognition services.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Each module exposes `register(app)`.
COMMAND_MODULES = (
    "collector.cli",
    "collector.token_cli",
    "simulator.cli",
    "slo.cli",
    "drift.cli",
    "inference_probe.cli",
    "dashboards.cli",
    "dashboards.report.cli",
    "asrwatch.demo",
    "asrwatch.config_check",
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)
