"""`asrwatch probe` / `probe-serve` command line: options, clear errors, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from inference_probe.cli import register


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps typer in multi-command mode
        pass

    return app


def test_probe_cli_imports_without_torch():
    code = "import sys, inference_probe.cli; assert 'torch' not in sys.modules and 'whisper' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_help_lists_the_design_options(app):
    result = CliRunner().invoke(app, ["probe", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--collector", "--token", "--manifest", "--slices", "--limit", "--backend", "--device"):
        assert option in result.output
    assert CliRunner().invoke(app, ["probe-serve", "--help"]).exit_code == 0


@pytest.mark.parametrize("args, message", [
    ([], "--collector URL is required"),
    (["--dry-run", "--manifest", "/nonexistent/m.jsonl"], "manifest not found: /nonexistent/m.jsonl"),
    (["--dry-run", "--slices", "clean,noise_3db"], "unknown slice(s) noise_3db"),
    (["--dry-run", "--backend", "http"], "--endpoint: the http backend needs"),
])
def test_clear_errors_exit_2(app, args, message):
    result = CliRunner().invoke(app, ["probe", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_dry_run_prints_the_wer_table_and_writes_the_summary(app, tmp_path, probe_serve):
    summary = tmp_path / "summary.json"
    result = CliRunner().invoke(app, ["probe", "--dry-run", "--limit", "1", "--slices", "clean,telephony",
                                      "--backend", "http", "--endpoint", probe_serve.url, "--endpoint-token",
                                      probe_serve.token, "--quiet", "--summary-json", str(summary)])
    assert result.exit_code == 0, result.output
    assert "telephony" in result.output and "clean" in result.output and "RTFx" in result.output
    data = json.loads(summary.read_text())
    assert data["totals"]["sessions"] == 2 and data["repro"]["model_version"].startswith("whisper-tiny.en@")
    assert {row["status"] for row in data["utterances"]} == {"ok"}
