"""The rollup rows of a time window: hourly rows for its whole compacted hours, minute rows for
the rest (the edges, and the hours not compacted yet), as one UNION ALL the caller adds up.

Both kinds of row have the same slice and value columns, and an hourly row is exactly the sum of
its hour's minute rows (`collector.store.compaction`), so any sum over the window is the same either
way; a day reads about 24 rows per slice instead of 1440.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Integer, cast, func, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, Subquery

from collector.store.dimensions import Dimensions, dimensions_of
from collector.store.models import HourlyRollup, Rollup
from collector.store.rollups import EPOCH, HOUR, compacted_through, hour_of

MINUTE = timedelta(minutes=1)


def bucket_index(dialect: str, time, step: timedelta) -> ColumnElement:
    """SQL: the step-aligned bucket a row's time falls in, as whole steps since the Unix epoch
    (`time_buckets.bucket_starts` aligns buckets the same way)."""
    seconds = int(step.total_seconds())
    if dialect == "sqlite":  # stored as UTC text: strftime('%s') reads it as UTC seconds
        return cast(func.strftime("%s", time), Integer) // seconds
    return cast(func.floor(func.extract("epoch", time) / seconds), BigInteger)


def bucket_start(index: int, step: timedelta) -> datetime:
    return EPOCH + int(index) * step


def whole_hours(since: datetime, until: datetime, through: datetime | None) -> tuple[datetime, datetime] | None:
    """Pure: the compacted hours [first, end) lying wholly in the minutes of [since, until), or
    None. A minute m is in the window when since <= m < until."""
    if through is None:
        return None
    first = hour_of(since)
    if first < since:
        first += HOUR
    last_minute = until.replace(second=0, microsecond=0)
    if last_minute < until:
        last_minute += MINUTE  # minutes before `until` are the minutes before this one
    end = min(hour_of(last_minute), through)
    return (first, end) if first < end else None


def rollup_rows(conn: Connection, columns: Sequence[str], since: datetime, until: datetime,
                filters: Mapping[str, str], step: timedelta | None = None) -> Subquery:
    """A subquery with `columns` (slice and value columns) of every rollup row covering the
    window's minutes, of the slices matching `filters` (a configured dimension, in `columns` or
    `filters`, by its name: `collector.store.dimensions`). With `step`, also `t`: the row's bucket
    (`bucket_index`). An hourly row lies in one bucket only when the step is whole hours (buckets
    and hours both align to the epoch); for other steps the window is read from minute rows."""
    dims = dimensions_of(conn.engine)
    whole_hours_fit = step is None or step % HOUR == timedelta(0)
    hours = whole_hours(since, until, compacted_through(conn)) if whole_hours_fit else None
    minutes, hourly = Rollup.__table__, HourlyRollup.__table__
    dialect = conn.dialect.name
    if hours is None:
        return _part(minutes, minutes.c.minute, since, until, columns, filters, dialect, step, dims).subquery()
    first, end = hours
    parts = [_part(hourly, hourly.c.hour, first, end, columns, filters, dialect, step, dims)]
    if since < first:
        parts.append(_part(minutes, minutes.c.minute, since, first, columns, filters, dialect, step, dims))
    if end < until:
        parts.append(_part(minutes, minutes.c.minute, end, until, columns, filters, dialect, step, dims))
    return union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()


def _part(table, time, since: datetime, until: datetime, columns: Sequence[str], filters: Mapping[str, str],
          dialect: str, step: timedelta | None, dims: Dimensions):
    bucket = [bucket_index(dialect, time, step).label("t")] if step is not None else []
    # A configured dimension is read from its slot, under its name.
    query = select(*bucket, *[dims.rollup_column(table, c) if c in dims.custom else table.c[c] for c in columns]
                   ).where(time >= since, time < until)
    for dim, value in filters.items():
        query = query.where(table.c[dims.column(dim)] == value)
    return query
