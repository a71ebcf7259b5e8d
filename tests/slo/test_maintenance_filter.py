"""Maintenance windows, the pure part (`slo.maintenance`): which SLOs a window applies to, the
rows it drops from minute and hourly counts (against a row-by-row reference), and the config's
validation (an unknown key inside a window is an error naming it)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from asrwatch.settings import Settings
from collector.store.rollups import HOUR
from slo import maintenance
from slo.maintenance import Applied, MaintenanceWindow, applied_for, applied_to, config_windows
from slo.series import MINUTE, Counts
from slo.spec import parse_slo

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def _window(id: str, start: datetime, end: datetime, *, slos=(), labels=None) -> MaintenanceWindow:
    return MaintenanceWindow(id=id, name=id, reason="", starts_at=start, ends_at=end, slos=tuple(slos),
                             labels=tuple(sorted((labels or {}).items())), created_by="t", created_at=None,
                             source="api")


def _spec(name="a", **kw):
    return parse_slo({"name": name, "sli": "availability", "objective": 0.99, **kw})


def test_a_window_applies_by_slo_name_group_by_and_pinned_filters():
    w = _window("w", T0, T0 + HOUR, labels={"region": "eu"})
    by_region = _spec(group_by=["model_version", "region"])
    assert applied_to(w, by_region) == Applied(T0, T0 + HOUR, ((1, "eu"),), "w")
    pinned = _spec(filters={"region": "eu"}, group_by=["model_version"])
    assert applied_to(w, pinned) == Applied(T0, T0 + HOUR, (), "w")  # every group of it is eu traffic
    other = applied_to(w, _spec(filters={"region": "us"}))
    assert isinstance(other, str) and "region=eu" in other
    several = applied_to(w, _spec(filters={"region": ["eu", "us"]}))  # eu and us summed: cannot tell apart
    assert isinstance(several, str)
    assert "region" in applied_to(w, _spec())  # type: ignore[operator]  # summed over regions
    assert applied_to(_window("w", T0, T0 + HOUR), _spec()) == Applied(T0, T0 + HOUR, (), "w")
    named = _window("n", T0, T0 + HOUR, slos=["b"])
    assert isinstance(applied_to(named, _spec("a")), str)
    assert isinstance(applied_to(named, _spec("b")), Applied)
    # Only the windows overlapping the series' span count.
    assert applied_for(_spec(), [named, _window("late", T0 + 2 * HOUR, T0 + 3 * HOUR)], T0, T0 + HOUR) == ()
    applies, why = maintenance.applicability(w, [by_region, _spec("plain")])
    assert applies == ["a"] and set(why) == {"plain"}


def _random_counts(rng: np.random.Generator, origin: datetime, minutes: int, stamp_hours: bool = False) -> Counts:
    keys = [(f"v{i % 3}", r) for i, r in enumerate(["eu", "us", "ap", "eu", "us", "ap"])]
    n = 800
    minute = rng.integers(-30, minutes + 30, n)
    if stamp_hours:  # hourly rows: stamped at their hour's first minute
        minute = minute // 60 * 60
    total = rng.integers(0, 6, n)
    good = np.minimum(total, rng.integers(0, 6, n))
    return Counts(origin, tuple(keys), rng.integers(0, len(keys), n), minute, good, total)


def _brute_kept(counts: Counts, applied: list[Applied]) -> list[tuple]:
    out = []
    for g, m, good, total in zip(counts.group.tolist(), counts.minute.tolist(), counts.good.tolist(),
                                 counts.total.tolist()):
        at = counts.origin + m * MINUTE
        key = counts.groups[g]
        covered = any(a.start <= at < a.end and all(key[i] == v for i, v in a.match) for a in applied)
        if not covered:
            out.append((key, at, good, total))
    return sorted(out)


def _rows(counts: Counts) -> list[tuple]:
    return sorted((counts.groups[g], counts.origin + m * MINUTE, good, total)
                  for g, m, good, total in zip(counts.group.tolist(), counts.minute.tolist(),
                                               counts.good.tolist(), counts.total.tolist()))


@pytest.mark.parametrize("seed", range(6))
def test_exclude_drops_exactly_the_covered_rows(seed):
    rng = np.random.default_rng(seed)
    origin = T0 + timedelta(minutes=int(rng.integers(0, 90)))
    counts = _random_counts(rng, origin, 600)
    applied = []
    for k in range(int(rng.integers(1, 4))):
        start = origin + timedelta(minutes=int(rng.integers(-60, 600)))
        end = start + timedelta(minutes=int(rng.integers(1, 200)))
        match = [((0, f"v{int(rng.integers(0, 3))}"),), ((1, "eu"),), (), ((0, "v1"), (1, "us"))][int(rng.integers(0, 4))]
        applied.append(Applied(start, end, match, f"w{k}"))
    kept = maintenance.exclude(counts, applied)
    assert _rows(kept) == _brute_kept(counts, applied)
    assert kept.rows < counts.rows  # the windows hit some rows (else the test proves nothing)
    assert maintenance.exclude(counts, ()) is counts  # no window: the very same counts


@pytest.mark.parametrize("seed", range(4))
def test_touched_hours_and_their_rows_removed(seed):
    rng = np.random.default_rng(100 + seed)
    since, until = T0, T0 + 12 * HOUR
    applied = []
    for k in range(3):
        start = T0 + timedelta(minutes=int(rng.integers(-120, 13 * 60)))
        applied.append(Applied(start, start + timedelta(minutes=int(rng.integers(1, 300))), (), f"w{k}"))
    ranges = maintenance.touched_hours(applied, since, until)
    hours = [since + h * HOUR for h in range(12)]
    expected = [h for h in hours if any(a.start < h + HOUR and a.end > h for a in applied)]
    assert [h for h in hours if any(lo <= h < hi for lo, hi in ranges)] == expected
    assert all(lo.minute == 0 and hi.minute == 0 for lo, hi in ranges)
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))  # joined: no two ranges touch

    hourly = _random_counts(rng, since, 12 * 60, stamp_hours=True)
    left = maintenance.without_ranges(hourly, ranges)
    assert _rows(left) == sorted(r for r in _rows(hourly) if not any(lo <= r[1] < hi for lo, hi in ranges))


def _settings(windows, slos=()):
    return Settings(database_url="sqlite://", slos=list(slos), maintenance_windows=windows)


def test_config_windows_are_validated_naming_the_key():
    good = {"name": "db-upgrade", "reason": "pg 17", "starts_at": "2026-11-02T09:00:30Z",
            "ends_at": "2026-11-02T10:00:59+00:00", "slos": ["a"], "labels": {"region": "eu"}}
    (window,) = config_windows(_settings([good]), [_spec("a")])
    assert (window.id, window.source, window.starts_at, window.ends_at) == (
        "config:db-upgrade", "config", T0, T0 + HOUR)  # floored to the minute
    with pytest.raises(ValueError, match=r"maintenance_windows\.0\.reasn: unknown key \(did you mean 'reason'\?\)"):
        config_windows(_settings([{**good, "reasn": "typo"}]))
    with pytest.raises(ValueError, match=r"maintenance_windows\.0\.ends_at: must be after starts_at"):
        config_windows(_settings([{**good, "ends_at": "2026-11-02T09:00:50Z"}]))  # same minute
    with pytest.raises(ValueError, match=r"maintenance_windows\.0\.labels: .*unknown dimension 'regon'"):
        config_windows(_settings([{**good, "labels": {"regon": "eu"}}]))
    with pytest.raises(ValueError, match=r"maintenance_windows\.0\.slos: unknown SLO 'b'"):
        config_windows(_settings([{**good, "slos": ["b"]}]), [_spec("a")])
    with pytest.raises(ValueError, match=r"maintenance_windows\.1\.name: 'db-upgrade' is used by another"):
        config_windows(_settings([good, good]))
    with pytest.raises(ValueError, match=r"maintenance_windows\.0\.starts_at: .*timezone"):
        config_windows(_settings([{**good, "starts_at": "2026-11-02T09:00:00"}]))
    # An unknown top-level key near the field's name is named too.
    with pytest.raises(ValueError, match="maintenance_window"):
        Settings(database_url="sqlite://", maintenance_window=[good])
