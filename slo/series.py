"""Per-minute good/total event counts per group, with prefix sums so any window is O(1).

Time convention (shared with the exported Prometheus rules): as of `at`, only complete
event-time minutes count, and a window of w minutes covers the minutes
[floor(at) - w, floor(at)). A counter sampled at minute boundary t holds every event of the
minutes before t, so Prometheus' `increase(c[w])` at t (closed range [t-w, t]) is the
same number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from collector.measures import groups_of

MINUTE = timedelta(minutes=1)


def floor_minute(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("at: must be timezone-aware (UTC)")
    at = at.astimezone(timezone.utc)
    return at.replace(second=0, microsecond=0)


@dataclass(frozen=True)
class SLISeries:
    """good[g, m] and total[g, m]: events of group g in minute `start + m`."""

    start: datetime
    group_by: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    good: np.ndarray
    total: np.ndarray
    _cum: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.good.shape != self.total.shape or self.good.ndim != 2:
            raise ValueError("good and total must be (groups, minutes) arrays of one shape")
        if self.good.shape[0] != len(self.groups):
            raise ValueError("one row of counts per group")
        stacked = np.stack([self.good, self.total]).astype(np.int64, copy=False)
        cum = np.zeros(stacked.shape[:2] + (stacked.shape[2] + 1,), dtype=np.int64)
        np.cumsum(stacked, axis=2, out=cum[:, :, 1:])
        object.__setattr__(self, "_cum", cum)

    @property
    def minutes(self) -> int:
        return self.good.shape[1]

    def index_of(self, at: datetime) -> int:
        """Prefix index for `at`: the number of complete minutes since start (may be out of range)."""
        return int((floor_minute(at) - self.start) // MINUTE)

    def window_counts(
        self, ends: np.ndarray | int, minutes: int, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(good, total) for the w-minute windows ending at prefix index/indices `ends`.

        Shapes: (G,) for a scalar end, (G, T) for T ends (G = len(rows) when rows selects
        groups). Minutes outside the series count 0.
        """
        if np.ndim(ends) == 0 and rows is None:  # one evaluation time: plain index arithmetic
            end = int(ends)
            upper, lower = min(max(end, 0), self.minutes), min(max(end - minutes, 0), self.minutes)
            window = self._cum[:, :, upper] - self._cum[:, :, lower]
            return window[0], window[1]
        ends_arr = np.clip(np.asarray(ends), 0, self.minutes)
        starts = np.clip(np.asarray(ends) - minutes, 0, self.minutes)
        if rows is None:
            window = self._cum[:, :, ends_arr] - self._cum[:, :, starts]
        else:
            r = rows[:, None] if ends_arr.ndim else rows
            window = self._cum[:, r, ends_arr] - self._cum[:, r, starts]
        return window[0], window[1]

    def windows_counts(self, end: int, minutes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(good, total) of (G, W) for the windows of the given lengths ending at prefix index `end`."""
        upper = min(max(end, 0), self.minutes)
        lower = np.clip(end - np.asarray(minutes), 0, self.minutes)
        window = self._cum[:, :, [upper]] - self._cum[:, :, lower]
        return window[0], window[1]

    def range_counts(
        self, lo: int, hi: int, minutes: int, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """window_counts for every end in [lo, hi) (all within the series): (G, hi - lo) arrays,
        by slicing the prefix sums instead of gathering them."""
        if not 0 <= lo <= hi <= self.minutes:
            raise ValueError(f"ends [{lo}, {hi}) outside the series (0..{self.minutes})")
        pick = slice(None) if rows is None else rows  # select groups after slicing minutes
        upper = self._cum[:, pick, lo:hi]
        first = min(max(minutes - lo, 0), hi - lo)  # ends whose window starts before the series
        lower = self._cum[:, pick, lo + first - minutes:hi - minutes]
        if first:
            lower = np.concatenate([np.zeros(upper.shape[:2] + (first,), dtype=upper.dtype), lower], axis=2)
        window = upper - lower
        return window[0], window[1]

    def group_labels(self, g: int) -> dict[str, str]:
        return dict(zip(self.group_by, self.groups[g]))


@dataclass(frozen=True)
class Counts:
    """(minute, group, good, total) rows as arrays: `minute[i]` is minutes since `origin` and
    `group[i]` indexes `groups`. The SLO series is added up from pieces of these (one per
    cached hour, one for the minutes read now)."""

    origin: datetime
    groups: tuple[tuple[str, ...], ...]
    group: np.ndarray
    minute: np.ndarray
    good: np.ndarray
    total: np.ndarray

    @classmethod
    def of(cls, counted, origin: datetime) -> Counts:
        """From (minute, group key, good, total) tuples; rows without events are dropped."""
        rows = [row for row in counted if row[3]]
        if not rows:
            return cls.of_columns(origin, [], [], [], [])
        minutes, keys, good, total = zip(*rows)
        return cls.of_columns(origin, minutes, keys, good, total)

    @classmethod
    def of_columns(cls, origin: datetime, minutes, keys, good, total) -> Counts:
        """From columns: minutes (aware datetimes, or SQLite's stored UTC text), group keys, good
        and total. A million rows take well under a second: each distinct minute and
        key is worked out once."""
        origin = floor_minute(origin)
        offsets: dict = {}
        mi = np.fromiter((offsets[m] if m in offsets else offsets.setdefault(m, _offset(m, origin)) for m in minutes),
                         dtype=np.int64, count=len(minutes))
        groups, gi = groups_of(keys)
        return cls(origin, tuple(groups), gi, mi, np.asarray(good, dtype=np.int64), np.asarray(total, dtype=np.int64))

    @property
    def rows(self) -> int:
        return int(self.minute.size)

    def between(self, since: datetime, until: datetime) -> Counts:
        """The rows of minutes [since, until), re-based on `since`."""
        shift = int((since - self.origin) // MINUTE)
        keep = (self.minute >= shift) & (self.minute < shift + int((until - since) // MINUTE))
        return Counts(since, self.groups, self.group[keep], self.minute[keep] - shift, self.good[keep],
                      self.total[keep])


@dataclass(frozen=True)
class CountsSet:
    """The counts of several SLIs read in one pass (say one per latency threshold): the same
    rows, one `good` column each. The cache keeps these per hour; `part(k)` is one SLI's Counts."""

    origin: datetime
    groups: tuple[tuple[str, ...], ...]
    group: np.ndarray
    minute: np.ndarray
    goods: tuple[np.ndarray, ...]
    total: np.ndarray

    @classmethod
    def of(cls, parts: list[Counts]) -> CountsSet:
        """From Counts of the same rows (as `slo.sli_source._read_set` makes them)."""
        first = parts[0]
        return cls(first.origin, first.groups, first.group, first.minute, tuple(p.good for p in parts), first.total)

    @property
    def rows(self) -> int:
        # Memory in Counts rows (four columns each), for the cache's budget.
        return int(self.minute.size) * (3 + len(self.goods)) // 4

    def part(self, k: int) -> Counts:
        return Counts(self.origin, self.groups, self.group, self.minute, self.goods[k], self.total)

    def between(self, since: datetime, until: datetime) -> CountsSet:
        shift = int((since - self.origin) // MINUTE)
        keep = (self.minute >= shift) & (self.minute < shift + int((until - since) // MINUTE))
        return CountsSet(since, self.groups, self.group[keep], self.minute[keep] - shift,
                         tuple(g[keep] for g in self.goods), self.total[keep])


def _offset(minute: datetime | str, origin: datetime) -> int:
    if isinstance(minute, str):  # SQLite's stored text (UTC)
        minute = datetime.fromisoformat(minute).replace(tzinfo=timezone.utc)
    return int((floor_minute(minute) - origin) // MINUTE)


def rows_of(groups: Sequence[tuple[str, ...]], position: Mapping[tuple, int]) -> np.ndarray:
    """Each group key's row in `position`, -1 where it has none (its rows are dropped)."""
    return np.array([position.get(key, -1) for key in groups], dtype=np.int64)


def binned(row: np.ndarray, col: np.ndarray, good: np.ndarray, total: np.ndarray, rows: int, cols: int
           ) -> np.ndarray:
    """Pure: (2, rows, cols) int64 good and total added up at (row[i], col[i]), every index in range.
    bincount adds in float64: exact for sums below 2**53, then back to integers."""
    out = np.zeros((2, rows, cols), dtype=np.int64)
    if row.size:
        flat = row * cols + col
        for k, weights in enumerate((good, total)):
            out[k] = np.rint(np.bincount(flat, weights, minlength=rows * cols)).astype(np.int64).reshape(rows, cols)
    return out
