"""`collector.store.time_buckets`: steps and the points of a range (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from collector.store.time_buckets import bucket_starts, evaluation_times, parse_step

T = datetime(2026, 11, 3, 9, 7, tzinfo=timezone.utc)


def test_steps_are_whole_minutes_named_with_units():
    assert parse_step("5m") == timedelta(minutes=5)
    assert parse_step(" 2H ") == timedelta(hours=2)
    assert parse_step("1w") == timedelta(days=7)
    for bad in ("", "5", "0m", "30s", "1.5h", "5m10m", "-5m"):
        with pytest.raises(ValueError, match="^step:"):
            parse_step(bad)


def test_buckets_cover_the_range_aligned_to_the_step():
    starts = bucket_starts(T, T + timedelta(minutes=30), timedelta(minutes=10))
    # 09:07 lies in the bucket starting 09:00; the last bucket starts before 09:37.
    assert [s.strftime("%H:%M") for s in starts] == ["09:00", "09:10", "09:20", "09:30"]
    assert bucket_starts(T.replace(minute=0), T.replace(minute=20), timedelta(minutes=10))[-1].minute == 10


def test_evaluation_times_are_the_aligned_times_within_the_range_inclusive():
    times = evaluation_times(T, T + timedelta(minutes=33), timedelta(minutes=10))
    # The aligned times, then the range's end (the status "now" the tables show).
    assert [t.strftime("%H:%M") for t in times] == ["09:10", "09:20", "09:30", "09:40"]
    assert evaluation_times(T, T + timedelta(minutes=30), timedelta(minutes=10))[-2:] == [
        T.replace(minute=30), T + timedelta(minutes=30)]
    assert evaluation_times(T, T + timedelta(minutes=2), timedelta(hours=1)) == [T + timedelta(minutes=2)]


def test_too_many_points_name_step():
    with pytest.raises(ValueError, match=r"^step: 2881 points .*\(at most 2000\)"):
        evaluation_times(T.replace(minute=0), T.replace(minute=0) + timedelta(days=2), timedelta(minutes=1))
    assert len(bucket_starts(T, T + timedelta(days=2), timedelta(minutes=1), max_points=3000)) == 2880
