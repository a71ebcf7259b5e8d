"""Differential test: the exported Prometheus rules, run by `promtool test rules` on counter
series built from a scenario, fire the same alerts at the same evaluation times (every minute)
as the in-process engine on the same per-minute counts."""

from __future__ import annotations

import re
import sys
from pathlib import Path
import subprocess
from datetime import timedelta

import numpy as np
import yaml

from slo.alerting import conditions, policy
from slo.evaluation import ALERT_NAME, evaluate_slo
from slo.prometheus_rules import export_rules, to_yaml
from slo.series import MINUTE
from slo.spec import parse_slos
from slo_dense_reference import build_series
sys.path.insert(0, str(Path(__file__).parent))
from prerequisites import need_program
from slo_scenarios import EPOCH, incident_counts, rollup_rows

MINUTES = 320
MIN_EVENTS = 30

SPECS = parse_slos([
    {"name": "avail", "sli": "availability", "objective": 0.99, "window": "1d",
     "filters": {"channel": "web"}, "group_by": ["region"], "min_events": MIN_EVENTS},
    {"name": "lat", "sli": "latency", "threshold_ms": 2000, "objective": 0.995, "window": "30d",
     "filters": {"channel": "telephony"}, "group_by": ["model_version"], "min_events": MIN_EVENTS},
    {"name": "dec", "sli": "decode_errors", "objective": 0.995, "window": "3d",
     "filters": {"channel": "mobile"}, "min_events": MIN_EVENTS},
    {"name": "qual", "sli": "quality", "max_wer": 0.15, "objective": 0.95, "window": "7d",
     "filters": {"channel": "far_field"}, "group_by": ["region"], "min_events": MIN_EVENTS},
    {"name": "ent", "sli": "entity_recall", "objective": 0.95, "window": "7d",
     "filters": {"channel": "car"}, "group_by": ["region"], "min_events": MIN_EVENTS},
    {"name": "hal", "sli": "hallucination", "objective": 0.99, "window": "30d",
     "filters": {"channel": "kiosk-mic"}, "group_by": ["model_version"], "min_events": MIN_EVENTS},
    {"name": "diar", "sli": "diarization", "max_der": 0.2, "objective": 0.95, "window": "7d",
     "filters": {"channel": "conference"}, "group_by": ["region"], "min_events": MIN_EVENTS},
    {"name": "cache", "sli": "cache_hit", "objective": 0.9, "window": "7d",
     "filters": {"channel": "ivr"}, "group_by": ["region"], "min_events": MIN_EVENTS},
    {"name": "fallback", "sli": "fallback", "objective": 0.99, "window": "1d",
     "filters": {"channel": "dictation"}, "group_by": ["model_version"], "min_events": MIN_EVENTS},
    # A configured dimension (`dimensions: [accent]`): a label like any other in the rules.
    {"name": "by-accent", "sli": "availability", "objective": 0.99, "window": "1d",
     "filters": {"channel": "kiosk"}, "group_by": ["accent"], "min_events": MIN_EVENTS},
], dimensions=["accent"])


def _cum(values: np.ndarray) -> str:
    # Sample at minute k = events of the minutes before k (counter scraped at the boundary).
    return " ".join(str(int(v)) for v in np.concatenate([[0], np.cumsum(values)]))


def _series(name: str, labels: dict[str, str], per_minute: np.ndarray) -> dict[str, str]:
    text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{name}{{{text}}}", "values": _cum(per_minute)}


