"""PostgreSQL at size: `sessions` partitioned by event day (migration 0019), retention by partition.

On PostgreSQL `sessions` is a table partitioned by range of `ts`, one partition per UTC day
(`sessions_pYYYYMMDD`) and a DEFAULT partition (`sessions_default`) for a day whose partition could
not be made (see below). Partitions are created as data arrives: before a batch is inserted,
`ensure_days` makes the partitions of its days that this process has not seen yet, in a short
transaction of their own, one replica at a time (an advisory lock); `CREATE TABLE IF NOT EXISTS`
makes a second replica's attempt a no-op. A day whose rows already sit in the DEFAULT partition (a
store upgraded with rows outside the days the upgrade found, or a partition that failed) cannot
get its own partition while they are there: PostgreSQL refuses it, and the day stays in DEFAULT.

Retention of whole sessions (`store.session_days`) then drops whole partitions, which takes no
time whatever their size and leaves nothing to vacuum; only rows in DEFAULT are deleted one by
one. SQLite has no partitions: the same retention deletes rows.

Uniqueness: a primary key of a partitioned table must hold the partition key, so PostgreSQL keys
sessions by (session_id, ts). Ingest still skips a session whose id is stored with a `ts` within a
day of the new one (`pg_batch`: `NOT EXISTS`, pruned to those days' partitions); the same id sent
again with an event time more than a day away is stored twice there (SQLite keys by id alone).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import delete, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from collector.store.database import write_transaction
from collector.store.per_engine import PerEngine
from collector.store.leader import lock_key
from collector.store.models import Session

log = logging.getLogger("asrwatch.partitions")

PARENT = "sessions"
DEFAULT = "sessions_default"
_LOCK_KEY = lock_key("asrwatch-session-partitions")
# The partitions of `sessions` and their bounds, from the catalog.
_PARTITIONS = text(
    "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
    "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :parent")


def partition_name(day: date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def partition_ddl(day: date) -> str:
    """Pure: the statement that makes the day's partition (UTC midnight to midnight)."""
    return (f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {PARENT} "
            f"FOR VALUES FROM ('{day.isoformat()} 00:00:00+00') TO ('{(day + timedelta(days=1)).isoformat()} 00:00:00+00')")


def day_of_partition(name: str) -> date | None:
    """Pure: the day a partition named by `partition_name` holds (None for DEFAULT or another)."""
    prefix = f"{PARENT}_p"
    if not name.startswith(prefix) or len(name) != len(prefix) + 8 or not name[len(prefix):].isdigit():
        return None
    return datetime.strptime(name[len(prefix):], "%Y%m%d").date()


class _Known:
    """Days this process knows to have their partition (or to be left in DEFAULT)."""

    def __init__(self) -> None:
        self.days: set[date] = set()
        self.lock = threading.Lock()


_KNOWN: PerEngine[_Known] = PerEngine(_Known)


# Days ingest makes partitions for, around the wall clock: a sender cannot make thousands of
# partitions with made-up event times (every statement on `sessions` would plan and lock them all);
# rows of other days go to DEFAULT.
PAST_DAYS = 400
FUTURE_DAYS = 2
# `CREATE TABLE ... PARTITION OF` takes an ACCESS EXCLUSIVE lock on `sessions`: waiting behind a
# long read would queue every ingest and read behind it. Past this, the batch fails (503, the
# sender retries) instead; the housekeeping job makes the coming days' partitions ahead anyway.
LOCK_TIMEOUT = "2s"
_CHECK_VIOLATION = "23514"  # DEFAULT holds rows of the day: PostgreSQL refuses its partition


def ensure_days(engine: Engine, days: Iterable[date], now: datetime | None = None) -> None:
    """Make the partitions of `days` that lie within PAST_DAYS before and FUTURE_DAYS after
    `now` (PostgreSQL; nothing on SQLite). Each day is asked of the database once per process. A
    day whose rows already sit in DEFAULT stays there (logged once); any other failure (the lock
    timeout) raises, so the caller's batch fails and is retried."""
    if engine.dialect.name != "postgresql":
        return
    known = _KNOWN.get(engine)
    wanted = set(days) - known.days
    if not wanted:
        return
    today = (now or datetime.now(timezone.utc)).date()
    wanted = {d for d in wanted if today - timedelta(days=PAST_DAYS) <= d <= today + timedelta(days=FUTURE_DAYS)}
    with known.lock:
        for day in sorted(wanted - known.days):
            try:
                with write_transaction(engine) as conn:
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                    conn.exec_driver_sql(partition_ddl(day))
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != _CHECK_VIOLATION:
                    raise
                log.warning("sessions of %s stay in the %s partition: it holds some already", day, DEFAULT)
            known.days.add(day)


def make_ahead(engine: Engine, now: datetime) -> None:
    """The housekeeping job: today's and the coming days' partitions, before their rows come."""
    today = now.astimezone(timezone.utc).date()
    ensure_days(engine, [today + timedelta(days=k) for k in range(FUTURE_DAYS + 1)], now)


def partitions(engine: Engine) -> dict[str, str]:
    """Each partition of `sessions` and its bound (PostgreSQL), for tests and operators."""
    with engine.connect() as conn:
        return {name: bound for name, bound in conn.execute(_PARTITIONS, {"parent": PARENT})}


def drop_sessions_before(engine: Engine, cutoff: datetime) -> dict[str, int]:
    """Remove the sessions whose event time is before `cutoff`: on PostgreSQL the day partitions
    wholly before it are dropped and DEFAULT's rows before it deleted; on SQLite rows are
    deleted. Rollups, samples and stages stay (the counts are kept; a sample without its session
    is left out of lists that join them)."""
    if cutoff.tzinfo is None:
        raise ValueError("cutoff: must be timezone-aware UTC")
    cutoff = cutoff.astimezone(timezone.utc)
    table = Session.__table__
    if engine.dialect.name != "postgresql":
        with write_transaction(engine) as conn:
            return {"rows_deleted": conn.execute(delete(table).where(table.c.ts < cutoff)).rowcount,
                    "partitions_dropped": 0}
    last_day = cutoff.date() - timedelta(days=1)  # partitions whose whole day is before the cutoff
    with engine.connect() as conn:
        names = [name for name, _ in conn.execute(_PARTITIONS, {"parent": PARENT}).all()]
    dropped = 0
    # One short transaction per partition (DROP locks `sessions` for its moment), and DEFAULT's
    # rows deleted on their own, without that lock held.
    for name in sorted(names):
        day = day_of_partition(name)
        if day is not None and day <= last_day:
            with write_transaction(engine) as conn:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
            dropped += 1
    with write_transaction(engine) as conn:
        rows = conn.exec_driver_sql(f"DELETE FROM {DEFAULT} WHERE ts < %s", (cutoff,)).rowcount
    known = _KNOWN.get(engine)
    with known.lock:
        known.days = {d for d in known.days if d > last_day}
    return {"rows_deleted": rows, "partitions_dropped": dropped}
