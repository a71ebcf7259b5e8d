"""Golden files for the rule export: each `golden/<case>.yaml` config in, `golden/<case>.rules.yaml`
out, compared as text so that a change to the rules is reviewed as a diff of the expected file.
`ASRWATCH_UPDATE_GOLDEN=1 pytest tests/slo/test_prometheus_rules_golden.py` rewrites them;
`promtool check rules` checks every expected file."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asrwatch.settings import load_settings
from slo.prometheus_rules import export_rules, to_yaml
from slo.spec import slos_from_settings

sys.path.insert(0, str(Path(__file__).parent))
from prerequisites import need_program  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yaml") if not p.name.endswith(".rules.yaml"))


def _export(case: str) -> str:
    settings = load_settings(GOLDEN / f"{case}.yaml")
    rules, skipped = export_rules(slos_from_settings(settings), settings)
    assert skipped == []
    return to_yaml(rules)


@pytest.mark.parametrize("case", CASES)
def test_rules_equal_the_golden_file(case):
    expected_path = GOLDEN / f"{case}.rules.yaml"
    got = _export(case)
    if os.environ.get("ASRWATCH_UPDATE_GOLDEN"):
        expected_path.write_text(got)
    expected = expected_path.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), got.splitlines(True),
                                        str(expected_path), "exported"))
    assert got == expected, diff


@pytest.mark.parametrize("case", CASES)
def test_golden_rules_pass_promtool_check(case):
    promtool = need_program("promtool")
    result = subprocess.run([promtool, "check", "rules", str(GOLDEN / f"{case}.rules.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cases_cover_sloth_names():
    assert CASES == ["design_example", "sloth_style"]
    text = (GOLDEN / "sloth_style.rules.yaml").read_text()
    for name in ("slo:current_burn_rate:ratio", "slo:period_burn_rate:ratio", "slo:period_error_budget_remaining:ratio",
                 "slo:objective:ratio", "slo:time_period:days", "sloth_slo_info", "slo:sli_error:ratio_rate5m"):
        assert f"record: {name}\n" in text, name
    assert "alert: SpeechAvailabilityBurn" in text and "severity: ticket" not in text  # ticket alert disabled
    assert "sloth_objective: '99.9'" in text and "sloth_id: speech-api-availability" in text
    assert "runbook_url: https://asrwatch.example.com/runbooks/slo-burn-availability" in text
    # The spec names its service: its alert carries Sloth's alert labels; the design example's don't.
    assert "      sloth_service: speech-api\n      sloth_slo: availability\n      sloth_severity: page\n" in text
    assert "sloth_severity" not in (GOLDEN / "design_example.rules.yaml").read_text()
    # A child counts from 0 only when its created time lies inside the window.
    assert 'asrwatch_sessions_created{tenant=~"acme\\\\-bank|medicorp"} > (time() - 300)' in text
