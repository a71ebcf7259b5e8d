"""Two-resolution SLI counts: per minute for the recent span the alert tiers replay, per hour
before it, and the minutes of any other hour only when a window edge or a starts_at search
reaches into it.

A dense per-minute series of a 30-day SLO holds groups x 47,520 minutes (four int64 arrays with
the prefix sums: 300 MB at 200 groups), although only the last few days are ever read minute by
minute. This series answers every question `SLISeries` answers (`evaluate_slo`, `conditions` and
`firing_since` take either) with the same integers, so every result is exactly equal:

- the tail [tail_start, end) keeps its non-empty minutes (row, minute, good, total), sorted by
  minute: a window's sums are one slice and bincount, and the starts_at replay of an alert that
  began recently builds per-minute prefix sums for the firing groups only (one block kept:
  a replay's next, older chunk reads only what it does not overlap);
- whole hours before it come from hourly counts (the SLO window and long report windows);
- a window's partial first hour, and minute-by-minute replays older than the tail (an alert
  that has fired for days), ask `minutes(since, until)` for the pieces of those minutes: the
  caller's source (`slo.sli_source`) reads them through the series cache. That is the only I/O,
  behind a callback, so the arithmetic here stays testable on in-memory counts.

Indices are prefix indices as in `SLISeries`: index i is the minute `start + i`; a window of w
minutes ending at index e covers [e - w, e), clipped to [0, minutes].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from collector.store import HOUR, hour_of
from slo.series import MINUTE, Counts, binned, floor_minute, rows_of

MinuteSource = Callable[[datetime, datetime], Sequence[Counts]]


def ceil_hour(at: datetime) -> datetime:
    first = hour_of(at)
    return first if first == at else first + HOUR


def _minutes_between(a: datetime, b: datetime) -> int:
    return int((b - a) // MINUTE)


def _prefix(counts: np.ndarray) -> np.ndarray:
    """(2, G, n) counts -> (2, G, n + 1) prefix sums (int64)."""
    cum = np.zeros(counts.shape[:2] + (counts.shape[2] + 1,), dtype=np.int64)
    np.cumsum(counts, axis=2, out=cum[:, :, 1:])
    return cum


def _by_groups(pieces: Sequence[Counts], origin: datetime):
    """The pieces' rows joined per group-key tuple (pieces read together share one): (groups,
    group, minutes since origin, good, total), so each key is looked up once, not once a piece."""
    joined: dict[int, list] = {}
    for piece in pieces:
        if piece.rows:
            joined.setdefault(id(piece.groups), [piece.groups, []])[1].append(piece)
    for groups, parts in joined.values():
        yield (groups, np.concatenate([p.group for p in parts]),
               np.concatenate([p.minute + _minutes_between(origin, p.origin) for p in parts]),
               np.concatenate([p.good for p in parts]), np.concatenate([p.total for p in parts]))


def _selected(pieces: Sequence[Counts], position: dict[tuple, int], origin: datetime, lo: int, hi: int
              ) -> tuple[np.ndarray, ...]:
    """Pure: (row, minutes since origin, good, total) of the pieces' rows with events in the minutes
    [origin + lo, origin + hi) whose group has a row in `position`."""
    parts = []
    for groups, group, m, g, t in _by_groups(pieces, origin):
        row = rows_of(groups, position)[group]
        keep = (m >= lo) & (m < hi) & (row >= 0) & (t > 0)
        parts.append((row[keep], m[keep], g[keep], t[keep]))
    if not parts:
        return tuple(np.zeros(0, dtype=np.int64) for _ in range(4))
    return tuple(np.concatenate(column).astype(np.int64, copy=False) for column in zip(*parts))


def dense_counts(pieces: Sequence[Counts], position: dict[tuple, int], rows: int, origin: datetime,
                 bins: int, width: int = 1) -> np.ndarray:
    """Pure: (2, rows, bins) good/total of the pieces' rows in [origin, origin + bins x width
    minutes), bin = minutes since origin // width. Groups missing from `position` are dropped."""
    row, m, good, total = _selected(pieces, position, origin, 0, bins * width)
    return binned(row, m // width, good, total, rows, bins)


def groups_in(pieces: Sequence[Counts], since: datetime, until: datetime) -> set[tuple]:
    """Pure: the group keys with events in the minutes [since, until) of the pieces."""
    found: set[tuple] = set()
    for groups, group, m, _, total in _by_groups(pieces, since):
        inside = (m >= 0) & (m < _minutes_between(since, until)) & (total > 0)
        found.update(groups[g] for g in np.unique(group[inside]).tolist())
    return found


class TieredSeries:
    """good/total per group over the minutes [start, end), kept per minute only in the tail."""

    def __init__(self, start: datetime, end: datetime, tail_start: datetime, group_by: tuple[str, ...],
                 groups: tuple[tuple[str, ...], ...], hourly: np.ndarray, tail: tuple[np.ndarray, ...],
                 minutes: MinuteSource) -> None:
        """`hourly`: (2, groups, hours) good/total of the whole hours before the tail; `tail`:
        (row, minute index, good, total) arrays of the tail's non-empty minutes, by minute."""
        self.start, self.end, self.tail_start = floor_minute(start), floor_minute(end), floor_minute(tail_start)
        if not self.start <= self.tail_start <= self.end:
            raise ValueError("tail_start: within [start, end]")
        self.group_by, self.groups = tuple(group_by), tuple(groups)
        self.hour_start = ceil_hour(self.start)
        self.hour_end = max(self.hour_start, hour_of(self.tail_start))
        if hourly.shape != (2, len(self.groups), _minutes_between(self.hour_start, self.hour_end) // 60):
            raise ValueError("hourly: (2, groups, hours between the first whole hour and the tail) counts")
        self._hour_cum, self._tail = _prefix(hourly), tail
        self._source = minutes
        self._t0 = _minutes_between(self.start, self.tail_start)
        self._h0 = _minutes_between(self.start, self.hour_start)
        self._memo: tuple | None = None

    # --- what SLISeries offers ---------------------------------------------------------------
    @property
    def minutes(self) -> int:
        return _minutes_between(self.start, self.end)

    def index_of(self, at: datetime) -> int:
        return _minutes_between(self.start, floor_minute(at))

    def group_labels(self, g: int) -> dict[str, str]:
        return dict(zip(self.group_by, self.groups[g]))

    def window_counts(self, ends, minutes: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        ends_arr = np.asarray(ends)
        flat = np.atleast_1d(ends_arr)
        if flat.size <= 1:  # one end (the evaluation time): sums, no per-minute block
            n = len(self.groups) if rows is None else len(rows)
            if not flat.size:
                return np.zeros((n,) + ends_arr.shape, dtype=np.int64), np.zeros((n,) + ends_arr.shape, dtype=np.int64)
            both = self._sum(self._clip(int(flat[0]) - minutes), self._clip(int(flat[0])), rows)
            both = both.reshape((2, n) + ends_arr.shape)
            return both[0], both[1]
        hi, lo = self._clip(int(flat.max())), self._clip(int(flat.min()) - minutes)
        cum, base = self._cum_between(lo, hi, rows)
        upper = np.clip(ends_arr, 0, self.minutes) - base
        lower = np.clip(ends_arr - minutes, 0, self.minutes) - base
        window = cum[:, :, upper] - cum[:, :, lower]
        return window[0], window[1]

    def windows_counts(self, end: int, minutes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        upper = self._clip(end)
        both = np.stack([self._sum(self._clip(end - w), upper) for w in minutes], axis=2)
        return both[0], both[1]

    def range_counts(self, lo: int, hi: int, minutes: int, rows: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= lo <= hi <= self.minutes:
            raise ValueError(f"ends [{lo}, {hi}) outside the series (0..{self.minutes})")
        return self.window_counts(np.arange(lo, hi), minutes, rows)

    # --- beyond SLISeries ----------------------------------------------------------------------
    def restricted(self, since: datetime) -> TieredSeries:
        """The series of only the groups with events in [since, end) (what a dense series
        starting at `since` would hold); the same series when that is every group."""
        total = self._sum(self._clip(self.index_of(since)), self.minutes)[1]
        keep = np.flatnonzero(total > 0)
        if keep.size == len(self.groups):
            return self
        out = object.__new__(TieredSeries)
        out.__dict__.update(self.__dict__)
        out.groups = tuple(self.groups[i] for i in keep.tolist())
        out._hour_cum, out._memo = self._hour_cum[:, keep], None
        position = self._positions(keep)[0]
        row, minute, good, total_ = self._tail
        new = position[row]
        inside = new >= 0
        out._tail = (new[inside], minute[inside], good[inside], total_[inside])
        return out

    def _clip(self, index: int) -> int:
        return min(max(index, 0), self.minutes)

    def _positions(self, rows: np.ndarray | None) -> tuple[np.ndarray | None, int]:
        """Group index -> position among `rows` (-1: not asked for), and how many rows."""
        if rows is None:
            return None, len(self.groups)
        position = np.full(len(self.groups), -1, dtype=np.int64)
        position[np.asarray(rows)] = np.arange(len(rows))
        return position, len(rows)

    def _tail_block(self, s: int, u: int, rows: np.ndarray | None, bins: int) -> np.ndarray:
        """(2, R, bins) per-minute counts of the tail's minutes [s, u) (bins == 1: summed)."""
        position, n = self._positions(rows)
        row, minute, good, total = self._tail
        i, j = np.searchsorted(minute, [s, u], side="left")
        r, m, g, t = row[i:j], minute[i:j] - s, good[i:j], total[i:j]
        if position is not None:
            r = position[r]
            keep = r >= 0
            r, m, g, t = r[keep], m[keep], g[keep], t[keep]
        return binned(r, m if bins > 1 else np.zeros_like(m), g, t, n, bins)

    def _sum(self, s: int, e: int, rows: np.ndarray | None = None) -> np.ndarray:
        """(2, G) events in the minutes [s, e) (clipped indices)."""
        t0 = self._t0
        out = self._tail_block(max(s, t0), e, rows, 1)[:, :, 0] if e > t0 else None
        u = min(e, t0)
        if s < u:
            part = self._before_tail(s, u, slice(None) if rows is None else rows)
            out = part if out is None else out + part
        if out is None:
            out = np.zeros((2, len(self.groups) if rows is None else len(rows)), dtype=np.int64)
        return out

    def _before_tail(self, s: int, u: int, pick) -> np.ndarray:
        # Whole hours from the hourly prefix sums, the partial hours at either end per minute.
        a = self._h0 + -(-(s - self._h0) // 60) * 60  # first hour boundary at or after s
        b = self._h0 + ((u - self._h0) // 60) * 60 if u >= self._h0 else a  # last at or before u
        if a < b:
            whole = self._hour_cum[:, pick, (b - self._h0) // 60] - self._hour_cum[:, pick, (a - self._h0) // 60]
            return whole + self._minute_sum(s, a, pick) + self._minute_sum(b, u, pick)
        return self._minute_sum(s, u, pick)

    def _minute_block(self, s: int, u: int, pick) -> np.ndarray:
        """(2, R, u - s) per-minute counts before the tail, from the minute source."""
        rows = np.arange(len(self.groups)) if isinstance(pick, slice) else np.asarray(pick)
        position = {self.groups[r]: i for i, r in enumerate(rows.tolist())}
        since = self.start + s * MINUTE
        pieces = self._source(since, self.start + u * MINUTE) if u > s else []
        return dense_counts(pieces, position, len(rows), since, u - s)

    def _minute_sum(self, s: int, u: int, pick) -> np.ndarray:
        if s >= u:
            n = len(self.groups) if isinstance(pick, slice) else len(pick)
            return np.zeros((2, n), dtype=np.int64)
        return self._minute_block(s, u, pick).sum(axis=2)

    def _counts_between(self, s: int, u: int, rows: np.ndarray | None) -> np.ndarray:
        """(2, R, u - s) per-minute counts of the minutes [s, u): the source before the tail."""
        pick = slice(None) if rows is None else rows
        t0, parts = self._t0, []
        if s < min(u, t0):
            parts.append(self._minute_block(s, min(u, t0), pick))
        if u > max(s, t0):
            parts.append(self._tail_block(max(s, t0), u, rows, u - max(s, t0)))
        if not parts:
            return np.zeros((2, self._positions(rows)[1], 0), dtype=np.int64)
        return np.concatenate(parts, axis=2) if len(parts) > 1 else parts[0]

    def _cum_between(self, lo: int, hi: int, rows: np.ndarray | None) -> tuple[np.ndarray, int]:
        """Per-minute prefix sums over the indices [lo, hi] for the rows (only they are built:
        a starts_at replay asks for its firing groups), and the index of their first column.
        The last block is kept, for the same rows only: the tiers of one chunk of a replay ask
        for nested spans (longest first), and the next, older chunk overlaps it by the longest
        window. A request it does not hold gets a block of exactly [lo, hi], taking the overlap
        from the kept block and only the rest from the source, so a replay of weeks reads each
        minute about once and its block stays a chunk plus the longest window."""
        key = None
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)  # int64 bytes: equal keys are equal rows
            key = rows.tobytes()
        counts = None
        if self._memo is not None and self._memo[0] == key:
            _, a, b, cum = self._memo
            if a <= lo and hi <= b:
                return cum, a
            inner_lo, inner_hi = max(lo, a), min(hi, b)
            if inner_lo < inner_hi:  # overlap: its counts from the kept prefix sums, no read
                kept = np.diff(cum[:, :, inner_lo - a:inner_hi - a + 1], axis=2)
                counts = np.concatenate([self._counts_between(lo, inner_lo, rows), kept,
                                         self._counts_between(inner_hi, hi, rows)], axis=2)
        if counts is None:
            counts = self._counts_between(lo, hi, rows)
        cum = _prefix(counts)
        self._memo = (key, lo, hi, cum)
        return cum, lo


def tiered_series(group_by: tuple[str, ...], start: datetime, end: datetime, tail_start: datetime,
                  hourly: Sequence[Counts], tail: Sequence[Counts], lead: Sequence[Counts],
                  minutes: MinuteSource) -> TieredSeries:
    """Pure: a TieredSeries over [start, end) from pieces of counts: `hourly` for the whole hours
    before the tail, `tail` for [tail_start, end), `lead` for the partial hour at the start.
    Groups are those with events anywhere in [start, end), sorted by key, as in the dense series
    (tests/slo_dense_reference.py `series_of`)."""
    start, end, tail_start = floor_minute(start), floor_minute(end), floor_minute(tail_start)
    hour_start = ceil_hour(start)
    hour_end = max(hour_start, hour_of(tail_start))
    keys = groups_in(hourly, hour_start, hour_end) | groups_in(tail, tail_start, end)
    keys |= groups_in(lead, start, min(hour_start, tail_start))
    order = tuple(sorted(keys))
    position = {key: i for i, key in enumerate(order)}
    hours = _minutes_between(hour_start, hour_end) // 60
    return TieredSeries(start, end, tail_start, group_by, order,
                        dense_counts(hourly, position, len(order), hour_start, hours, 60),
                        sparse_tail(tail, position, start, tail_start, end), minutes)


def sparse_tail(pieces: Sequence[Counts], position: dict[tuple, int], start: datetime, since: datetime,
                until: datetime) -> tuple[np.ndarray, ...]:
    """Pure: (row, minute index since `start`, good, total) of the pieces' non-empty rows in
    [since, until), sorted by minute: the tail's minutes cost their events, not groups x minutes."""
    row, m, good, total = _selected(pieces, position, start, _minutes_between(start, since),
                                    _minutes_between(start, until))
    order = np.argsort(m, kind="stable")
    return row[order], m[order], good[order], total[order]
