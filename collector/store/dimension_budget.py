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
- rows are never deleted, so a value once admitted stays admitted, and once a dimension is full
  in committed rows it stays full (under the same limit). Each process caches the admitted
  values it has seen; once a dimension is found full it loads the dimension's whole admitted set
  once and from then on folds every other value with no query, no lock and no per-value cache
  (a flood of new values costs nothing but the set lookup).
- what a transaction decided from its own inserts (values it admitted) and the sessions it
  folded reach this process's cache and counter only after the transaction committed: ingest
  writes through `committed_write`, which applies them once `write_transaction` returned from
  the DBAPI commit. SQLAlchemy's `commit` connection event would be too early: it fires in
  `Connection._commit_impl` before the DBAPI commit, so a failed commit would leave values
  cached as admitted with no row behind them and sessions counted that were never stored.
`unknown` (unset), `__other__` itself and pinned values (those an SLO filter names) are always
kept and never counted. So are, in a full dimension, the baseline and canary versions of active
rollouts and the values their `protected_slices` name (in whichever dimension, a configured one
too): before a value folds, the `rollouts` table is read (plain SQL: the store does not import
`slo`), so a rollout registered on any replica keeps its versions' and protected slices' own
rollups, which its judge reads. (Where the dimension still has room they are admitted like any
other value, and then stay: a promoted canary keeps its slice.)
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine

from collector.store.database import dialect_insert, write_transaction
from collector.store.dimensions import dimensions_of
from collector.store.leader import lock_key
from collector.store.models import ROLLUP_COLUMNS, DimensionValue
from collector.store.per_engine import PerEngine

log = logging.getLogger("asrwatch.cardinality")

OTHER = "__other__"
UNKNOWN = "unknown"  # as `collector.store.session_batch.UNKNOWN` (imported from here would be circular)
DEFAULT_DIMENSION_VALUES_MAX = 1000
_LOCK_KEY = lock_key("asrwatch-dimension-values")
_TABLE = DimensionValue.__table__
_CHUNK = 500  # values per IN (...) (SQLite allows 999 parameters per statement)
# The rollouts table belongs to slo.rollout (slo/rollout/models.py, migration 0004); read as text.
_NODE_DIMENSIONS = frozenset({"node", "pool"})  # `collector.store.node_rollups` decides these alone
_ACTIVE_ROLLOUTS = text("SELECT baseline_version, canary_version, protected_slices FROM rollouts "
                        "WHERE state = 'active'")


@dataclass
class _Pending:
    """What one write transaction decided: applied to the budget only once it committed."""

    admitted: dict[str, set[str]] = field(default_factory=dict)
    folded_sessions: dict[str, float] = field(default_factory=dict)
    full: set[str] = field(default_factory=set)  # dimensions this transaction filled


