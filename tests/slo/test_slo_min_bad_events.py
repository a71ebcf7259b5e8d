"""The min_bad_events guard: start-up noise on a thin slice files no ticket; a real burn still pages.
Checked in the in-process engine and, on the exported rules, in Prometheus (`promtool test rules`)."""

from datetime import datetime, timedelta, timezone

import numpy as np
from prerequisites import need_program
from promtool_unit import promtool_test

from slo.alerting import conditions, policy
from slo.prometheus_rules import rules_for, to_yaml
from slo.series import SLISeries
from slo.spec import SLOSpec, render_annotation

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
OBJECTIVE = 0.99


def series(bad_per_minute, total_per_minute, minutes):
    total = np.full((1, minutes), total_per_minute, dtype=np.int64)
    good = total - np.full((1, minutes), bad_per_minute, dtype=np.int64)
    return SLISeries(START, ("channel",), (("far_field",),), good, total)


def fire(s, min_bad_events):
    cond = conditions(s, np.array([s.minutes]), policy(timedelta(days=30)), OBJECTIVE, 10,
                      min_bad_events=min_bad_events)
    return bool(cond.page[0, 0]), bool(cond.ticket[0, 0])


def test_tier_minimum_scales_with_threshold():
    page_fast, page_slow, ticket_fast, ticket_slow = policy(timedelta(days=30))
    assert ticket_slow.min_events(OBJECTIVE, 10, 5) == 500   # 1x of a 1% budget: 5 bad need 500 events
    assert ticket_fast.min_events(OBJECTIVE, 10, 5) == 167   # 3x
    assert page_fast.min_events(OBJECTIVE, 10, 5) == 35      # 14.4x
    assert page_fast.min_events(OBJECTIVE, 50, 5) == 50      # never below min_events
    assert ticket_slow.min_events(OBJECTIVE, 10, 0) == 10    # off by default


def test_two_unlucky_sessions_at_start_up_file_a_ticket_only_without_the_guard():
    # 12 minutes of a thin slice, 10 sessions a minute, 2 failures in all: 1.7% errors = 1.7x.
    s = series(0, 10, 12)
    s.good[0, 3] -= 1
    s.good[0, 9] -= 1
    s = SLISeries(s.start, s.group_by, s.groups, s.good, s.total)
    assert fire(s, 0) == (False, True)
    assert fire(s, 5) == (False, False)


def test_a_real_fast_burn_still_pages_with_the_guard():
    s = series(2, 10, 60)  # 20% errors for an hour: 20x
    assert fire(s, 5) == (True, False)


def test_a_few_bad_synthetic_sessions_file_no_low_traffic_ticket():
    # Four probe sessions in an hour, all bad: a 100x burn on too little traffic to page.
    s = series(0, 0, 60)
    for minute in (10, 25, 40, 55):
        s.total[0, minute] = 1
    s = SLISeries(s.start, s.group_by, s.groups, s.good, s.total)
    assert fire(s, 0) == (False, True)   # without the guard: a low-traffic ticket
    assert fire(s, 5) == (False, False)  # with it: four bad events are not enough to say anything


def test_exported_rules_carry_the_same_per_tier_minimum():
    spec = SLOSpec.model_validate({"name": "avail", "sli": "availability", "objective": OBJECTIVE, "window": "30d"})
    text = str(rules_for(spec, min_events=10, min_bad_events=5))
    assert ">= 500)" in text and ">= 35 " not in text and ">= 35)" in text
    assert "< 35 and slo:sli_error:ratio_rate1h" in text and "> 4.5)" in text  # low-traffic ticket needs 5 bad


