"""Both windows' sessions as numpy columns, read with as few Python objects per row as possible.

At a million sessions the read, not the scan, was the slow part: the driver makes one Python
object per value, and turning 14 columns of row tuples into arrays cost as much again. So:

- the categorical columns (six, and any further slice dimension) come as one string per row
  (joined in SQL with a separator that cannot be typed), which is encoded once per distinct
  combination, not once per value; the row's window (current or reference) leads that string,
  so it costs no value of its own;
- each partition's rows become one 2-D object array in a single numpy call, whose columns
  convert to floats (NULL as NaN) in C, instead of a transposition into one tuple per column.

The result is exactly what the per-column reader (`drift.source.load_sessions_per_column`)
returns: the same rows in the same order (same WHERE, so the same plan), the same codes and the
same level order (each partition's new levels are added in the order the per-column encoder's
`set()` meets them, which depends only on the distinct values in first-seen order). A value that
contains the separator makes the joined key ambiguous; then this falls back to that reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from sqlalchemy import Float, Text, case, cast, func, literal, literal_column, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from collector.store import read_connection
from drift.features import Encoded, encode

SEPARATOR = "\x1f"  # ASCII unit separator: no slice label a fleet sends contains it


class AmbiguousKey(Exception):
    """A categorical value contains SEPARATOR; the joined key cannot be split back."""


class _JoinedKey(FunctionElement):
    """`a || SEP || b || ...` with NULL as '' (the per-column encoder treats both as missing)."""

    type = Text()
    name = "joined_key"
    inherit_cache = True


@compiles(_JoinedKey)
def _concatenated(element, compiler, **kw):
    columns = list(element.clauses)
    expr = func.coalesce(columns[0], "")
    for col in columns[1:]:
        expr = expr.concat(literal(SEPARATOR)).concat(func.coalesce(col, ""))
    return compiler.process(expr, **kw)


@compiles(_JoinedKey, "sqlite")
def _printed(element, compiler, **kw):
    # One printf (whose %s prints NULL as '') instead of a chain of ||, each of which allocates the
    # string so far again: about 0.25 s of SQLite's CPU per million rows.
    columns = list(element.clauses)
    return compiler.process(func.printf(literal(SEPARATOR.join(["%s"] * len(columns))), *columns), **kw)


def joined_key(columns):
    return _JoinedKey(*columns)


class _KeyEncoder:
    """The window flag and per-dimension codes from the joined key (`flag SEP a SEP b ...`).

    Each distinct key is a combination, numbered once for the whole read; a row costs two dict
    lookups in C (first-seen order, combination number) and the codes come from per-combination
    arrays. The levels are the per-column encoder's: levels grow only where a partition has a
    value not met before, and there that partition's distinct values, in first-seen order, go
    through `encode`, whose set() then iterates them as it would iterate the partition's whole
    column. (A value first seen in a combination is first seen at that combination's first row;
    the flag makes combinations finer, which keeps each value's first row where it was.)"""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.levels: dict[str, list[str]] = {name: [] for name in names}
        self._codes: dict[str, dict[str, int]] = {name: {} for name in names}  # raw value -> code
        self._combos: dict[str, int] = {}  # key -> combination number
        self._combo_codes: dict[str, list[int]] = {name: [] for name in names}  # per combination
        self._combo_flags: list[bool] = []
        self._known: dict[str, list[str]] = {}
        self._rows: list[np.ndarray] = []  # per partition: each row's combination

    def add(self, keys: np.ndarray) -> None:
        keys = keys.tolist()
        first_seen = dict.fromkeys(keys)  # combinations in first-seen order
        new = [key for key in first_seen if key not in self._combos]
        if new:
            self._add_combinations(first_seen, new)
        self._rows.append(np.fromiter(map(self._combos.__getitem__, keys), dtype=np.int64, count=len(keys)))

    def _add_combinations(self, first_seen: dict[str, None], new: list[str]) -> None:
        split = [self._split(key) for key in new]
        for j, name in enumerate(self.names, start=1):
            codes = self._codes[name]
            if any(values[j] not in codes for values in split):
                values = list(dict.fromkeys(self._split(key)[j] for key in first_seen))
                enc = encode(values, self.levels[name])
                self.levels[name] = enc.levels
                codes.update(zip(values, enc.codes.tolist()))
            self._combo_codes[name].extend(codes[values[j]] for values in split)
        self._combo_flags.extend(values[0] == "1" for values in split)
        for key in new:
            self._combos[key] = len(self._combos)

    def _split(self, key: str) -> list[str]:
        values = self._known.get(key)
        if values is None:
            values = self._known[key] = key.split(SEPARATOR)
            if len(values) != len(self.names) + 1:
                raise AmbiguousKey
        return values

    def _combinations(self) -> np.ndarray:
        return np.concatenate(self._rows) if self._rows else np.zeros(0, dtype=np.int64)

    def is_current(self) -> np.ndarray:
        return np.asarray(self._combo_flags, dtype=bool)[self._combinations()]

    def result(self) -> dict[str, Encoded]:
        rows = self._combinations()
        return {name: Encoded(np.asarray(self._combo_codes[name], dtype=np.int32)[rows], self.levels[name])
                for name in self.names}


Strings = tuple[str, ...] | Mapping[str, object]  # column names, or name -> SQL expression


def _string_columns(table, strings: Strings) -> dict[str, object]:
    """name -> SQL expression: a bare name is the table's column (a configured dimension comes as
    its slot's expression, `Dimensions.session_column`)."""
    if isinstance(strings, Mapping):
        return dict(strings)
    return {name: table.c[name] for name in strings}


def _flagged_key(current, strings: dict[str, object]):
    """`flag SEP a SEP b ...`: the row's window ("1" current, "0" reference), then its labels."""
    flag = case((current, literal("1")), else_=literal("0"))
    return joined_key([flag, *strings.values()])


def read_columns(engine: Engine, table, where, current, strings: Strings, numbers: dict[str, object],
                 partitions: Callable) -> dict:
    """session_id, is_current, encoded `strings`, float `numbers` (name -> SQL expression)."""
    c = table.c
    strings = _string_columns(table, strings)
    query = select(c.session_id, _flagged_key(current, strings), *numbers.values()).where(where)
    ids: list[np.ndarray] = []
    floats: dict[str, list[np.ndarray]] = {name: [] for name in numbers}
    encoder = _KeyEncoder(tuple(strings))
    for rows in partitions(engine, query):
        table_ = np.array(rows, dtype=object)  # one call: rows x columns, no per-column tuples
        ids.append(table_[:, 0])
        encoder.add(table_[:, 1])
        block = table_[:, 2:].astype(np.float64)  # None -> NaN; one call for all the numbers
        for j, name in enumerate(numbers):
            floats[name].append(np.ascontiguousarray(block[:, j]))
    out: dict = {
        "session_id": np.concatenate(ids) if ids else np.zeros(0, dtype=object),
        "is_current": encoder.is_current(),
    }
    out.update(encoder.result())
    out.update({name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in floats.items()})
    return out


# No parallel workers: their rows interleave in no fixed order, and both readers must see the scan's.
# And every sequential scan from the table's first block: with `synchronize_seqscans` (on by default)
# a scan of a table over a quarter of shared_buffers starts where another scan of it is, or last
# reported being, so the same rows came rotated and a million-session report differed run to run.
FIXED_START = "SELECT set_config('synchronize_seqscans', 'off', true)"
SERIAL_SCAN = "SELECT set_config('max_parallel_workers_per_gather', '0', true), " \
              "set_config('synchronize_seqscans', 'off', true)"
RECORD_SEPARATOR = "\x1e"  # between rows of one aggregated text column (ASCII record separator)


def _float8_rows(raw: bytes | None, n: int, width: int) -> np.ndarray:
    """`width` big-endian float8s per row, as PostgreSQL's `float8send` wrote them, viewed as an
    n x width array (no copy, no Python float per value): each column converts on its own."""
    if n == 0:
        return np.zeros((0, width))
    return np.frombuffer(raw, dtype=">f8", count=n * width).reshape(n, width)


def _split_text(joined: str | None, n: int) -> np.ndarray:
    values = joined.split(RECORD_SEPARATOR) if n else []
    if len(values) != n:  # a value held the separator: the split cannot be trusted
        raise AmbiguousKey
    out = np.empty(n, dtype=object)
    out[:] = values
    return out


def read_columns_postgresql(engine: Engine, table, where, current, strings: Strings,
                            numbers: dict[str, object], partition: int) -> dict:
    """What `read_columns` returns, from one aggregate row: PostgreSQL sends the rows' ids and
    keys as two texts and the numbers as one bytea of binary float8s (NULL as NaN, as the row
    reader converts it), so the driver makes a handful of Python objects instead of ten per row (psycopg's per-value conversion was most of
    the read at 1M sessions). Every aggregate of one Agg node sees its input rows in the same
    order, and with parallel workers off that input is the plain scan the row reader gets, so
    rows, codes and levels are the same (the keys go through the encoder in the row reader's
    partitions)."""
    c = table.c
    strings = _string_columns(table, strings)
    nan = literal_column("'NaN'::float8")
    floats = [func.float8send(func.coalesce(cast(expr, Float(53)), nan)) for expr in numbers.values()]
    packed = floats[0]
    for value in floats[1:]:
        packed = packed.op("||")(value)
    inner = select(c.session_id.label("sid"), _flagged_key(current, strings).label("key"),
                   packed.label("numbers")).where(where).subquery()
    query = select(func.count(), func.string_agg(inner.c.sid, RECORD_SEPARATOR),
                   func.string_agg(inner.c.key, RECORD_SEPARATOR),
                   func.string_agg(inner.c.numbers, literal_column("''::bytea")))
    with read_connection(engine) as conn:
        conn.execute(text(SERIAL_SCAN))
        n, sids, keys, packed_rows = conn.execute(query).one()
    # Each big value is dropped once it is converted, and each number column is converted straight
    # from the received bytes: the peak of the read (and of the scan beside it) stays lower.
    encoder = _KeyEncoder(tuple(strings))
    keys_ = _split_text(keys, n)
    del keys
    for start in range(0, n, partition):
        encoder.add(keys_[start:start + partition])
    del keys_
    out: dict = {"session_id": _split_text(sids, n), "is_current": encoder.is_current()}
    del sids
    out.update(encoder.result())
    block = _float8_rows(packed_rows, n, len(numbers))
    out.update({name: block[:, j].astype(np.float64) for j, name in enumerate(numbers)})
    return out
