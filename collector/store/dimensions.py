"""Dimensions from config: names the fleet slices by besides the fixed six, each in a slot column.

`dimensions: [accent, mic_path, ...]` in the config names values senders put in a session's
`attributes` (over OTLP: the span's or resource's `asr.<name>` or `<name>` attribute). Each name
is stored in one of the slot columns `dim1`..`dim8` of `sessions`, `rollups` and `rollups_hourly`
(migration 0017), so a new dimension needs no schema change: the first collector that starts with
it assigns it the lowest slot never assigned (`dimension_slots`), and slots are never reused, so
values stored under a name are never read under another. Sessions and rollup rows stored before a
dimension was added read `unknown` in it, as do sessions that leave it unset.

`Dimensions` is one engine's mapping, name -> column; every query, the SLO engine, drift and
/metrics translate names through it (`dimensions_of(engine)`), so they take a configured
dimension wherever they take a fixed one. Engines nobody configured know the fixed six only.
Values obey the cardinality budget per slot (`collector.store.dimension_budget`) like the fixed
ones: past the limit they fold into `__other__` in the rollups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Table, func, literal, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement

from collector.store.database import dialect_insert, write_transaction
from collector.store.per_engine import PerEngine
from collector.store.leader import lock_key
from collector.store.models import (CUSTOM_SLOTS, ROLLUP_DIMENSIONS, DimensionSlot, NodeRollup, Rollup, Sample,
                                    Session)

UNKNOWN = "unknown"
# The slot columns' width, as for `region`, and in UTF-8 bytes too: with eight slots of 4-byte
# characters a rollup key would pass PostgreSQL's 2704-byte btree entry limit (rollups_pkey).
MAX_VALUE_LENGTH = 64
NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")  # a Prometheus label name, lower case
# Names a dimension may not take: the fixed ones, every session field (a filter `status=` or
# `node=` means the field), and the labels asrwatch sets itself on series and alerts.
# Queries read a dimension and a rollup's value columns side by side, and answer rows hold both,
# so no column of the rollups, samples or node rollups either; nor a query parameter of the read
# API or the console (a filter is a query parameter by its name), nor a key of a grouped answer.
RESERVED = frozenset({
    *Session.__table__.columns.keys(), *Rollup.__table__.columns.keys(), *Sample.__table__.columns.keys(),
    *NodeRollup.__table__.columns.keys(),
    "slo", "severity", "alertname", "le", "job", "instance", "sloth_id", "sloth_service", "sloth_slo",
    "sloth_severity", "sloth_window",
    "since", "until", "at", "step", "limit", "offset", "group_by", "kind", "order", "intervals", "min_wer",
    "quantiles", "resamples", "range", "as_of", "token", "page", "view",
    "pairs", "t", "minute", "hour", "group", "events", "good", "ok", "wer", "cer", "der", "utterances",
    "ref_words", "ref_chars", "insertion_rate", "entity_recall", "cost_usd", "cost_per_audio_minute",
    "cost_per_successful_turn", "audio_minutes", "by_backend", "previous", "change", "sli_value",
    "hallucination_rate", "cache_hit_rate", "fallback_share", "p50", "p95", "p99", "count", "value", "name",
})
_TABLE = DimensionSlot.__table__
_LOCK_KEY = lock_key("asrwatch-dimension-slots")


def check_names(names: Sequence[str]) -> tuple[str, ...]:
    """Pure: the configured names, or ValueError naming the first bad one (`dimensions[i]`)."""
    if len(names) > len(CUSTOM_SLOTS):
        raise ValueError(f"dimensions: at most {len(CUSTOM_SLOTS)}, got {len(names)}")
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str) or not NAME_PATTERN.match(name) or name.startswith("__"):
            raise ValueError(f"dimensions[{i}]: {name!r} is not a dimension name "
                             "(lower-case letters, digits and _, not starting with a digit nor __)")
        if name in RESERVED:
            raise ValueError(f"dimensions[{i}]: {name!r} is taken (a fixed dimension, a stored field, a query "
                             "parameter or a key of the API's answers)")
        if name in seen:
            raise ValueError(f"dimensions[{i}]: {name!r} is listed twice")
        seen.add(name)
    return tuple(names)


def value_of(value: Any, name: str) -> str | None:
    """A dimension's value as stored, from what the sender put in `attributes[name]`: strings as
    they are, whole numbers and booleans as text, None (unknown) for null or "". ValueError naming
    `attributes.<name>` for anything else. Runs for every value of every session: the common
    case (a short string) returns after a few C-level checks."""
    if type(value) is str:
        if value and (len(value) <= 16 or len(value.encode()) <= MAX_VALUE_LENGTH) and "\x00" not in value:
            return value
        if not value:
            return None
        if "\x00" in value:
            raise ValueError(f"attributes.{name}: must not contain NUL (\\u0000) characters")
        raise ValueError(f"attributes.{name}: a dimension's value is at most {MAX_VALUE_LENGTH} bytes (UTF-8), "
                         f"got {len(value.encode())}")
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value_of(str(value), name)
    raise ValueError(f"attributes.{name}: a dimension's value must be a string, a whole number or a "
                     f"boolean, got {type(value).__name__}")


def stored_value(value: Any) -> str | None:
    """A value `value_of` accepted as sent, once redacted (`SessionBatch`): redaction can make it
    longer (`[EMAIL]`), so it is cut to the column at a character boundary; what it replaced is gone."""
    if type(value) is not str:
        return value_of(value, "")
    if not value:
        return None
    if len(value) > 16 and len(value.encode()) > MAX_VALUE_LENGTH:
        return value.encode()[:MAX_VALUE_LENGTH].decode(errors="ignore")
    return value


_TEXT_OR_NONE = frozenset({str, type(None)})


def stored_values(values: Sequence[Any]) -> list[str | None]:
    """`stored_value` of each value. A batch holds few distinct values of a dimension: when all
    are strings (or unset), each distinct one is worked out once. (Only then: 1, 1.0 and True are
    equal as set members, but not as stored values.)"""
    if set(map(type, values)) <= _TEXT_OR_NONE:
        stored = {value: stored_value(value) for value in set(values)}
        return [stored[value] for value in values]
    return [stored_value(value) for value in values]


def attribute_problems(attributes: Sequence[Mapping[str, Any] | None], names: Sequence[str]) -> dict[int, str]:
    """`attribute_problem` of each session's attributes, by index, where it has one: each distinct
    string judged once per dimension (as `stored_values` does), anything else one by one."""
    suspects: set[int] = set()
    for name in names:
        values = [a.get(name) if a else None for a in attributes]
        if set(map(type, values)) <= _TEXT_OR_NONE and all(_accepted(v, name) for v in set(values)):
            continue
        suspects.update(i for i, value in enumerate(values) if not _accepted(value, name))
    problems = {i: attribute_problem(attributes[i], names) for i in sorted(suspects)}
    return {i: problem for i, problem in problems.items() if problem is not None}


def _accepted(value: Any, name: str) -> bool:
    try:
        value_of(value, name)
    except ValueError:
        return False
    return True


def attribute_problem(attributes: Mapping[str, Any] | None, names: Iterable[str]) -> str | None:
    """Why a session's `attributes` cannot give the configured dimensions their values (naming
    `attributes.<name>`), or None. Judged as sent; `stored_value` fits what redaction lengthens."""
    if not attributes:
        return None
    for name in names:
        try:
            value_of(attributes.get(name), name)
        except ValueError as exc:
            return str(exc)
    return None


@dataclass(frozen=True)
class Dimensions:
    """The dimensions queries take, and where each is stored: the fixed six in their own columns,
    configured ones (`custom`: name -> slot column) in slots."""

    custom: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return (*ROLLUP_DIMENSIONS, *self.custom)

    def column(self, name: str) -> str:
        """The column a dimension is stored in (KeyError for an unknown one: check first)."""
        if name in ROLLUP_DIMENSIONS:
            return name
        return self.custom[name]

    def check(self, names: Iterable[str], what: str = "group_by") -> None:
        for name in names:
            if name not in ROLLUP_DIMENSIONS and name not in self.custom:
                raise ValueError(f"{what}: unknown dimension {name!r} (one of {', '.join(self.names)})")

    def name_of(self, column: str) -> str:
        """The configured name of a slot column (the column itself for a fixed one)."""
        for name, slot in self.custom.items():
            if slot == column:
                return name
        return column

    def rollup_column(self, table: Table | Any, name: str) -> ColumnElement:
        """A rollup table's (or subquery's) column of the dimension, labelled with its name."""
        column = table.c[self.column(name)]
        return column if column.name == name else column.label(name)

    def session_column(self, table: Table | Any, name: str) -> ColumnElement:
        """`sessions`' column of the dimension, `unknown` where NULL, labelled with its name."""
        column = table.c[self.column(name)]
        if name in ROLLUP_DIMENSIONS:
            return column
        return func.coalesce(column, literal(UNKNOWN)).label(name)

    def session_match(self, table: Table | Any, name: str, values: str | Sequence[str]) -> ColumnElement:
        """WHERE: the session's value of the dimension is (one of) `values`."""
        wanted = [values] if isinstance(values, str) else list(values)
        column = table.c[self.column(name)]
        match = column.in_(wanted) if len(wanted) != 1 else column == wanted[0]
        if name not in ROLLUP_DIMENSIONS and UNKNOWN in wanted:
            return or_(match, column.is_(None))
        return match