@dataclass
class DimensionBudget:
    """One engine's budget: the limit, pinned values, and what this process knows already."""

    limit: int = DEFAULT_DIMENSION_VALUES_MAX
    pinned: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # The slice dimensions, and `node` (the node rollups': `collector.store.node_rollups`).
    _admitted: dict[str, set[str]] = field(default_factory=lambda: {d: set() for d in (*ROLLUP_COLUMNS, "node")})
    _full: set[str] = field(default_factory=set)  # dimensions full in committed rows, admitted set loaded
    _rollout_versions: frozenset[str] = frozenset()  # active rollouts' versions, as last read
    _protected: Mapping[str, frozenset[str]] = field(default_factory=dict)  # column -> their protected values
    _open: dict[int, _Pending] = field(default_factory=dict)  # id(connection) -> its transaction's decisions
    folded_sessions: dict[str, float] = field(default_factory=dict)  # dimension -> sessions folded
    names: Mapping[str, str] = field(default_factory=dict)  # a configured dimension's slot -> its name (logs)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if int(self.limit) < 1:
            raise ValueError(f"metrics_label_values_max: must be at least 1, got {self.limit}")
        self.limit = int(self.limit)

    def kept(self, dimension: str, value: str, rollouts: bool = True) -> bool | None:
        """True: the value keeps its own slice; False: it folds into `__other__`; None: not
        decided yet in this process (ingest decides every value it stores)."""
        if value in (UNKNOWN, OTHER) or value in self.pinned.get(dimension, ()):
            return True
        admitted = self._admitted.get(dimension)
        if admitted is None:
            return None  # not a stored dimension: the caller's own rule
        if value in admitted:
            return True
        if rollouts and ((dimension == "model_version" and value in self._rollout_versions)
                         or value in self._protected.get(dimension, ())):
            return True  # as last read: ingest asks the store again (a rollout may have ended)
        if dimension in self._full:
            return False
        return None

    def decide(self, conn: Connection, values: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
        """The values (per dimension) that fold into `__other__`, admitting new ones while their
        dimension has room. Runs in the caller's write transaction; takes the lock only when some
        value is undecided in a dimension not known to be full."""
        folded: dict[str, set[str]] = {}
        undecided: dict[str, list[str]] = {}
        for dim, vs in values.items():
            for v in set(vs):
                kept = self.kept(dim, v, rollouts=False)
                if kept is None:
                    undecided.setdefault(dim, []).append(v)
                elif kept is False:
                    folded.setdefault(dim, set()).add(v)
        if undecided:
            if conn.dialect.name == "postgresql":
                # Held to commit: admissions of concurrent replicas happen one after the other,
                # each counting the rows the one before committed (READ COMMITTED).
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            for dim, candidates in undecided.items():
                gone = self._admit(conn, dim, sorted(candidates))
                if gone:
                    folded.setdefault(dim, set()).update(gone)
        if folded.keys() - _NODE_DIMENSIONS:
            # A rollout's versions and protected slices never fold (registered on any replica, so
            # asked of the store). Not for the node rollups' dimensions alone: no rollout slices by them.
            self._rollout_versions, self._protected = _active_rollouts(conn)
            if "model_version" in folded:
                folded["model_version"] -= self._rollout_versions
            for dim, keep in self._protected.items():
                if dim in folded:
                    folded[dim] -= keep
        return {d: vs for d, vs in folded.items() if vs}

    def _admit(self, conn: Connection, dim: str, candidates: list[str]) -> set[str]:
        count = conn.execute(select(func.count()).select_from(_TABLE).where(_TABLE.c.dimension == dim)).scalar() or 0
        pending = self._open.get(id(conn))
        if count >= self.limit:
            # Full: load the admitted set once; from now on other values fold without asking.
            admitted = set(conn.execute(select(_TABLE.c.value).where(_TABLE.c.dimension == dim)).scalars())
            if pending is not None and dim not in pending.admitted:  # full in committed rows: for good
                with self._lock:
                    self._admitted[dim].update(admitted)
                    self._full.add(dim)
            elif pending is not None:  # counting this transaction's own rows: once it commits
                pending.admitted[dim].update(admitted)
                pending.full.add(dim)
            return {v for v in candidates if v not in admitted}
        present: set[str] = set()
        for start in range(0, len(candidates), _CHUNK):
            chunk = candidates[start:start + _CHUNK]
            present.update(conn.execute(select(_TABLE.c.value).where(
                _TABLE.c.dimension == dim, _TABLE.c.value.in_(chunk))).scalars())
        with self._lock:
            self._admitted[dim].update(present)  # committed rows (what this transaction wrote nothing to)
        new = [v for v in candidates if v not in present]
        room = max(0, self.limit - count)
        admit, fold = new[:room], set(new[room:])
        if admit:
            conn.execute(dialect_insert(conn, _TABLE).on_conflict_do_nothing(index_elements=["dimension", "value"]),
                         [{"dimension": dim, "value": v} for v in admit])
        if pending is not None:  # remembered once committed; outside `committed_write`, asked again
            if admit:
                pending.admitted.setdefault(dim, set()).update(admit)
            if fold:
                # Full once this commits: its whole admitted set (this transaction's rows too),
                # so that afterwards other values fold without asking. Refused values are never
                # cached one by one.
                pending.admitted.setdefault(dim, set()).update(
                    conn.execute(select(_TABLE.c.value).where(_TABLE.c.dimension == dim)).scalars())
                pending.full.add(dim)
        return fold

    def count_folded_on_commit(self, conn: Connection, sessions: Mapping[str, float]) -> None:
        """Count folded sessions per dimension once the caller's transaction has committed (a
        batch rolled back, or whose commit failed, is not counted; one retried is counted once).
        Only writes through `committed_write` are counted."""
        pending = self._open.get(id(conn))
        if pending is None:
            return
        for dim, n in sessions.items():
            if n:
                pending.folded_sessions[dim] = pending.folded_sessions.get(dim, 0.0) + n

    def committed(self, pending: _Pending) -> None:
        """Apply a committed transaction's decisions: its admitted values and folded sessions."""
        with self._lock:
            for dim, vs in pending.admitted.items():
                self._admitted[dim].update(vs)
            self._full.update(pending.full)
        for dim, n in pending.folded_sessions.items():
            self.count_folded(dim, n)

    def count_folded(self, dimension: str, sessions: float) -> None:
        if not sessions:
            return
        with self._lock:
            first = dimension not in self.folded_sessions
            self.folded_sessions[dimension] = self.folded_sessions.get(dimension, 0.0) + sessions
        if first:  # one line per dimension and process, never one per session
            log.warning("cardinality: dimension %s has %d distinct values (metrics_label_values_max); "
                        "sessions with further values are stored and labelled as %s", self.names.get(dimension, dimension),
                        self.limit, OTHER)


def _active_rollouts(conn: Connection) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """The active rollouts' versions, and per column the values their protected slices name (a
    configured dimension's name mapped to its slot; one no longer configured is skipped)."""
    dims = dimensions_of(conn.engine)
    versions: set[str] = set()
    protected: dict[str, set[str]] = {}
    for baseline, canary, selectors in conn.execute(_ACTIVE_ROLLOUTS):
        versions.update((baseline, canary))
        # Read as plain SQL: SQLite hands the JSON column back as its text, PostgreSQL parsed.
        # The API validated it; a row edited by hand into another shape is skipped, never fails ingest.
        with contextlib.suppress(ValueError):
            selectors = json.loads(selectors) if isinstance(selectors, str) else selectors
        for selector in selectors if isinstance(selectors, list) else ():
            for name, value in selector.items() if isinstance(selector, dict) else ():
                if name in dims.names:
                    protected.setdefault(dims.column(name), set()).add(str(value))
    return frozenset(versions), {column: frozenset(values) for column, values in protected.items()}


@contextmanager
def committed_write(engine: Engine) -> Iterator[Connection]:
    """`write_transaction` for writes that fold rollups: the budget's decisions made in it and the
    sessions it folded are applied to this process's budget only after the commit returned (never
    when the block raised or the commit itself failed)."""
    budget = budget_of(engine)
    pending = _Pending()
    with write_transaction(engine) as conn:
        key = id(conn)
        budget._open[key] = pending
        try:
            yield conn
        finally:
            budget._open.pop(key, None)
    budget.committed(pending)


_BUDGETS: PerEngine[DimensionBudget] = PerEngine(DimensionBudget)


def configure(engine: Engine, limit: int = DEFAULT_DIMENSION_VALUES_MAX,
              pinned: Mapping[str, Iterable[str]] | None = None) -> DimensionBudget:
    """Set the engine's budget (the collector does this at start from its settings)."""
    return _BUDGETS.set(engine, DimensionBudget(limit, {d: frozenset(v) for d, v in (pinned or {}).items()}))


def budget_of(engine: Engine) -> DimensionBudget:
    """The engine's budget; the default one for an engine nobody configured."""
    return _BUDGETS.get(engine)
