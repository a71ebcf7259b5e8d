"""The two-resolution series (`slo.tiered_series`) answers every count the dense per-minute
`SLISeries` does, with the same integers, so `evaluate_slo` gives exactly the same statuses and
alerts (starts_at included) from either; here on random in-memory counts, where hours are read
per hour and the minutes before the tail only through the minute source."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from slo_dense_reference import series_of

from collector.store.rollups import HOUR, hour_of
from slo.alerting import MAX_REPLAY_CHUNK, policy
from slo.evaluation import evaluate_slo, series_span
from slo.series import MINUTE, Counts
from slo.spec import parse_slo
from slo.tiered_series import TieredSeries, ceil_hour, tiered_series

AT = datetime(2026, 9, 30, 17, 41, 25, tzinfo=timezone.utc)


def _random_counts(rng: np.random.Generator, start: datetime, end: datetime, groups: int) -> Counts:
    """Sparse minutes with gaps, quiet groups, and a few groups in long incidents."""
    minutes = int((end - start) // MINUTE)
    n = minutes * groups // 6
    # Random sparse rows, plus group 0 in every minute (a chronic incident never has a quiet window).
    group = np.concatenate([rng.integers(0, groups, n), np.zeros(minutes, dtype=np.int64)])
    minute = np.concatenate([rng.integers(0, minutes, n), np.arange(minutes)])
    n += minutes
    total = rng.integers(1, 5, n)
    bad_rate = np.where(group % 5 == 0, 0.5, 0.005)
    lasted = rng.integers(60, 9 * 1440, groups)
    lasted[0] = minutes  # one chronic incident: its alert began weeks ago
    burning = (group % 5 == 0) & (minute > minutes - lasted[group])
    bad = rng.binomial(total, np.where(burning, bad_rate, 0.004))
    keys = [(f"r{g % 4}", f"v{g}") for g in range(groups)]
    return Counts(start, tuple(keys), group, minute, total - bad, total)


def _source(counts: Counts, reads: list):
    def minutes(since: datetime, until: datetime) -> list[Counts]:
        reads.append((since, until))
        return [counts.between(hour_of(since), ceil_hour(until))]  # whole hours, as the cache returns
    return minutes


def _hourly(counts: Counts, since: datetime, until: datetime) -> Counts:
    """Minute counts added up per hour, stamped at the hour's first minute (as rollups_hourly)."""
    part = counts.between(since, until)
    hour = part.minute // 60 * 60
    flat = part.group * (int((until - since) // HOUR) + 1) * 60 + hour
    keys, inverse = np.unique(flat, return_inverse=True)
    good = np.bincount(inverse, part.good).astype(np.int64)
    total = np.bincount(inverse, part.total).astype(np.int64)
    width = (int((until - since) // HOUR) + 1) * 60
    return Counts(since, part.groups, keys // width, keys % width, good, total)


def _both(spec, rng, groups=12):
    end = AT.replace(second=0)
    start = end - series_span(spec)
    counts = _random_counts(rng, start - 90 * MINUTE, end + 30 * MINUTE, groups)
    dense = series_of([counts], tuple(spec.group_by), start, end)
    tail_start = max(hour_of(end - timedelta(days=4)), start)
    hour_start, reads = ceil_hour(start), []
    hourly = [_hourly(counts, hour_start, tail_start)] if hour_start < tail_start else []
    tiered = tiered_series(tuple(spec.group_by), start, end, tail_start,
                           hourly, [counts.between(tail_start, end + HOUR)],
                           [counts.between(hour_of(start), hour_start)], _source(counts, reads))
    return dense, tiered, reads


@pytest.mark.parametrize("window", ["1d", "7d", "28d", "30d"])
def test_every_count_equals_the_dense_series(window):
    rng = np.random.default_rng(7)
    spec = parse_slo({"name": "lat", "sli": "latency", "threshold_ms": 900, "objective": 0.99, "window": window,
                      "group_by": ["region", "model_version"]})
    dense, tiered, reads = _both(spec, rng)
    assert tiered.groups == dense.groups and len(dense.groups) > 5
    assert tiered.minutes == dense.minutes and tiered.index_of(AT) == dense.index_of(AT)
    end = dense.index_of(AT)
    for w in (1, 5, 61, 1440, 4320, 7 * 1440 + 17, spec.window_minutes, end, end + 30):
        for e in (end, end - 1, end - 59, end - 3000, end - 9000, 0, 45):
            np.testing.assert_array_equal(np.stack(tiered.window_counts(e, w)), np.stack(dense.window_counts(e, w)),
                                          err_msg=f"w={w} e={e}")
    ws = [5, 60, 1440, 4320, spec.window_minutes]
    np.testing.assert_array_equal(np.stack(tiered.windows_counts(end, ws)), np.stack(dense.windows_counts(end, ws)))
    rows = np.array([0, 3, len(dense.groups) - 1])
    for lo, hi, w in ((end - 64, end, 360), (end - 9000, end - 6000, 4320), (0, 200, 60), (end - 100, end, 5)):
        lo, hi = max(lo, 0), max(hi, 0)
        np.testing.assert_array_equal(np.stack(tiered.range_counts(lo, hi, w, rows)),
                                      np.stack(dense.range_counts(lo, hi, w, rows)), err_msg=f"{lo} {hi} {w}")
        ends = np.arange(lo, hi)
        np.testing.assert_array_equal(np.stack(tiered.window_counts(ends, w)), np.stack(dense.window_counts(ends, w)))
    assert reads or window == "1d", "windows reaching before the tail read their partial hours per minute"
    assert tiered._tail[1].min() >= tiered.minutes - 4 * 1440 - 60  # kept per minute: the tail only


@pytest.mark.parametrize("window", ["1d", "7d", "28d", "30d"])
def test_statuses_and_alerts_equal_the_dense_series(window):
    rng = np.random.default_rng(21)
    spec = parse_slo({"name": "lat", "sli": "latency", "threshold_ms": 900, "objective": 0.99, "window": window,
                      "group_by": ["region", "model_version"]})
    dense, tiered, _ = _both(spec, rng, groups=25)
    expected = [s.to_dict() for s in evaluate_slo(spec, dense, AT, min_events=3)]
    got = [s.to_dict() for s in evaluate_slo(spec, tiered, AT, min_events=3)]
    assert got == expected
    alerts = [a for s in expected for a in s["alerts"]]
    assert alerts, "the incidents make alerts fire"
    tail_start = AT.replace(second=0) - timedelta(days=4)
    if window in ("28d", "30d"):  # some alert began before the tail: its run was replayed from the source
        assert any(datetime.fromisoformat(a["starts_at"]) < tail_start for a in alerts)


def test_restricted_keeps_the_groups_a_shorter_series_would_hold():
    rng = np.random.default_rng(3)
    spec = parse_slo({"name": "a", "sli": "availability", "objective": 0.99, "window": "30d",
                      "group_by": ["region", "model_version"]})
    end = AT.replace(second=0)
    start = end - series_span(spec)
    counts = _random_counts(rng, start, end, 12)
    old_only = Counts(ceil_hour(start), (("r9", "old"),), np.array([0]), np.array([60]), np.array([1]), np.array([1]))
    tiered = tiered_series(("region", "model_version"), start, end, hour_of(end - timedelta(days=4)),
                           [_hourly(counts, ceil_hour(start), hour_of(end - timedelta(days=4))), old_only],
                           [counts.between(hour_of(end - timedelta(days=4)), end)], [],
                           _source(counts, []))
    week = end - timedelta(days=8)
    short = series_of([counts], ("region", "model_version"), week, end)
    assert ("r9", "old") in tiered.groups and ("r9", "old") not in short.groups
    restricted = tiered.restricted(week)
    assert restricted.groups == short.groups
    e = restricted.index_of(AT)
    np.testing.assert_array_equal(np.stack(restricted.window_counts(e, 1440 * 7)),
                                  np.stack(short.window_counts(short.index_of(AT), 1440 * 7)))


def test_a_replay_of_weeks_reads_each_minute_about_once(monkeypatch):
    """The chronic group's alert began weeks before the tail, so `firing_since` replays it a chunk
    (up to a day) at a time back through the minute source. Each chunk's block overlaps the last
    by the longest window: only the rest is read, so the minutes read stay about the span
    replayed (not chunks x span) and a block stays a chunk plus the longest window."""
    spec = parse_slo({"name": "lat", "sli": "latency", "threshold_ms": 900, "objective": 0.99, "window": "30d",
                      "group_by": ["region", "model_version"]})
    dense, tiered, reads = _both(spec, np.random.default_rng(21), groups=25)
    blocks, build = [], TieredSeries._cum_between

    def recording(self, lo, hi, rows):
        cum, first = build(self, lo, hi, rows)
        blocks.append(cum.shape[2] - 1)
        return cum, first

    monkeypatch.setattr(TieredSeries, "_cum_between", recording)
    got = [s.to_dict() for s in evaluate_slo(spec, tiered, AT, min_events=3)]
    assert got == [s.to_dict() for s in evaluate_slo(spec, dense, AT, min_events=3)]
    tail_start = tiered.start + tiered._t0 * MINUTE
    assert any(datetime.fromisoformat(a["starts_at"]) < tail_start - timedelta(days=20)
               for s in got for a in s["alerts"]), "an alert replayed for weeks before the tail"
    read = sum((until - since) // MINUTE for since, until in reads)
    assert 0.5 * tiered._t0 < read <= tiered._t0 + 1440  # the minutes before the tail, about once each
    longest = max(t.long_minutes for t in policy(spec.window))
    assert blocks and max(blocks) <= MAX_REPLAY_CHUNK + longest


def test_replay_blocks_are_kept_per_rows_whatever_their_dtype():
    """int32 [1, 0] and int64 [1] have the same bytes: the kept block must not answer for both."""
    spec = parse_slo({"name": "a", "sli": "availability", "objective": 0.99, "window": "7d",
                      "group_by": ["region", "model_version"]})
    dense, tiered, _ = _both(spec, np.random.default_rng(5))
    ends = np.arange(dense.index_of(AT) - 90, dense.index_of(AT))
    for rows in (np.array([1, 0], dtype=np.int32), np.array([1], dtype=np.int64), np.array([0, 1], dtype=np.int64),
                 np.array([1, 0], dtype=np.int64)):
        np.testing.assert_array_equal(np.stack(tiered.window_counts(ends, 60, rows)),
                                      np.stack(dense.window_counts(ends, 60, rows)), err_msg=str(rows))