def scenario():
    """spec name -> (rollup rows, group dimension, per-group counts), plus the input series."""
    data, series = {}, []
    base = {"model_version": "m1", "region": "r1"}
    for spec, dim, groups, channel, seed in (
        (SPECS[0], "region", ["eu", "us", "ap"], "web", 1),
        (SPECS[1], "model_version", ["v1", "v2", "v3"], "telephony", 2),
        (SPECS[2], "region", ["eu"], "mobile", 3),
        (SPECS[3], "region", ["eu", "us", "ap"], "far_field", 4),
        (SPECS[4], "region", ["eu", "us"], "car", 5),
        (SPECS[5], "model_version", ["v1", "v2"], "kiosk-mic", 6),
        (SPECS[6], "region", ["eu", "us"], "conference", 7),
        (SPECS[7], "region", ["eu", "us"], "ivr", 8),
        (SPECS[8], "model_version", ["v1", "v2"], "dictation", 9),
        (SPECS[9], "accent", ["scottish", "welsh"], "kiosk", 10),
    ):
        counts = incident_counts(MINUTES, groups, seed)
        rows = rollup_rows(counts, dim, spec.sli, extra={"channel": channel})
        data[spec.name] = rows
        for group, (total, bad) in counts.items():
            labels = {**base, "channel": channel, dim: group}
            if spec.sli == "availability":
                series.append(_series("asrwatch_sessions_total", {**labels, "status": "ok"}, total - bad))
                series.append(_series("asrwatch_sessions_total", {**labels, "status": "timeout"}, bad))
            elif spec.sli == "decode_errors":
                series.append(_series("asrwatch_sessions_total", {**labels, "status": "ok"}, total - bad // 2))
                series.append(_series("asrwatch_sessions_total", {**labels, "status": "decode_error"}, bad // 2))
                series.append(_series("asrwatch_empty_hypotheses_total", labels, bad - bad // 2))
            elif spec.sli == "latency":
                series.append(_series("asrwatch_final_latency_ms_bucket", {**labels, "le": "2000.0"}, total - bad))
                series.append(_series("asrwatch_final_latency_ms_bucket", {**labels, "le": "+Inf"}, total))
                series.append(_series("asrwatch_final_latency_ms_count", labels, total))
            elif spec.sli == "hallucination":
                series.append(_series("asrwatch_hallucination_checked_total", labels, total))
                series.append(_series("asrwatch_hallucination_flagged_total", labels, bad))
            elif spec.sli == "cache_hit":
                series.append(_series("asrwatch_cache_lookups_total", labels, total))
                series.append(_series("asrwatch_cache_hits_total", labels, total - bad))
            elif spec.sli == "fallback":
                series.append(_series("asrwatch_backend_sessions_total", labels, total))
                series.append(_series("asrwatch_fallback_sessions_total", labels, bad))
            elif spec.sli == "diarization":
                series.append(_series("asrwatch_session_der_bucket", {**labels, "le": "0.2"}, total - bad))
                series.append(_series("asrwatch_session_der_count", labels, total))
            elif spec.sli == "entity_recall":
                series.append(_series("asrwatch_entity_occurrences_total", labels, total))
                series.append(_series("asrwatch_entities_found_total", labels, total - bad))
            else:
                series.append(_series("asrwatch_utterance_wer_bucket", {**labels, "le": "0.15"}, total - bad))
                series.append(_series("asrwatch_utterance_wer_count", labels, total))
    # Traffic outside every SLO's filters, all bad: must change nothing.
    noise = np.full(MINUTES, 50)
    series.append(_series("asrwatch_sessions_total", {**base, "channel": "lobby", "status": "timeout"}, noise))
    series.append(_series("asrwatch_final_latency_ms_count", {**base, "channel": "web"}, noise))
    return data, series


def engine_firing(data, low_traffic: list | None = None) -> dict[int, set[tuple]]:
    """minute -> {(slo, severity, group label items)} firing per the in-process engine;
    appends the number of low-traffic tickets per SLO to `low_traffic`."""
    firing: dict[int, set[tuple]] = {k: set() for k in range(MINUTES + 1)}
    ends = np.arange(MINUTES + 1)
    for spec in SPECS:
        series = build_series(spec, data[spec.name], EPOCH, EPOCH + MINUTES * MINUTE)
        cond = conditions(series, ends, policy(spec.window), spec.objective, MIN_EVENTS)
        if low_traffic is not None:
            low_traffic.append(int(cond.low_traffic_ticket.sum()))
        for severity, matrix in (("page", cond.page), ("ticket", cond.ticket)):
            for g, k in zip(*np.nonzero(matrix)):
                firing[int(k)].add((spec.name, severity, tuple(series.group_labels(int(g)).items())))
    return firing


def _render(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)


def test_promtool_fires_the_same_alerts_at_the_same_minutes(tmp_path):
    promtool = need_program("promtool")  # Debian package prometheus
    data, input_series = scenario()
    low_traffic: list[int] = []
    firing = engine_firing(data, low_traffic)
    severities = {sev for alerts in firing.values() for (_, sev, _) in alerts}
    assert severities == {"page", "ticket"}, "the scenario must exercise both tiers"
    assert sum(low_traffic) > 0, "the scenario must exercise the low-traffic guard"
    assert len({k for k, v in firing.items() if v}) > 100
    # Alerts start and stop within the scenario, so firing times are compared, not just states.
    assert any(firing[k] != firing[k + 1] for k in range(MINUTES))

    rules, skipped = export_rules(SPECS)
    assert skipped == []
    (tmp_path / "rules.yaml").write_text(to_yaml(rules))
    alert_rules = {(r["labels"]["slo"], r["labels"]["severity"]): r
                   for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = []
    for k in range(MINUTES + 1):
        expected = []
        for name, severity, group in sorted(firing[k]):
            rule = alert_rules[(name, severity)]
            labels = {"slo": name, "severity": severity, **dict(group)}
            expected.append({
                "exp_labels": labels,
                "exp_annotations": {key: _render(v, labels) for key, v in rule["annotations"].items()},
            })
        tests.append({"eval_time": f"{k}m", "alertname": ALERT_NAME, "exp_alerts": expected})
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input_series, "alert_rule_test": tests}],
    }, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", "test.yaml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


def test_engine_status_matches_condition_matrix_and_starts_at():
    """evaluate_slo (what the API serves) agrees with the per-minute condition matrix,
    and an alert's starts_at is the first minute of its current firing run."""
    data, _ = scenario()
    firing = engine_firing(data)
    spec = SPECS[0]
    series = build_series(spec, data[spec.name], EPOCH, EPOCH + MINUTES * MINUTE)
    checked = 0
    for k in range(0, MINUTES + 1, 7):
        statuses = evaluate_slo(spec, series, EPOCH + k * MINUTE + timedelta(seconds=30), min_events=MIN_EVENTS)
        got = {(a.labels["slo"], a.severity, tuple((d, a.labels[d]) for d in spec.group_by))
               for s in statuses for a in s.alerts}
        assert got == {x for x in firing[k] if x[0] == spec.name}, k
        for s in statuses:
            for a in s.alerts:
                key = (spec.name, a.severity, tuple(s.labels.items()))
                start = int((a.starts_at - EPOCH) / MINUTE)
                assert all(key in firing[j] for j in range(start, k + 1))
                assert start == 0 or key not in firing[start - 1]
                assert a.runbook_url == "/runbooks/slo-burn-availability"
                assert "budget" in a.summary
                checked += 1
    assert checked > 20
