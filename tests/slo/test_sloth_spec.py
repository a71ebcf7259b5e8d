"""Sloth users' spec forms (issue #16): objective in percent, labels and annotations, alert names
per tier, a disabled tier, Sloth's alert labels for a spec that names its service; the in-process
engine's alerts carry them as the exported rules do; every SLO of the bundled demo config exports;
`asrwatch slo rules` warns about groups on a dimension /metrics folds."""

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
from slo.spec import SLOSpecError, metrics_needs, parse_slos

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


def test_metrics_needs_are_what_the_slos_use():
    needs = metrics_needs(parse_slos([
        {"name": "a", "sli": "availability", "objective": 0.99, "filters": {"tenant": ["x", "y"]},
         "group_by": ["model_version", "pool"]},
        {"name": "b", "sli": "availability", "objective": 0.99, "filters": {"channel": "web"}},
        {"name": "c", "sli": "latency", "threshold_ms": 1500, "objective": 0.99},
        {"name": "d", "sli": "queue_latency", "threshold_ms": 300, "objective": 0.99},
        {"name": "e", "sli": "quality", "max_wer": 0.12, "objective": 0.9}]))
    assert needs.dimensions == ["tenant", "pool"]  # model_version and channel are labels anyway
    assert needs.pinned == {"tenant": {"x", "y"}, "channel": {"web"}}
    assert needs.latency_thresholds == {"latency": [1500.0], "first_partial_latency": [], "queue_latency": [300.0]}
    assert needs.max_wers == [0.12]


SLOTH_LABELS = {"sloth_id": "speech-api-avail", "sloth_service": "speech-api", "sloth_slo": "avail"}


@pytest.mark.parametrize("bad, burning, severity", [(50, 60, "page"), (5, 1440, "ticket")])
def test_a_spec_naming_its_service_alerts_with_sloths_labels_in_both_engines(bad, burning, severity):
    # Sloth's alerts inherit sloth_id/sloth_service/sloth_slo from its recordings and add
    # sloth_severity page|ticket (slok/sloth internal/prometheus/alert_rules.go,
    # defaultSLOAlertGenerator; the severity strings from its plugin tests, "page" and "ticket").
    spec = parse_slos([{**SPEC, "service": "speech-api"}])[0]
    statuses = evaluate_slo(spec, _burning_series(bad, burning), AT, min_events=10)
    (alert,) = [a for s in statuses for a in s.alerts]
    assert {k: v for k, v in alert.labels.items() if k.startswith("sloth_")} == {**SLOTH_LABELS,
                                                                                "sloth_severity": severity}
    rule = next(r for g in rules_for(spec, min_events=10) for r in g["rules"]
                if "alert" in r and r["labels"]["severity"] == severity)
    assert {**rule["labels"], "alertname": rule["alert"], "region": "eu"} == alert.labels


def test_a_spec_without_service_keeps_its_alert_labels():
    spec = parse_slos([SPEC])[0]
    assert not spec.sloth_style
    assert not any(k.startswith("sloth_") for sev in ("page", "ticket") for k in spec.alert_labels(sev))
    # The recordings carry the identity either way (for Sloth's dashboards).
    assert rules_for(spec, min_events=10)[0]["rules"][0]["labels"]["sloth_id"] == "asrwatch-avail"
    # A spec setting Sloth's alert labels itself is still refused: they are asrwatch's to set.
    with pytest.raises(SLOSpecError, match="'sloth_severity' is set by asrwatch"):
        parse_slos([{**SPEC, "service": "x", "alerting": {"labels": {"sloth_severity": "critical"}}}])


def test_rules_warn_about_groups_on_a_folded_dimension(tmp_path):
    config = tmp_path / "asrwatch.yaml"
    config.write_text(yaml.safe_dump({"metrics_label_values_max": 50, "slos": [
        {"name": "per-tenant", "sli": "availability", "objective": 99, "group_by": ["region", "tenant"]},
        {"name": "per-region", "sli": "availability", "objective": 99, "group_by": ["region", "model_version"]}]}))
    result = CliRunner().invoke(app, ["slo", "rules", "--config", str(config)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "'per-tenant' groups by tenant" in warnings[0]
    assert "at most 50 values" in warnings[0] and "__other__" in warnings[0]
    assert yaml.safe_load(result.stdout)["groups"]  # the rules are still written
