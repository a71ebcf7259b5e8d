"""Worked examples of the Workbook policy, budget and exhaustion numbers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from slo.alerting import policy
from slo.burn_rate import time_to_exhaustion
from slo.evaluation import evaluate_slo
from slo.series import SLISeries
from slo.spec import parse_slo

AT = datetime(2026, 5, 4, 12, 0, 30, tzinfo=timezone.utc)


def series_for(total: np.ndarray, bad: np.ndarray, at: datetime = AT) -> SLISeries:
    """One group ('eu'); the last array element is the minute just before floor(at)."""
    start = at.replace(second=0, microsecond=0) - timedelta(minutes=len(total))
    return SLISeries(start, ("region",), (("eu",),), (total - bad)[None, :], total[None, :])


def spec(objective=0.999, window="30d", **extra):
    return parse_slo({"name": "avail", "sli": "availability", "objective": objective, "window": window,
                      "group_by": ["region"], **extra})


def test_workbook_fast_burn_pages_at_14_4x_and_not_below():
    minutes = 4 * 1440
    total = np.full(minutes, 1000)
    for bad_in_last_hour, expected in ((15, ["page"]), (14, [])):  # 1.5% = 15x, 1.4% = 14x
        bad = np.zeros(minutes, dtype=np.int64)
        bad[-60:] = bad_in_last_hour
        (status,) = evaluate_slo(spec(), series_for(total, bad), AT, min_events=10)
        assert [a.severity for a in status.alerts] == expected
        assert status.burn_rates["1h"] == pytest.approx(bad_in_last_hour)
        assert status.burn_rates["5m"] == pytest.approx(bad_in_last_hour)
        assert status.burn_rates["6h"] == pytest.approx(bad_in_last_hour / 6)
    # The page started when both the 1h and 5m windows first exceeded 14.4x: here at the
    # 58th minute of the incident (58 x 15 / 60 = 14.5 > 14.4, 57 x 15 / 60 = 14.25).
    bad = np.zeros(minutes, dtype=np.int64)
    bad[-60:] = 15
    (status,) = evaluate_slo(spec(), series_for(total, bad), AT, min_events=10)
    page = status.alerts[0]
    assert page.starts_at == AT.replace(second=0) - timedelta(minutes=60 - 58)
    assert "15.0x over 1h" in page.summary and "15.0x over 5m" in page.summary
    assert page.runbook_url == "/runbooks/slo-burn-availability"


def test_budget_remaining_is_event_weighted_and_exhaustion_follows_the_1h_burn():
    minutes = 30 * 1440
    # Quiet nights with many errors weigh by their events, not by their 5-minute ratios.
    total = np.where(np.arange(minutes) % 1440 < 480, 10, 1000)
    bad = np.where(np.arange(minutes) % 1440 < 480, 2, 1)  # 20% errors at night, 0.1% by day
    (status,) = evaluate_slo(spec(objective=0.99), series_for(total, bad), AT, min_events=10)
    events = int(total.sum())
    expected = 1 - (int(bad.sum()) / events) / 0.01
    assert status.events == events
    assert status.error_budget_remaining == pytest.approx(expected)
    assert status.error_budget_remaining > 0.5  # a mean of per-minute ratios would say budget is gone
    burn = status.burn_rates["1h"]
    assert burn == pytest.approx(0.1)  # the last hour is daytime: 0.1% / 1%
    tte = time_to_exhaustion(status.error_budget_remaining, burn, timedelta(days=30))
    assert tte == timedelta(days=30 * status.error_budget_remaining / 0.1)
    assert status.time_to_exhaustion_s == pytest.approx(tte.total_seconds())


def test_time_to_exhaustion_examples():
    assert time_to_exhaustion(0.5, 2.0, timedelta(days=30)) == timedelta(days=7.5)
    assert time_to_exhaustion(0.5, 0.0, timedelta(days=30)) is None
    assert time_to_exhaustion(-0.1, 5.0, timedelta(days=30)) == timedelta(0)


def test_page_suppresses_the_ticket_of_the_same_slo_and_group():
    minutes = 4 * 1440
    total = np.full(minutes, 100)
    bad = np.zeros(minutes, dtype=np.int64)
    bad[-1440:] = 5  # 5% for a day: 50x on every window, so every tier holds
    (status,) = evaluate_slo(spec(), series_for(total, bad), AT, min_events=10)
    assert [a.severity for a in status.alerts] == ["page"]
    bad[-1440:-120] = 5
    bad[-120:] = 0  # the fire is out for 2h: the page stops, the 3d & 6h ticket shows through
    (status,) = evaluate_slo(spec(), series_for(total, bad), AT, min_events=10)
    assert [a.severity for a in status.alerts] == ["ticket"]
    # The ticket shows once the page ends: the 30m window falls to 5x (< 6x) when it holds only
    # 3 bad minutes, at 10:27 (the fire went out at 10:00).
    assert status.alerts[0].starts_at == datetime(2026, 5, 4, 10, 27, tzinfo=timezone.utc)


def test_one_failure_in_a_quiet_hour_does_not_page_but_says_traffic_was_low():
    minutes = 4 * 1440
    total = np.zeros(minutes, dtype=np.int64)
    total[-60:] = np.tile([1, 0, 0], 20)  # 20 sessions in the hour
    bad = np.zeros(minutes, dtype=np.int64)
    bad[-3] = 1
    (status,) = evaluate_slo(spec(), series_for(total, bad), AT, min_events=50)
    assert [a.severity for a in status.alerts] == ["ticket"]
    ticket = status.alerts[0]
    assert ticket.annotations["low_traffic"] == "true"
    assert "LOW TRAFFIC: only 20 events in 1h (minimum 50)" in ticket.summary
    # With enough traffic the same burn pages.
    (status,) = evaluate_slo(spec(), series_for(total, bad), AT, min_events=10)
    assert [a.severity for a in status.alerts] == ["page"]
    assert "low_traffic" not in status.alerts[0].annotations


def test_windows_scale_with_the_slo_window():
    as_tuples = lambda w: [(t.severity, t.long_minutes, t.short_minutes, t.factor) for t in policy(w)]  # noqa: E731
    assert as_tuples(timedelta(days=30)) == [("page", 60, 5, 14.4), ("page", 360, 30, 6.0),
                                             ("ticket", 1440, 120, 3.0), ("ticket", 4320, 360, 1.0)]
    assert as_tuples(timedelta(days=28)) == [("page", 56, 5, 14.4), ("page", 336, 28, 6.0),
                                             ("ticket", 1344, 112, 3.0), ("ticket", 4032, 336, 1.0)]
    assert as_tuples(timedelta(days=7)) == [("page", 14, 1, 14.4), ("page", 84, 7, 6.0),
                                            ("ticket", 336, 28, 3.0), ("ticket", 1008, 84, 1.0)]


def test_at_is_pure_later_data_does_not_change_the_past():
    minutes = 4 * 1440
    total = np.full(minutes, 100)
    bad = np.zeros(minutes, dtype=np.int64)
    bad[-30:] = 40
    past = AT - timedelta(minutes=20)
    before = evaluate_slo(spec(), series_for(total, bad), past, min_events=10)[0].to_dict()
    again = evaluate_slo(spec(), series_for(total, bad), past, min_events=10)[0].to_dict()
    assert before == again
    later_bad = bad.copy()
    later_bad[-19:] = 100  # events after `past` (including its own partial minute)
    changed_future = evaluate_slo(spec(), series_for(total, later_bad), past, min_events=10)[0].to_dict()
    assert changed_future == before