FIXED_ONLY = Dimensions()  # an engine nobody configured
_REGISTRY: PerEngine[Dimensions] = PerEngine(lambda: FIXED_ONLY)


def assign_slots(conn: Connection, names: Sequence[str], at: datetime) -> dict[str, str]:
    """Every assigned name -> slot, assigning the lowest free slot to each of `names` that has none
    yet (in the caller's write transaction). ValueError when the slots are used up: each was
    assigned once, to a name that may since have left the config."""
    if conn.dialect.name == "postgresql":  # replicas starting together take slots one at a time
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    assigned = {row.name: row.slot for row in conn.execute(select(_TABLE.c.name, _TABLE.c.slot))}
    for name in names:
        if name in assigned:
            continue
        free = [s for s in CUSTOM_SLOTS if s not in assigned.values()]
        if not free:
            raise ValueError(f"dimensions: {name!r} needs a slot, and all {len(CUSTOM_SLOTS)} have been assigned "
                             f"({', '.join(sorted(assigned))}); a slot is never reused")
        conn.execute(dialect_insert(conn, _TABLE).on_conflict_do_nothing(index_elements=["name"]),
                     {"name": name, "slot": free[0], "assigned_at": at})
        # Another replica may have assigned it (or the slot) first: read back what stands.
        assigned = {row.name: row.slot for row in conn.execute(select(_TABLE.c.name, _TABLE.c.slot))}
        if name not in assigned:
            raise ValueError(f"dimensions: could not assign {name!r} a slot (another replica took {free[0]}); "
                             "start again")
    return assigned


def configure(engine: Engine, names: Sequence[str], at: datetime | None = None) -> Dimensions:
    """Assign the configured dimensions their slots (the schema must be migrated) and set the
    engine's mapping. Called at start by the collector and by commands that read the store."""
    names = check_names(names)
    if names:
        with write_transaction(engine) as conn:
            assigned = assign_slots(conn, names, at or datetime.now(timezone.utc))
        dims = Dimensions({name: assigned[name] for name in names})
    else:
        dims = FIXED_ONLY
    return _REGISTRY.set(engine, dims)


def dimensions_of(engine: Engine) -> Dimensions:
    """The engine's mapping (the fixed six for an engine nobody configured)."""
    return _REGISTRY.get(engine)
