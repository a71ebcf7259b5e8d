"""Hourly compaction: closed hours' minute rollups added up into `rollups_hourly`.

A day's window is then about 24 rows per slice instead of 1440 (`collector.store.rollup_window`).
The compactor moves the mark `rollup_compaction.through` one hour per transaction, oldest first;
minute rows stay (short windows and the SLO series read them). Data arriving later for a
compacted hour is added to both by ingest (`rollups.apply_deltas`), so the two always agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine

from collector.store.database import write_transaction
from collector.store.models import Rollup, RollupCompaction
from collector.store.rollups import HOUR, apply_hourly, by_hour, compacted_through, hour_of

log = logging.getLogger(__name__)


def compact(engine: Engine, at: datetime, progress: Callable[[datetime, datetime], None] | None = None) -> int:
    """Compact every hour that ended by `at` (event time) and is not compacted yet; returns how
    many hours held data. One short write transaction per hour, so ingest waits at most for
    one hour's fold, and a crash loses at most the hour in progress (it is redone)."""
    target = hour_of(at)
    compacted = 0
    while True:
        with write_transaction(engine) as conn:
            hour = _next_hour(conn, target)
            if hour is None:
                return compacted
            table = Rollup.__table__
            rows = conn.execute(select(table).where(table.c.minute >= hour, table.c.minute < hour + HOUR)).mappings()
            hourly = by_hour(rows)
            if hourly:
                apply_hourly(conn, hourly)
                compacted += 1
            conn.execute(update(RollupCompaction).where(RollupCompaction.id == 1).values(through=hour + HOUR))
        if progress is not None:
            progress(hour + HOUR, target)


def _next_hour(conn: Connection, target: datetime) -> datetime | None:
    """The next hour with data to compact, before `target` (the mark is locked on PostgreSQL).
    Hours without minute rows are skipped: the mark jumps over them."""
    through = compacted_through(conn, update_lock=True)
    first = select(func.min(Rollup.minute))
    if through is not None:
        first = first.where(Rollup.minute >= through)
    minute = conn.execute(first).scalar()
    if minute is None or hour_of(minute) >= target:
        return None
    return hour_of(minute)


def _log_progress(through: datetime, target: datetime) -> None:
    # A first pass over an upgraded store can take minutes: say how far it is once a day of data.
    if through.hour == 0 and through < target:
        log.info("compacting rollups: through %s of %s", through.isoformat(), target.isoformat())


def compaction_pass(engine: Engine, at: datetime) -> int:
    """Compact what closed before `at` (the collector's event-time clock). Several replicas may
    run it: the mark's row lock lets one compact an hour and the others skip it."""
    hours = compact(engine, at, _log_progress)
    if hours:
        log.info("compacted %d hour(s) of rollups before %s", hours, hour_of(at).isoformat())
    return hours
