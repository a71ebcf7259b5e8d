"""Which of a batch's session ids a table already holds, and the ids of sessions counted but not
stored, in driver SQL: for a batch of 1,000 ids SQLAlchemy's compiled `IN (...)` and per-row
bind processing cost more than the lookups and the insert themselves (the sampled ingest path
took half again the CPU of storing every session)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Connection

from collector.store.rollups import sqlite_datetime

_SQLITE_CHUNK = 900  # bound parameters per statement, under SQLite's default limit of 999
_TABLES = frozenset({"sessions", "session_keys"})  # names put in the SQL: never from a request


def ids_in(conn: Connection, table: str, ids: Sequence[str],
           ts_span: tuple[datetime, datetime] | None = None) -> set[str]:
    """Of `ids`, those `table` holds; with `ts_span` only rows whose `ts` lies in [since, until)
    (on PostgreSQL only those days' partitions of `sessions` are read)."""
    if table not in _TABLES:
        raise ValueError(f"ids_in: unknown table {table!r}")
    if not ids:
        return set()
    if conn.dialect.name == "postgresql":
        sql = f"SELECT session_id FROM {table} WHERE session_id = ANY(%(ids)s)"
        params: dict[str, object] = {"ids": list(ids)}
        if ts_span is not None:
            sql += " AND ts >= %(since)s AND ts < %(until)s"
            params |= {"since": ts_span[0], "until": ts_span[1]}
        return {row[0] for row in conn.exec_driver_sql(sql, params)}
    bounds = (sqlite_datetime(ts_span[0]), sqlite_datetime(ts_span[1])) if ts_span is not None else ()
    found: set[str] = set()
    for start in range(0, len(ids), _SQLITE_CHUNK):
        chunk = tuple(ids[start:start + _SQLITE_CHUNK])
        sql = f"SELECT session_id FROM {table} WHERE session_id IN ({','.join('?' * len(chunk))})"
        if bounds:
            sql += " AND ts >= ? AND ts < ?"
        found.update(row[0] for row in conn.exec_driver_sql(sql, chunk + bounds))
    return found


def insert_keys(conn: Connection, ids: Sequence[str], received_at: datetime) -> set[str]:
    """Record `ids` as counted but not stored; the ids this call inserted (an id a concurrent
    replica recorded meanwhile is skipped on PostgreSQL; SQLite's write lock keeps others out)."""
    if not ids:
        return set()
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            "INSERT INTO session_keys (session_id, received_at) SELECT unnest(%(ids)s::text[]), %(at)s "
            "ON CONFLICT (session_id) DO NOTHING RETURNING session_id", {"ids": list(ids), "at": received_at})
        return {row[0] for row in rows}
    at = sqlite_datetime(received_at)
    conn.exec_driver_sql("INSERT INTO session_keys (session_id, received_at) VALUES (?, ?) "
                         "ON CONFLICT (session_id) DO NOTHING", [(sid, at) for sid in ids])
    return set(ids)
