"""SLO spec validation, OpenSLO import and the `asrwatch slo` commands."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
import yaml
from prerequisites import need_program
from typer.testing import CliRunner

from asrwatch.cli import app
from slo.openslo import import_openslo
from slo.spec import SLOSpecError, metrics_needs, parse_duration, parse_slos

DESIGN_SLOS = [
    {"name": "final-latency", "sli": "latency", "threshold_ms": 2000, "objective": 0.99, "window": "30d",
     "filters": {"channel": "telephony"}, "group_by": ["region", "model_version"]},
    {"name": "transcript-quality", "sli": "quality", "max_wer": 0.15, "objective": 0.95},
]


def test_design_example_parses():
    lat, qual = parse_slos(DESIGN_SLOS)
    assert lat.window == timedelta(days=30) and lat.group_by == ("region", "model_version")
    assert qual.window == timedelta(days=30) and qual.max_wer == 0.15


@pytest.mark.parametrize("raw, needles", [
    ({"sli": "latncy", "threshold_ms": 5}, ["'bad'", "sli", "unknown SLI 'latncy'"]),
    ({"sli": "availability", "objective": 1.0}, ["'bad'", "objective", "between 0 and 1"]),
    ({"sli": "availability", "objective": 0}, ["'bad'", "objective"]),
    ({"sli": "availability", "window": "30 days"}, ["'bad'", "window", "cannot parse duration"]),
    ({"sli": "availability", "window": "-5d"}, ["'bad'", "window"]),
    ({"sli": "latency"}, ["'bad'", "threshold_ms", "required"]),
    ({"sli": "quality", "max_wer": -1}, ["'bad'", "max_wer"]),
    ({"sli": "availability", "threshold_ms": 10}, ["'bad'", "threshold_ms", "only latency"]),
    ({"sli": "availability", "filters": {"colour": "red"}}, ["'bad'", "filters", "unknown dimension 'colour'"]),
    ({"sli": "availability", "group_by": ["region", "nope"]}, ["'bad'", "group_by", "'nope'"]),
    ({"sli": "availability", "objectve": 0.9}, ["'bad'", "objectve"]),
])
def test_bad_specs_name_the_slo_and_field(raw, needles):
    with pytest.raises(SLOSpecError) as err:
        parse_slos([{"name": "bad", "objective": 0.99, **raw}])
    for needle in needles:
        assert needle in str(err.value)


def test_every_bad_spec_is_reported_and_names_are_unique():
    with pytest.raises(SLOSpecError) as err:
        parse_slos([{"name": "a", "sli": "nope", "objective": 0.9},
                     # Issue #16: 2 would be Sloth's 2 percent now; 100 leaves no error budget.
                     {"name": "b", "sli": "availability", "objective": 100},
                     {"name": "c", "sli": "availability", "objective": 0.9},
                     {"name": "c", "sli": "availability", "objective": 0.9}])
    text = str(err.value)
    assert "'a'" in text and "'b'" in text and "'c': name: used by more than one SLO" in text


def test_durations():
    assert parse_duration("5m") == timedelta(minutes=5)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("28d") == timedelta(days=28)
    assert parse_duration("2w") == timedelta(days=14)
    assert parse_duration(90) == timedelta(seconds=90)  # a YAML number is seconds
    for bad in ("", "5", "5x", "d", "1.5.5h", "0m"):  # a unitless string is ambiguous
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_thresholds_for_the_metrics_histograms():
    # Parsed specs only: the collector refuses to start on a bad one (`asrwatch.server`).
    needs = metrics_needs(parse_slos(DESIGN_SLOS + [
        {"name": "fp", "sli": "first_partial_latency", "threshold_ms": 300, "objective": 0.9}]))
    assert needs.latency_thresholds == {"latency": [2000.0], "first_partial_latency": [300.0], "queue_latency": []}
    assert needs.max_wers == [0.15]


OPENSLO = """
apiVersion: openslo/v1
kind: SLI
metadata: {name: telephony-latency}
spec:
  ratioMetric:
    counter: true
    good: {metricSource: {type: asrwatch, spec: {sli: latency, threshold_ms: 1500}}}
    total: {metricSource: {type: asrwatch, spec: {sli: latency, filters: {channel: telephony}, group_by: [region]}}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: tel-latency}
