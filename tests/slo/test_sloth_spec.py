"""Sloth users' spec forms (issue #16): objective in percent, labels and annotations, alert names
per tier, a disabled tier; the in-process engine's alerts carry them as the exported rules do;
every SLO of the bundled demo config exports."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from asrwatch.cli import app
from slo.evaluation import evaluate_slo
from slo.prometheus_rules import rules_for
from slo.series import SLISeries
from slo.spec import SLOSpecError, metric_dimensions, parse_slos

sys.path.insert(0, str(Path(__file__).parent))
from prerequisites import need_program  # noqa: E402

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "asrwatch" / "demo_config.yaml"
AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("written, fraction", [(99.9, 0.999), (99, 0.99), (99.95, 0.9995), (0.999, 0.999), (95, 0.95)])
def test_objective_in_percent_or_fraction(written, fraction):
    spec = parse_slos([{"name": "a", "sli": "availability", "objective": written}])[0]
    assert spec.objective == fraction  # exactly: the rules print this float and the engine uses it


@pytest.mark.parametrize("raw, needle", [
    ({"objective": 100}, "percent strictly between 1 and 100"),
    ({"objective": 1}, "objective"),
    ({"labels": {"severity": "critical"}}, "'severity' is set by asrwatch"),
    ({"labels": {"tenant": "x"}}, "'tenant' is set by asrwatch"),
    ({"labels": {"bad-name": "x"}}, "not a Prometheus label name"),
    ({"annotations": {"summary": "x"}}, "'summary' is written by asrwatch"),
    ({"annotations": {"note": "{{ $value }}"}}, "only template allowed"),
    ({"alerting": {"name": "Not A Name"}}, "alerting.name"),
    ({"alerting": {"page_alert": {"severity": "critical"}}}, "alerting.page_alert.severity: unknown field"),
    ({"alerting": {"pageAlert": {}}}, "alerting.pageAlert: unknown field"),
])
def test_bad_sloth_fields_name_the_field(raw, needle):
    with pytest.raises(SLOSpecError) as err:
        parse_slos([{"name": "s", "sli": "availability", "objective": 0.99, **raw}])
    assert needle in str(err.value) and "'s'" in str(err.value)


SPEC = {"name": "avail", "sli": "availability", "objective": 99, "window": "30d", "group_by": ["region"],
        "labels": {"team": "speech"}, "annotations": {"where": "region {{ $labels.region }}"},
        "alerting": {"name": "SpeechBurn", "labels": {"category": "availability"},
                     "page_alert": {"name": "SpeechPage", "labels": {"pager": "oncall"}},
                     "ticket_alert": {"labels": {"queue": "speech"}}}}


def _burning_series(bad_per_minute: int, burning_minutes: int = 60) -> SLISeries:
    minutes = 3 * 24 * 60 + 60
    total = np.full((1, minutes), 100, dtype=np.int64)
    good = total.copy()
    good[0, -burning_minutes:] -= bad_per_minute
    return SLISeries(AT - timedelta(minutes=minutes), ("region",), [("eu",)], good, total)


@pytest.mark.parametrize("bad, burning, severity, name, extra", [
    (50, 60, "page", "SpeechPage", {"pager": "oncall"}),          # 50x for an hour: pages
    (5, 1440, "ticket", "SpeechBurn", {"queue": "speech"}),      # 5x for a day: a ticket, no page
])
def test_engine_alerts_carry_the_spec_names_labels_and_annotations(bad, burning, severity, name, extra):
    spec = parse_slos([SPEC])[0]
    statuses = evaluate_slo(spec, _burning_series(bad, burning), AT, min_events=10)
    (alert,) = [a for s in statuses for a in s.alerts]
    assert alert.name == name and alert.severity == severity
    assert alert.labels == {"alertname": name, "slo": "avail", "severity": severity, "region": "eu",
                            "team": "speech", "category": "availability", **extra}
    assert alert.annotations["where"] == "region eu"
    rules = [r for g in rules_for(spec, min_events=10) for r in g["rules"] if "alert" in r]
    rule = next(r for r in rules if r["labels"]["severity"] == severity)
    # The rule's labels plus the group's and alertname are exactly the engine's.
    assert {**rule["labels"], "alertname": rule["alert"], "region": "eu"} == alert.labels
    assert rule["annotations"]["where"] == "region {{ $labels.region }}"


def test_a_disabled_tier_fires_in_neither_engine():
    spec = parse_slos([{**SPEC, "alerting": {"page_alert": {"disable": True}}}])[0]
    assert [a for s in evaluate_slo(spec, _burning_series(50), AT, min_events=10) for a in s.alerts] == []
    enabled = parse_slos([SPEC])[0]
    assert [a.severity for s in evaluate_slo(enabled, _burning_series(50), AT, min_events=10) for a in s.alerts] == ["page"]
    assert [r["labels"]["severity"] for g in rules_for(spec, min_events=10) for r in g["rules"] if "alert" in r] == ["ticket"]


def test_every_demo_slo_exports_and_passes_promtool(tmp_path):
    promtool = need_program("promtool")
    result = CliRunner().invoke(app, ["slo", "rules", "--config", str(DEMO_CONFIG)])
    assert result.exit_code == 0, result.output
    assert "skipped" not in result.stderr
    doc = yaml.safe_load(result.stdout)
    demo = yaml.safe_load(DEMO_CONFIG.read_text())
    assert [g["name"] for g in doc["groups"]] == [f"asrwatch-slo-{s['name']}{suffix}" for s in demo["slos"]
                                                 for suffix in ("", "-period")]
    assert all('tenant=~"acme\\\\-bank|' in r["expr"] for g in doc["groups"] if not g["name"].endswith("-period")
               for r in g["rules"] if r.get("record", "").startswith("slo:sli_error"))
    (tmp_path / "rules.yaml").write_text(result.stdout)
    check = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_metric_dimensions_are_what_the_slos_use():
    class Settings:
        slos = [{"name": "a", "sli": "availability", "objective": 0.99, "filters": {"tenant": ["x", "y"]},
                 "group_by": ["model_version", "pool"]},
                {"name": "b", "sli": "availability", "objective": 0.99, "filters": {"channel": "web"}}]

    dims, pinned = metric_dimensions(Settings())
    assert dims == ["tenant", "pool"]  # model_version and channel are labels anyway
    assert pinned == {"tenant": {"x", "y"}, "channel": {"web"}}
