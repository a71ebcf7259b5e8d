"""Storing sessions and samples: dedupe, redact, score, fold into rollups, commit.

A record counts as accepted only once its transaction has committed, so an acknowledged
record survives a crash of the collector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from collector.database import write_transaction
from collector.models import SLICE_DIMENSIONS, Sample, Session, Stage
from collector.redaction import redact
from collector.rollups import UNKNOWN, accumulate_samples, accumulate_sessions, apply_deltas, sqlite_datetime
from collector.schemas import SampleIn, SessionIn
from collector.wer import WordErrors, word_errors

SESSION_COLUMNS = [c.name for c in Session.__table__.columns]


@dataclass
class StoredSessions:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0


@dataclass
class ScoredSample:
    session_row: dict[str, Any]
    errors: WordErrors
    source: str
    duplicate: bool = False


def _insert(conn: Connection):
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def session_row(record: SessionIn, received_at: datetime) -> dict[str, Any]:
    row = dict(record.__dict__)  # the validated fields; model_dump() is several times slower
    for dim in SLICE_DIMENSIONS + ("pool",):
        row[dim] = row.get(dim) or UNKNOWN
    row["hypothesis"] = redact(row["hypothesis"])
    row["received_at"] = received_at
    return row


def store_sessions(engine: Engine, records: Sequence[SessionIn], received_at: datetime) -> StoredSessions:
    result = StoredSessions()
    rows: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.session_id in rows:
            result.duplicates += 1
            continue
        rows[record.session_id] = session_row(record, received_at)
    if not rows:
        return result
    with write_transaction(engine) as conn:
        inserted = _insert_new_sessions(conn, rows)
        fresh = [row for sid, row in rows.items() if sid in inserted]
        apply_deltas(conn, accumulate_sessions(fresh))
    result.accepted = fresh
    result.duplicates += len(rows) - len(fresh)
    return result


_SQLITE_SESSION_INSERT = (
    f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}) VALUES ({', '.join('?' * len(SESSION_COLUMNS))})"
)


def _insert_new_sessions(conn: Connection, rows: dict[str, dict[str, Any]]) -> set[str]:
    """Insert the rows whose session_id is new; return the ids inserted."""
    if conn.dialect.name != "sqlite":
        table = Session.__table__
        stmt = pg_insert(table).on_conflict_do_nothing(index_elements=["session_id"]).returning(table.c.session_id)
        # Key order: replicas inserting overlapping batches then wait on each other instead of deadlocking.
        return {r[0] for r in conn.execute(stmt, [rows[sid] for sid in sorted(rows)])}
    # SQLite: the transaction holds the write lock, so "select existing, insert the rest" is
    # race-free; going through the DBAPI keeps the hot path close to a raw executemany.
    ids = list(rows)
    existing: set[str] = set()
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        sql = f"SELECT session_id FROM sessions WHERE session_id IN ({', '.join('?' * len(chunk))})"
        existing.update(r[0] for r in conn.exec_driver_sql(sql, tuple(chunk)))
    new = [sid for sid in ids if sid not in existing]
    if new:
        received_at = sqlite_datetime(rows[new[0]]["received_at"])  # one per batch
        conn.exec_driver_sql(_SQLITE_SESSION_INSERT, [_sqlite_row(rows[sid], received_at) for sid in new])
    return set(new)


_SESSION_VALUES = itemgetter(*SESSION_COLUMNS)
_TS_COLUMN = SESSION_COLUMNS.index("ts")
_RECEIVED_AT_COLUMN = SESSION_COLUMNS.index("received_at")
_ATTRIBUTES_COLUMN = SESSION_COLUMNS.index("attributes")


def _sqlite_row(row: dict[str, Any], received_at: str) -> tuple:
    out = list(_SESSION_VALUES(row))
    out[_TS_COLUMN] = sqlite_datetime(out[_TS_COLUMN])
    out[_RECEIVED_AT_COLUMN] = received_at
    if out[_ATTRIBUTES_COLUMN] is not None:
        out[_ATTRIBUTES_COLUMN] = orjson.dumps(out[_ATTRIBUTES_COLUMN]).decode()
    return tuple(out)


def store_stages(conn: Connection, stages: Sequence[dict[str, Any]]) -> None:
    if stages:
        table = Stage.__table__
        conn.execute(_insert(conn)(table).on_conflict_do_nothing(index_elements=["trace_id", "span_id"]), list(stages))


def score_and_store_samples(
    engine: Engine, samples: Sequence[tuple[int, SampleIn]], normalizer_name: str, received_at: datetime
) -> tuple[list[tuple[int, ScoredSample]], list[tuple[int, str]]]:
    """Score samples against their sessions and store the new ones.

    Returns (scored, rejected) where each is paired with the index of the sample in the request.
    """
    scored: list[tuple[int, ScoredSample]] = []
    rejected: list[tuple[int, str]] = []
    if not samples:
        return scored, rejected
    ids = sorted({s.session_id for _, s in samples})
    sessions_table = Session.__table__
    samples_table = Sample.__table__
    with write_transaction(engine) as conn:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            query = select(sessions_table).where(sessions_table.c.session_id.in_(chunk))
            found.update({r["session_id"]: dict(r) for r in conn.execute(query).mappings()})
        pending: dict[tuple[str, str], tuple[int, ScoredSample, dict[str, Any]]] = {}
        for index, sample in samples:
            session = found.get(sample.session_id)
            if session is None:
                rejected.append((index, "session_id: unknown session; post the session before its sample"))
                continue
            hypothesis = sample.hypothesis if sample.hypothesis is not None else session["hypothesis"]
            if hypothesis is None:
                rejected.append((index, "hypothesis: required when the session carries no hypothesis"))
                continue
            reference, hypothesis = redact(sample.reference), redact(hypothesis)
            errors = word_errors(reference or "", hypothesis or "", normalizer_name)
            item = ScoredSample(session, errors, sample.source)
            key = (sample.session_id, sample.source)
            if key in pending:
                item.duplicate = True
                scored.append((index, item))
                continue
            row = {
                "session_id": sample.session_id, "source": sample.source, "ts": session["ts"],
                "received_at": received_at, "reference": reference, "hypothesis": hypothesis,
                "wer": errors.wer, "substitutions": errors.substitutions, "deletions": errors.deletions,
                "insertions": errors.insertions, "ref_words": errors.ref_words,
            }
            pending[key] = (index, item, row)
            scored.append((index, item))
        if pending:
            stmt = (
                _insert(conn)(samples_table)
                .on_conflict_do_nothing(index_elements=["session_id", "source"])
                .returning(samples_table.c.session_id, samples_table.c.source)
            )
            order = sorted(pending) if conn.dialect.name == "postgresql" else pending  # as for sessions
            inserted = {tuple(r) for r in conn.execute(stmt, [pending[key][2] for key in order])}
            for key, (_, item, _) in pending.items():
                item.duplicate = key not in inserted
            fresh = [(item.session_row, item.errors) for key, (_, item, _) in pending.items() if key in inserted]
            apply_deltas(conn, accumulate_samples(fresh))
    return scored, rejected