spec:
  service: asr
  indicatorRef: telephony-latency
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{displayName: strict, target: 0.995}, {displayName: loose, targetPercent: 99}]
"""


def test_openslo_ratio_import():
    strict, loose = import_openslo(OPENSLO)
    assert (strict.name, strict.sli, strict.threshold_ms, strict.objective) == ("tel-latency-strict", "latency", 1500, 0.995)
    assert loose.objective == pytest.approx(0.99)
    assert strict.window == timedelta(days=28) and strict.filters == {"channel": "telephony"}
    assert strict.group_by == ("region",)


@pytest.mark.parametrize("change, needle", [
    (("Occurrences", "Timeslices"), "budgetingMethod"),
    (("type: asrwatch, spec: {sli: latency, threshold_ms", "type: Prometheus, spec: {sli: latency, threshold_ms"),
     "metricSource.type"),
    (("indicatorRef: telephony-latency", "indicatorRef: missing"), "indicatorRef"),
    (("target: 0.995", "target: 1.5"), "objective"),
])
def test_openslo_errors_name_the_field(change, needle):
    with pytest.raises(SLOSpecError) as err:
        import_openslo(OPENSLO.replace(*change))
    assert needle in str(err.value) and "tel-latency" in str(err.value)


def _config(tmp_path, slos):
    path = tmp_path / "asrwatch.yaml"
    path.write_text(yaml.safe_dump({"slos": slos}))
    return path


def test_cli_validate(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["slo", "validate", "--config", str(_config(tmp_path, DESIGN_SLOS))])
    assert ok.exit_code == 0, ok.output
    assert "2 SLO(s) valid" in ok.output and "page 1h&5m>14.4x" in ok.output
    bad = runner.invoke(app, ["slo", "validate", "--config",
                              str(_config(tmp_path, [{"name": "x", "sli": "availability", "objective": 150}]))])
    assert bad.exit_code == 1
    assert "'x'" in bad.output and "objective" in bad.output


def test_cli_rules_pass_promtool_check(tmp_path):
    promtool = need_program("promtool")
    slos = DESIGN_SLOS + [{"name": "per-tenant", "sli": "availability", "objective": 0.99, "group_by": ["tenant"]}]
    result = CliRunner().invoke(app, ["slo", "rules", "--config", str(_config(tmp_path, slos))])
    assert result.exit_code == 0
    rules_text = result.stdout
    (tmp_path / "rules.yaml").write_text(rules_text)
    check = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    doc = yaml.safe_load(rules_text)
    names = [g["name"] for g in doc["groups"]]
    # Issue #16: /metrics labels the dimensions SLOs use, so the per-tenant SLO is exported too.
    assert names == ["asrwatch-slo-final-latency", "asrwatch-slo-final-latency-period",
                     "asrwatch-slo-transcript-quality", "asrwatch-slo-transcript-quality-period",
                     "asrwatch-slo-per-tenant", "asrwatch-slo-per-tenant-period"]
    assert "skipped" not in result.stderr
    assert any("sum by (tenant)" in r["expr"] for r in doc["groups"][4]["rules"] if "record" in r)
    exprs = [r["expr"] for g in doc["groups"] for r in g["rules"]]
    # Event-weighted: a ratio of event counts over the window, never an average of 5m ratios; the
    # 30d period sums recorded 5m increases of bad and total events (issue #16).
    assert not any("avg_over_time" in e or "count_over_time" in e for e in exprs)
    assert all("sum_over_time(slo:period_" in e for e in exprs if "sum_over_time" in e)
    assert any('le="2000.0"' in e and 'channel="telephony"' in e for e in exprs)
    assert any('asrwatch_utterance_wer_bucket{le="0.15"}' in e for e in exprs)


def test_cli_import_openslo(tmp_path):
    path = tmp_path / "slo.yaml"
    path.write_text(OPENSLO)
    result = CliRunner().invoke(app, ["slo", "import-openslo", str(path)])
    assert result.exit_code == 0, result.output
    specs = parse_slos(yaml.safe_load(result.stdout)["slos"])
    assert [s.name for s in specs] == ["tel-latency-strict", "tel-latency-loose"]