def test_promtool_accepts_the_guarded_rules(tmp_path):
    import subprocess

    from slo.prometheus_rules import to_yaml

    promtool = need_program("promtool")
    spec = SLOSpec.model_validate({"name": "avail", "sli": "availability", "objective": OBJECTIVE, "window": "30d",
                                   "group_by": ["region"]})
    path = tmp_path / "rules.yaml"
    path.write_text(to_yaml({"groups": rules_for(spec, min_events=10, min_bad_events=5)}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# Promtool: one hour of traffic per region, evaluated at minute 60 (a sample at minute k holds
# the events of the minutes before it, from 0 at minute 0). Thin slices whose few bad events all
# fall in the last 5 minutes: both windows of the fast page tier (1h and 5m, 14.4x = 14.4%) are
# over the threshold, so the guard alone decides.
#   region: (good events in minutes 0..49, bad events in minute 57)
GUARD_SCENARIO = {
    "below": (16, 4),  # 4 bad of 20 (20%): under 5 bad, nothing may fire with the guard
    "at": (15, 5),     # 5 bad of 20 (25%): too few events to page (35 with the guard), a ticket
    "burn": (34, 6),   # 6 bad of 40 (15%): enough events (>= 35), a page
}
GUARD_EXPECTED = {5: {"at": "ticket", "burn": "page"},  # min_bad_events 5
                  0: {"below": "page", "at": "page", "burn": "page"}}  # no guard: 10 events suffice
EVAL_MINUTE = 60


def _guard_counts(good: int, bad: int) -> tuple[np.ndarray, np.ndarray]:
    total = np.zeros(EVAL_MINUTE, dtype=np.int64)
    bad_per_minute = np.zeros(EVAL_MINUTE, dtype=np.int64)
    total[np.arange(good) % 50] += 1
    total[57] += bad
    bad_per_minute[57] = bad
    return total, bad_per_minute


def _cumulative(per_minute: np.ndarray) -> str:
    return " ".join(str(int(v)) for v in np.concatenate([[0], np.cumsum(per_minute)]))


def _engine_alerts(spec: SLOSpec, min_bad_events: float) -> dict[str, str]:
    """region -> severity the in-process engine fires at EVAL_MINUTE."""
    regions = sorted(GUARD_SCENARIO)
    counts = [_guard_counts(*GUARD_SCENARIO[r]) for r in regions]
    total = np.stack([t for t, _ in counts])
    s = SLISeries(START, ("region",), tuple((r,) for r in regions), total - np.stack([b for _, b in counts]), total)
    cond = conditions(s, np.array([EVAL_MINUTE]), policy(spec.window), spec.objective, 10,
                      min_bad_events=min_bad_events)
    out = {}
    for g, region in enumerate(regions):
        assert not (cond.page[g, 0] and cond.ticket[g, 0]), "a page suppresses the ticket"
        if cond.page[g, 0] or cond.ticket[g, 0]:
            out[region] = "page" if cond.page[g, 0] else "ticket"
    return out


def test_prometheus_applies_the_guard_below_at_and_above_it(tmp_path):
    """The exported rules, run by Prometheus' rule engine: below the guard's bad events nothing
    fires, at it the low-traffic ticket does, with enough events the page does; without the
    guard the same thin slices page. The in-process engine fires the same."""
    promtool = need_program("promtool")  # Debian package prometheus
    spec = SLOSpec.model_validate({"name": "avail", "sli": "availability", "objective": OBJECTIVE, "window": "30d",
                                   "group_by": ["region"]})
    input_series = []
    for region, (good, bad) in sorted(GUARD_SCENARIO.items()):
        total, bad_per_minute = _guard_counts(good, bad)
        for status, per_minute in (("ok", total - bad_per_minute), ("timeout", bad_per_minute)):
            input_series.append({"series": f'asrwatch_sessions_total{{region="{region}",status="{status}"}}',
                                 "values": _cumulative(per_minute)})
    for min_bad_events, expected in GUARD_EXPECTED.items():
        assert _engine_alerts(spec, min_bad_events) == expected, min_bad_events
        groups = rules_for(spec, min_events=10, min_bad_events=min_bad_events)
        folder = tmp_path / f"guard-{min_bad_events:g}"
        folder.mkdir()
        (folder / "rules.yaml").write_text(to_yaml({"groups": groups}))
        alerts = {r["labels"]["severity"]: r for g in groups for r in g["rules"] if "alert" in r}
        # Both tiers' rules carry one alert name: promtool checks every alert of a name at once.
        exp: dict[str, list] = {rule["alert"]: [] for rule in alerts.values()}
        for region, severity in sorted(expected.items()):
            rule = alerts[severity]
            labels = {**rule["labels"], "region": region}
            exp[rule["alert"]].append({"exp_labels": labels, "exp_annotations": {
                k: render_annotation(v, labels) for k, v in rule["annotations"].items()}})
        tests = [{"eval_time": f"{EVAL_MINUTE}m", "alertname": name, "exp_alerts": want} for name, want in exp.items()]
        promtool_test(promtool, folder, input_series, alert_tests=tests, context=f"min_bad_events={min_bad_events}:\n")
