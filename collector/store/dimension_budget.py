"""The cardinality budget: at most `limit` distinct values per slice dimension.

A value is admitted once, into the `dimension_values` table, while its dimension has room;
after that, new values of the dimension fold into `__other__` in the rollups (and on /metrics,
which asks this budget first), so neither a flood of label sets nor a `group_by` over them
grows without bound. The OpenTelemetry metrics SDK does the same per instrument: past its
cardinality limit (2000 by default), new attribute sets go to one overflow series marked
`otel.metric.overflow=true` (opentelemetry-specification, metrics/sdk.md "Cardinality limits";
https://opentelemetry.io/blog/2026/cardinality-limits-in-opentelemetry/). Here the limit is per
dimension, not per label set, so the values kept stay themselves in every other dimension.

The admitted set lives in the database, never only in a process, so it is the same after a
restart and on every replica:
- admission runs inside the ingest transaction that folds the rollups. On PostgreSQL it first
  takes a transaction-scoped advisory lock, so two replicas never both count 999 values and
  both admit a 1001st; on SQLite the write transaction (BEGIN IMMEDIATE) serializes it anyway;
- rows are never deleted, so a value once admitted stays admitted, and a value refused by a full
  dimension stays refused (under the same limit): each process caches both answers, and asks the
  database only about values it has not decided yet. A decision is cached only once it rests on
  committed rows, so a rolled-back batch leaves nothing wrong behind.
`unknown` (unset), `__other__` itself and pinned values (those an SLO filter names) are always
kept and never counted.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection, Engine

from collector.store.database import dialect_insert
from collector.store.leader import lock_key
from collector.store.models import ROLLUP_DIMENSIONS, DimensionValue

log = logging.getLogger("asrwatch.cardinality")

OTHER = "__other__"
UNKNOWN = "unknown"  # as `collector.store.session_batch.UNKNOWN` (imported from here would be circular)
DEFAULT_DIMENSION_VALUES_MAX = 1000
_LOCK_KEY = lock_key("asrwatch-dimension-values")
_TABLE = DimensionValue.__table__
_CHUNK = 500  # values per IN (...) (SQLite allows 999 parameters per statement)


@dataclass
class DimensionBudget:
    """One engine's budget: the limit, pinned values, and what this process knows already."""

    limit: int = DEFAULT_DIMENSION_VALUES_MAX
    pinned: Mapping[str, frozenset[str]] = field(default_factory=dict)
    _admitted: dict[str, set[str]] = field(default_factory=lambda: {d: set() for d in ROLLUP_DIMENSIONS})
    _folded: dict[str, set[str]] = field(default_factory=lambda: {d: set() for d in ROLLUP_DIMENSIONS})
    folded_sessions: dict[str, float] = field(default_factory=dict)  # dimension -> sessions folded
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if int(self.limit) < 1:
            raise ValueError(f"metrics_label_values_max: must be at least 1, got {self.limit}")
        self.limit = int(self.limit)

    def kept(self, dimension: str, value: str) -> bool | None:
        """True: the value keeps its own slice; False: it folds into `__other__`; None: not
        decided yet in this process (ingest decides every value it stores)."""
        if value in (UNKNOWN, OTHER) or value in self.pinned.get(dimension, ()):
            return True
        admitted = self._admitted.get(dimension)
        if admitted is None:
            return None  # not a stored dimension: the caller's own rule
        if value in admitted:
            return True
        if value in self._folded[dimension]:
            return False
        return None

    def decide(self, conn: Connection, values: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
        """The values (per dimension) that fold into `__other__`, admitting new ones while their
        dimension has room. Runs in the caller's write transaction."""
        undecided = {d: sorted({v for v in vs if self.kept(d, v) is None}) for d, vs in values.items()}
        undecided = {d: vs for d, vs in undecided.items() if vs}
        folded: dict[str, set[str]] = {}
        if undecided:
            if conn.dialect.name == "postgresql":
                # Held to commit: admissions of concurrent replicas happen one after the other,
                # each counting the rows the one before committed (READ COMMITTED).
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            for dim, candidates in undecided.items():
                folded[dim] = self._admit(conn, dim, candidates)
        for dim, vs in values.items():
            gone = {v for v in vs if self.kept(dim, v) is False}
            if gone:
                folded.setdefault(dim, set()).update(gone)
        return {d: vs for d, vs in folded.items() if vs}

    def _admit(self, conn: Connection, dim: str, candidates: list[str]) -> set[str]:
        present: set[str] = set()
        for start in range(0, len(candidates), _CHUNK):
            chunk = candidates[start:start + _CHUNK]
            present.update(conn.execute(select(_TABLE.c.value).where(
                _TABLE.c.dimension == dim, _TABLE.c.value.in_(chunk))).scalars())
        count = conn.execute(select(func.count()).select_from(_TABLE).where(_TABLE.c.dimension == dim)).scalar() or 0
        new = [v for v in candidates if v not in present]
        room = max(0, self.limit - count)
        admit, fold = new[:room], set(new[room:])
        if admit:
            conn.execute(dialect_insert(conn, _TABLE).on_conflict_do_nothing(index_elements=["dimension", "value"]),
                         [{"dimension": dim, "value": v} for v in admit])
        with self._lock:
            self._admitted[dim].update(present)  # committed rows (what this transaction wrote nothing to)
            if count >= self.limit:  # full in committed rows: these can never be admitted
                self._folded[dim].update(fold)
        if admit or (fold and count < self.limit):
            # Decided by this transaction's own inserts: remembered once they are committed.
            event.listen(conn, "commit", lambda _conn: self._remember(dim, admit, fold), once=True)
        return fold

    def _remember(self, dim: str, admitted: Iterable[str], folded: Iterable[str]) -> None:
        with self._lock:
            self._admitted[dim].update(admitted)
            self._folded[dim].update(folded)

    def count_folded_on_commit(self, conn: Connection, sessions: Mapping[str, float]) -> None:
        """Count folded sessions per dimension once the caller's transaction commits (a batch
        rolled back and retried is counted once)."""
        if any(sessions.values()):
            counts = dict(sessions)
            event.listen(conn, "commit", lambda _conn: [self.count_folded(d, n) for d, n in counts.items()], once=True)

    def count_folded(self, dimension: str, sessions: float) -> None:
        if not sessions:
            return
        with self._lock:
            first = dimension not in self.folded_sessions
            self.folded_sessions[dimension] = self.folded_sessions.get(dimension, 0.0) + sessions
        if first:  # one line per dimension and process, never one per session
            log.warning("cardinality: dimension %s has %d distinct values (metrics_label_values_max); "
                        "sessions with further values are stored and labelled as %s", dimension, self.limit, OTHER)


_BUDGETS: weakref.WeakKeyDictionary[Engine, DimensionBudget] = weakref.WeakKeyDictionary()
_BUDGETS_LOCK = threading.Lock()


def configure(engine: Engine, limit: int = DEFAULT_DIMENSION_VALUES_MAX,
              pinned: Mapping[str, Iterable[str]] | None = None) -> DimensionBudget:
    """Set the engine's budget (the collector does this at start from its settings)."""
    budget = DimensionBudget(limit, {d: frozenset(v) for d, v in (pinned or {}).items()})
    with _BUDGETS_LOCK:
        _BUDGETS[engine] = budget
    return budget


def budget_of(engine: Engine) -> DimensionBudget:
    """The engine's budget; the default one for an engine nobody configured."""
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(engine)
        if budget is None:
            budget = _BUDGETS[engine] = DimensionBudget()
        return budget
