"""Both windows' sessions as numpy columns, read with as few Python objects per row as possible.

At a million sessions the read, not the scan, was the slow part: the driver makes one Python
object per value, and turning 14 columns of row tuples into arrays cost as much again. So:

- the six categorical columns come as one string per row (joined in SQL with a separator that
  cannot be typed), which is encoded once per distinct combination, not once per value;
- each partition's rows become one 2-D object array in a single numpy call, whose columns
  convert to floats (NULL as NaN) in C, instead of a transposition into one tuple per column.

The result is exactly what the per-column reader (`drift.source.load_sessions_per_column`)
returns: the same rows in the same order (same WHERE, so the same plan), the same codes and the
same level order (each partition's new levels are added in the order the per-column encoder's
`set()` meets them, which depends only on the distinct values in first-seen order). A value that
contains the separator makes the joined key ambiguous; then this falls back to that reader.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sqlalchemy import case, func, literal, select
from sqlalchemy.engine import Engine

from drift.features import Encoded, encode

SEPARATOR = "\x1f"  # ASCII unit separator: no slice label a fleet sends contains it


class AmbiguousKey(Exception):
    """A categorical value contains SEPARATOR; the joined key cannot be split back."""


def joined_key(columns):
    """`a || SEP || b || ...` with NULL as '' (the per-column encoder treats both as missing)."""
    expr = func.coalesce(columns[0], "")
    for col in columns[1:]:
        expr = expr.concat(literal(SEPARATOR)).concat(func.coalesce(col, ""))
    return expr


class _KeyEncoder:
    """Per-dimension codes from the joined key, partition by partition, with the per-column
    encoder's levels: a partition's distinct values, in first-seen order, go through `encode`,
    whose set() then iterates them as it would iterate the partition's whole column."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.levels: dict[str, list[str]] = {name: [] for name in names}
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
        self._known: dict[str, list[str]] = {}

    def add(self, keys: np.ndarray) -> None:
        first_seen = dict.fromkeys(keys.tolist())  # combinations in first-seen order
        index = {key: i for i, key in enumerate(first_seen)}
        combo = np.fromiter(map(index.__getitem__, keys.tolist()), dtype=np.int64, count=len(keys))
        split = [self._split(key) for key in first_seen]
        for j, name in enumerate(self.names):
            # A value first seen in combination k is first seen in the rows at that combination's first row.
            values = list(dict.fromkeys(values[j] for values in split))
            enc = encode(values, self.levels[name])
            self.levels[name] = enc.levels
            code_of = dict(zip(values, enc.codes.tolist()))
            per_combo = np.array([code_of[values[j]] for values in split], dtype=np.int32)
            self.parts[name].append(per_combo[combo])

    def _split(self, key: str) -> list[str]:
        values = self._known.get(key)  # most combinations recur in every partition
        if values is None:
            values = self._known[key] = key.split(SEPARATOR)
            if len(values) != len(self.names):
                raise AmbiguousKey
        return values

    def result(self) -> dict[str, Encoded]:
        return {name: Encoded(np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32), self.levels[name])
                for name, parts in self.parts.items()}


def read_columns(engine: Engine, table, where, current, strings: tuple[str, ...], numbers: dict[str, object],
                 partitions: Callable) -> dict:
    """session_id, is_current, encoded `strings`, float `numbers` (name -> SQL expression)."""
    c = table.c
    query = select(c.session_id, case((current, 1), else_=0), joined_key([c[name] for name in strings]),
                   *numbers.values()).where(where)
    ids: list[np.ndarray] = []
    flags: list[np.ndarray] = []
    floats: dict[str, list[np.ndarray]] = {name: [] for name in numbers}
    encoder = _KeyEncoder(strings)
    for rows in partitions(engine, query):
        table_ = np.array(rows, dtype=object)  # one call: rows x columns, no per-column tuples
        ids.append(table_[:, 0])
        flags.append(table_[:, 1].astype(bool))
        encoder.add(table_[:, 2])
        for j, name in enumerate(numbers, start=3):
            floats[name].append(table_[:, j].astype(np.float64))  # None -> NaN
    out: dict = {
        "session_id": np.concatenate(ids) if ids else np.zeros(0, dtype=object),
        "is_current": np.concatenate(flags) if flags else np.zeros(0, dtype=bool),
    }
    out.update(encoder.result())
    out.update({name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in floats.items()})
    return out
