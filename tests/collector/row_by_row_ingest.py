"""The reference for the batch writers: sessions and rollups stored one row at a time, through
SQLAlchemy Core, as ingest did before it wrote set-based (PostgreSQL) or upserted (SQLite).

Same transaction shape and the same compaction protocol as `collector.store.ingest.store_sessions`:
dedupe, insert the new sessions, fold them, add the deltas to the minute rows, and to the hourly
rows (with a revision bump) where the minute's hour is compacted already. Only the writing differs.
Histograms are stored in the text each engine's row-by-row ingest wrote: orjson's compact form on
SQLite (its raw inserts and updates), `json.dumps`' on PostgreSQL (SQLAlchemy's JSON type), with
stored codes first, in their order, then new ones in the batch's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Text, cast, select, type_coerce, update
from sqlalchemy.engine import Connection, Engine

from collector.store.database import dialect_insert, write_transaction
from collector.store.models import ROLLUP_COLUMNS, HourlyRollup, Rollup, Session
from collector.store.rollups import COUNTERS, HISTOGRAMS, SUMS, Delta, bump_revisions, by_hour, compacted_through
from collector.store.session_batch import SessionBatch
from collector.store.session_fold import fold_sessions


def store_sessions_row_by_row(engine: Engine, records: Sequence[Mapping[str, Any]],
                              received_at: datetime) -> tuple[list[str], int]:
    """(the session ids stored, in order; how many were duplicates)."""
    unique: dict[str, Mapping[str, Any]] = {}
    for record in records:
        unique.setdefault(record["session_id"], record)
    batch = SessionBatch.of(list(unique.values()), received_at)
    table = Session.__table__
    with write_transaction(engine) as conn:
        inserted = set()
        for row in sorted(batch.rows(), key=lambda r: r["session_id"]):
            # PostgreSQL keys the partitioned sessions by (session_id, ts) (migration 0019).
            key = ["session_id", "ts"] if conn.dialect.name == "postgresql" else ["session_id"]
            stmt = dialect_insert(conn, table).on_conflict_do_nothing(index_elements=key)
            if conn.execute(stmt.returning(table.c.session_id), row).first() is not None:
                inserted.add(row["session_id"])
        fresh = batch.select([sid in inserted for sid in batch.columns["session_id"]])
        deltas = fold_sessions(fresh)
        if len(deltas):
            through = compacted_through(conn, share_lock=True)
            _add(conn, Rollup.__table__, "minute", {key: deltas[key] for key in deltas})
            late = [deltas[key] for key in deltas if through is not None and deltas[key]["minute"] < through]
            if late:
                hourly = by_hour(late)
                _add(conn, HourlyRollup.__table__, "hour", hourly)
                bump_revisions(conn, {d["minute"] for d in hourly.values()})
    return fresh.columns["session_id"], len(records) - len(fresh)


def _add(conn: Connection, table, time_column: str, deltas: Mapping[str, Delta]) -> None:
    """Each row read (locked on PostgreSQL), added to in Python and written back; or inserted."""
    for key in sorted(deltas):
        d = deltas[key]
        query = select(table).where(table.c.rollup_key == key)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        stored = conn.execute(query).mappings().first()
        if stored is None:
            row = {"rollup_key": key, time_column: d["minute"], **{dim: d[dim] for dim in ROLLUP_COLUMNS}}
            row.update({c: d[c] for c in COUNTERS + SUMS})
            row.update({h: _text(conn, {str(k): int(v) for k, v in d[h].items()}) for h in HISTOGRAMS})
            conn.execute(table.insert().values(row))
            continue
        values: dict[str, Any] = {c: stored[c] + d[c] for c in COUNTERS + SUMS}
        for h in HISTOGRAMS:
            merged = {str(k): int(v) for k, v in (stored[h] or {}).items()}
            for k, v in d[h].items():
                merged[str(k)] = merged.get(str(k), 0) + int(v)
            values[h] = _text(conn, merged)
        conn.execute(update(table).where(table.c.rollup_key == key).values(values))


def _text(conn: Connection, histogram: dict[str, int]):
    """The histogram's JSON text as this engine's row-by-row ingest wrote it, stored verbatim."""
    if conn.dialect.name == "sqlite":
        return type_coerce(orjson.dumps(histogram).decode(), Text)
    return cast(type_coerce(json.dumps(histogram), Text), JSON)  # text as it is, to PostgreSQL's json
