"""`asrwatch check` refuses every section `serve` would refuse, naming the key, before any start."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from asrwatch.cli import app

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / "asrwatch" / "demo_config.yaml"


def _check(tmp_path: Path, change: dict) -> tuple[int, str]:
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data.update(change)
    path = tmp_path / "asrwatch.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["check", "--config", str(path)])
    return result.exit_code, result.output


def test_the_demo_config_checks(tmp_path: Path) -> None:
    code, output = _check(tmp_path, {})
    assert code == 0, output
    assert "ok  slos: 5 spec(s)" in output and "ok  router: " in output and "ok  drift: " in output
    assert "ok  cache: window 1 h" in output


@pytest.mark.parametrize(("change", "named"), [
    ({"receivers": [{"name": "oncall", "kind": "ticket", "tokn": "x"}, {"name": "speech-core", "kind": "ticket"}, {"name": "finops", "kind": "ticket"}, {"name": "triage", "kind": "ticket"}]}, "tokn"),
    ({"drift": {"interval": 60}}, "interval"),
    ({"cost": {"window_hour": 2}}, "window_hour"),
    ({"rollout_actuators": [{"kind": "webhook", "url": "http://127.0.0.1:1/x", "header": {}}]}, "header"),
    ({"slos": [{"name": "x", "sli": "latncy", "objective": 99, "window": "30d"}]}, "sli"),
])
def test_a_typo_in_any_section_is_refused_by_name(tmp_path: Path, change: dict, named: str) -> None:
    code, output = _check(tmp_path, change)
    assert code == 1, output
    assert output.startswith("invalid: ") and named in output
