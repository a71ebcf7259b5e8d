"""The min_bad_events guard: start-up noise on a thin slice files no ticket; a real burn still pages."""

from datetime import datetime, timedelta, timezone

import numpy as np

from prerequisites import need_program
from slo.alerting import conditions, policy
from slo.prometheus_rules import rules_for
from slo.series import SLISeries
from slo.spec import SLOSpec

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
