"""PostgreSQL: a batch's sessions, and its rollup rows, each written by one set-based statement.

Row by row (an executemany of the sessions, then a SELECT ... FOR UPDATE of the rollup rows, the
sums in Python and an executemany of UPDATEs), a batch cost one round trip to the server per
session and per rollup row. Here each table gets one `INSERT ... SELECT FROM json_to_recordset`:
- sessions: `ON CONFLICT (session_id, ts) DO NOTHING RETURNING session_id` names the new ones, so a
  session sent twice (or to two replicas at once) is stored once and counted as a duplicate;
- rollups: `ON CONFLICT (rollup_key) DO UPDATE` adds counters, sums and histograms to the stored
  row in SQL, under the row lock the upsert takes, so concurrent replicas never lose an update.
Both go in key order (`COLLATE "C"`: code-point order, the order Python's `sorted` gave the
row-by-row path), so replicas writing overlapping batches wait on each other instead of
deadlocking.

The rows travel as one JSON document, not as one array per column (`unnest(%s::text[], ...)`):
psycopg adapts a Python list element by element, about 2 us each, which for 1000 sessions of 24
columns took longer than the insert itself; orjson writes the document in about 3 ms and the
server parses it in C. Floats are written in their shortest exact form, and times as UTC text
without offset read as `timestamp ... AT TIME ZONE 'UTC'` (never as timestamptz text, which the
server would read in the connection's TimeZone). JSON values (attributes, histograms) are
embedded in the document as they are, and `json` keeps their text.

Stored values equal those of the row-by-row path, and so does the histograms' text: `json.dumps`'
form (what SQLAlchemy's JSON type wrote), stored codes first in their order, then new ones in
the batch's order. Two differences that no reader sees: sessions' `attributes` are orjson's
compact text (as on SQLite) instead of `json.dumps`', and a session without attributes holds SQL
NULL instead of JSON `null` (as on SQLite); both read back as the same values.
"""

from __future__ import annotations

import functools
import math
from datetime import timedelta
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
from sqlalchemy import JSON, Boolean, Float, Integer, Table
from sqlalchemy.engine import Connection

from collector.store.histogram_text import spaced
from collector.store.models import ROLLUP_COLUMNS, Session, UTCDateTime
from collector.store.rollups import (
    COUNTERS,
    HISTOGRAMS,
    SUMS,
    Delta,
    check_value_columns,
    row_of,
    sqlite_datetime,
    unset_value,
    value_columns_of,
)
from collector.store.session_batch import COLUMNS, SessionBatch


def _sql_type(column) -> str:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "timestamp"  # UTC text without offset, made timestamptz below
    if isinstance(kind, Float):
        return "float8"
    if isinstance(kind, Integer):
        return "int8"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, JSON):
        return "json"
    return "text"


def _insert_from_json(table: Table, names: list[str], key: str, given: dict[str, str] | None = None,
                      where: str = "") -> str:
    """INSERT of one row per object of a JSON array (the statement's last parameter), in key order.
    `given`: columns whose value is an SQL expression instead (the same for every row); `where`:
    a condition on the array's rows (`u`)."""
    given = given or {}
    kinds = {name: _sql_type(table.c[name]) for name in names}
    record = ", ".join(f"{name} {kind}" for name, kind in kinds.items())

    def value(name: str) -> str:
        if name in given:
            return given[name]
        return f"{name} AT TIME ZONE 'UTC'" if kinds[name] == "timestamp" else name

    columns = [*names, *given]
    return (f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(map(value, columns))} "
            f"FROM json_to_recordset(%s::json) AS u({record}) {where}ORDER BY {key} COLLATE \"C\"")


_SESSION_FIELDS = [name for name in COLUMNS if name != "received_at"]  # one value per batch
# `sessions` is partitioned by day (migration 0019, `collector.store.partitions`), keyed by
# (session_id, ts): a retry (same id, same ts) meets the key; the same id sent at another event
# time within a day is found by NOT EXISTS, which reads only those days' partitions.
_SESSION_INSERT = _insert_from_json(
    Session.__table__, _SESSION_FIELDS, "session_id", given={"received_at": "%s::timestamp AT TIME ZONE 'UTC'"},
    where="WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = u.session_id "
          "AND s.ts >= (u.ts AT TIME ZONE 'UTC') - interval '1 day' "
          "AND s.ts < (u.ts AT TIME ZONE 'UTC') + interval '1 day' "
          # The batch's own span as constants too, so the plan reads those days' partitions only.
          "AND s.ts >= %s::timestamptz AND s.ts < %s::timestamptz) ",
) + " ON CONFLICT (session_id, ts) DO NOTHING RETURNING session_id"
_SESSION_FLOATS = [name for name in _SESSION_FIELDS if isinstance(Session.__table__.c[name].type, Float)]


