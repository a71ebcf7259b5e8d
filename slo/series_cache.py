"""SLO counts remembered per compacted hour, so an evaluation reads only what changed.

An SLO's series spans its window and more (30 days and up): read whole, that is every minute
rollup of the span on every evaluation and every `/slos` call. An hour behind the compaction
mark changes only when late data arrives, and then its revision (`rollup_hours`) is bumped in
the same transaction; so each hour's counts are kept with the revision they were read at, and
an evaluation reads only hours whose revision moved plus the minutes not compacted yet.

The revisions are read before the minutes, so a kept hour is never newer than its revision
says: at worst an hour is read again once more than needed. Each replica keeps its own cache;
it is an optimisation, never the source of truth.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from collector.store import HOUR, RollupHour, compacted_through, hour_of
from slo.series import CountsSet
from slo.spec import SLOSpec

Ranges = list[tuple[datetime, datetime]]
Read = Callable[[Ranges, datetime], CountsSet]


def spec_key(spec: SLOSpec) -> tuple:
    """What decides an SLO's counts (its name, objective and windows do not)."""
    filters = tuple(sorted((k, tuple(sorted(v))) for k, v in spec.filter_values().items()))
    return (spec.sli, spec.threshold_ms, spec.max_wer, filters, tuple(spec.group_by), spec.max_der)


class SeriesCache:
    def __init__(self, max_rows: int = 5_000_000) -> None:
        self.max_rows = max_rows
        self._hours: OrderedDict[tuple, tuple[int, CountsSet]] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()
        self._readers: dict[tuple, threading.Lock] = {}  # per (kind, keys): one cold read at a time

    def _reader(self, key: tuple) -> threading.Lock:
        with self._lock:
            return self._readers.setdefault(key, threading.Lock())

    def set_pieces(self, conn: Connection, kind: str, keys: tuple, start: datetime, end: datetime,
                   read_kept: Read, read_recent: Read) -> list[CountsSet]:
        """The counts of several SLIs read together (`keys`: their spec keys), in pieces: kept
        hours, one `read_kept` of the compacted hours that changed and `read_recent` of the rest.
        kind "minutes": both read minute rows (one read). kind "hours": `read_kept` reads hourly
        rows (stamped at the hour's first minute), `read_recent` the minutes of the hours not
        compacted yet. Hourly rows equal their minutes' sums (`collector.store.compaction`) and late
        data bumps the same revision, so a kept hour is as valid as a kept hour of minutes.

        Callers asking for the same counts at once (a page's `/slos` beside the evaluator's pass
        right after a start) take turns: the second finds the hours the first kept instead of
        reading them again beside it, which on a cold start doubled the work of both."""
        key = (kind, keys)
        with self._reader(key):
            return self._pieces(conn, key, kind, start, end, read_kept, read_recent)

    def _pieces(self, conn: Connection, key: tuple, kind: str, start: datetime, end: datetime,
                read_kept: Read, read_recent: Read) -> list[CountsSet]:
        through = compacted_through(conn)
        first = hour_of(start)
        cached_end = min(through, end) if through is not None else first
        revisions: dict[datetime, int] = {}
        if first < cached_end:
            query = select(RollupHour.hour, RollupHour.revision).where(RollupHour.hour >= first,
                                                                       RollupHour.hour < cached_end)
            revisions = {hour: revision for hour, revision in conn.execute(query)}
        pieces, stale = [], []
        with self._lock:
            hour = first
            while hour < cached_end:
                revision = revisions.get(hour, 0)  # 0: the hour had no data when compacted, nor since
                kept = self._hours.get((key, hour))
                if revision and (kept is None or kept[0] != revision):
                    stale.append(hour)
                elif revision:
                    self._hours.move_to_end((key, hour))
                    pieces.append(kept[1])  # type: ignore[index]
                hour += HOUR
        ranges = _ranges(stale)
        recent = (max(cached_end, start), end) if cached_end < end else None
        if kind == "minutes":  # one read of both (minute rows)
            ranges += [recent] if recent else []
            recent = None
        if ranges:
            fresh = read_kept(ranges, first)
            pieces.append(fresh)
            with self._lock:
                for hour in stale:
                    self._keep((key, hour), revisions[hour], fresh.between(hour, hour + HOUR))
        if recent:
            pieces.append(read_recent([recent], first))
        return pieces

    def _keep(self, key: tuple, revision: int, counts: CountsSet) -> None:
        old = self._hours.pop(key, None)
        if old is not None:
            self._rows -= old[1].rows
        self._hours[key] = (revision, counts)
        self._rows += counts.rows
        while self._rows > self.max_rows and self._hours:
            _, (_, dropped) = self._hours.popitem(last=False)
            self._rows -= dropped.rows


def _ranges(hours: list[datetime]) -> Ranges:
    """Consecutive hours joined into [since, until) ranges."""
    out: Ranges = []
    for hour in hours:
        if out and out[-1][1] == hour:
            out[-1] = (out[-1][0], hour + HOUR)
        else:
            out.append((hour, hour + HOUR))
    return out