def insert_new_sessions(conn: Connection, batch: SessionBatch) -> set[str]:
    """Insert the sessions whose session_id is new, in one statement; return the ids inserted."""
    if not len(batch):
        return set()
    _refuse_nonfinite_sessions(batch)
    columns = dict(batch.columns)
    columns["ts"] = batch.ts_texts()
    document = orjson.dumps([dict(zip(_SESSION_FIELDS, values))
                             for values in zip(*(columns[name] for name in _SESSION_FIELDS))])
    # The received_at placeholder comes first in the statement's SELECT list, then the document,
    # then the batch's span of event times widened by a day each way (the NOT EXISTS's bounds).
    first, last = min(batch.columns["ts"]), max(batch.columns["ts"])
    params = (sqlite_datetime(batch.columns["received_at"][0]), document.decode(),
              first - timedelta(days=1), last + timedelta(days=1, microseconds=1))
    return {row[0] for row in conn.exec_driver_sql(_SESSION_INSERT, params)}


def _refuse_nonfinite_sessions(batch: SessionBatch) -> None:
    """orjson writes NaN and infinities as null, which would store "unset" (or break a NOT NULL)
    instead of the value: refuse them, naming the field. The request schema refuses them
    already; this keeps a caller that skips it from storing something else than it sent."""
    for name in _SESSION_FLOATS:
        values = batch.floats(name)  # NaN where unset: as many NaN as None unless one was sent
        unfinite = ~np.isfinite(values)
        if np.count_nonzero(unfinite) != batch.columns[name].count(None):
            i = next(i for i in np.flatnonzero(unfinite).tolist() if batch.columns[name][i] is not None)
            raise ValueError(f"{name}: {batch.columns[name][i]!r} in session "
                             f"{batch.columns['session_id'][i]!r} is not a finite number")


def _hist_sum(table: str, name: str) -> str:
    """The stored histogram plus the batch's, key by key (counts are integers), in the text
    `json.dumps` gives the merged dict of the row-by-row path: stored keys first in their order,
    then new ones in the batch's (json_each keeps a `json` value's order), `"key": count` joined
    by ", ". (json_object_agg would write `{ "3" : 1 }`, in whatever order it is given.)"""
    entries = "SELECT key AS k, value::bigint AS n, i FROM json_each_text({}) WITH ORDINALITY AS j(key, value, i)"
    return (
        f"CASE WHEN excluded.{name}::text = '{{}}' THEN {table}.{name} ELSE ("
        "SELECT ('{' || string_agg(to_json(coalesce(s.k, e.k))::text || ': ' || (coalesce(s.n, 0) + coalesce(e.n, 0)), "
        "', ' ORDER BY s.i IS NULL, coalesce(s.i, e.i)) || '}')::json "
        f"FROM ({entries.format(f'{table}.{name}')}) AS s FULL JOIN ({entries.format(f'excluded.{name}')}) AS e "
        "ON s.k = e.k) END")


def _rollup_names(time_column: str, columns: tuple[str, ...]) -> list[str]:
    """The rollup columns in the order `rollups.upsert_row` gives them, with value `columns`."""
    return ["rollup_key", time_column, *ROLLUP_COLUMNS, *columns]


@functools.cache
def _rollup_upsert(table: Table, time_column: str, columns: tuple[str, ...]) -> str:
    """Value columns not in `columns` start at zero in a new row and are left as they are in a
    stored one (`rollups.value_columns_of`)."""
    check_value_columns(columns)  # `upsert_rollups` finds the sums and histograms by position
    added = [f"{c} = {table.name}.{c} + excluded.{c}" for c in columns if c not in HISTOGRAMS]
    added += [f"{h} = {_hist_sum(table.name, h)}" for h in columns if h in HISTOGRAMS]
    unset = {c: unset_value(c) + ("::json" if c in HISTOGRAMS else "")
             for c in (*COUNTERS, *SUMS, *HISTOGRAMS) if c not in columns}
    return (_insert_from_json(table, _rollup_names(time_column, columns), "rollup_key", given=unset)
            + f" ON CONFLICT (rollup_key) DO UPDATE SET {', '.join(added)}")


def upsert_rollups(conn: Connection, table: Table, time_column: str, deltas: Mapping[str, Delta]) -> None:
    """Add the deltas to the stored rollup rows (new rows start at zero), in one statement."""
    if not deltas:
        return
    columns = value_columns_of(deltas)
    names = _rollup_names(time_column, columns)
    first_sum = 2 + len(ROLLUP_COLUMNS) + sum(c in COUNTERS for c in columns)
    first_histogram = first_sum + sum(c in SUMS for c in columns)
    render = row_of(deltas)
    rows: list[dict[str, Any]] = []
    for key in deltas:
        row = render(key)
        sums = row[first_sum:first_histogram]
        if not all(map(math.isfinite, sums)):  # orjson would write null: refused, named
            name, value = next((n, v) for n, v in zip(names[first_sum:], sums) if not math.isfinite(v))
            raise ValueError(f"{table.name} {key}: {name} = {value!r} is not a finite number")
        # Histograms are JSON text already: embedded as they are, in json.dumps' spacing.
        histograms = [orjson.Fragment(spaced(text)) for text in row[first_histogram:]]
        rows.append(dict(zip(names, (*row[:first_histogram], *histograms))))
    conn.exec_driver_sql(_rollup_upsert(table, time_column, columns), (orjson.dumps(rows).decode(),))
