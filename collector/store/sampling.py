"""Sampled session storage: every session counts, only some are stored.

`store: {sessions: sample, sample_rate: 0.1, always: [failures, labeled, canary, probe]}` keeps a
deterministic share of the sessions plus every session of the classes in `always`; the rest are
folded into the rollups and counted on /metrics like any other, but their rows are not written.
A fleet past one machine stores the events it needs (failures to debug, labeled sessions to score,
a canary's sessions to judge, the probe's) and counts the rest, as Prometheus-style fleets do.

- The share is a hash of the session id (`sampled_in`), not a coin: every replica and every retry
  decides the same, and a labeling pipeline can tell which sessions are stored.
- `always` classes: `failures` (status other than ok), `labeled` (the sender marks a session it
  sends to labeling with `attributes.labeled: true`, so its sample finds it), `canary` (the canary
  version of an active rollout: the judge sees every canary session), `probe` (tenant `probe`, the
  reference probe's).
- A session not stored leaves its id in `session_keys` (migration 0018), so a retried batch is
  still counted once; keys are pruned after `dedupe_hours`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select, text
from sqlalchemy.engine import Connection, Engine

from collector.store.database import read_connection, write_transaction
from collector.store.id_lookup import ids_in
from collector.store.per_engine import PerEngine
from collector.store.models import SessionKey

ALWAYS_CLASSES = ("failures", "labeled", "canary", "probe")
PROBE_TENANT = "probe"  # inference_probe.records.PROBE_TENANT (the store does not import the probe)
LABELED_ATTRIBUTE = "labeled"
# The rollouts table belongs to slo.rollout (slo/rollout/models.py); read as text, as the budget does.
_ACTIVE_CANARIES = text("SELECT canary_version FROM rollouts WHERE state = 'active'")
_SCALE = 2.0 ** 64


@dataclass(frozen=True)
class StorePolicy:
    """`store:` as the collector applies it."""

    sessions: Literal["all", "sample"] = "all"
    sample_rate: float = 1.0
    always: tuple[str, ...] = ALWAYS_CLASSES
    dedupe_hours: float = 48.0

    @property
    def sampling(self) -> bool:
        return self.sessions == "sample" and self.sample_rate < 1.0


def sampled_in(session_id: str, rate: float) -> bool:
    """Pure: whether the session id falls in the stored share `rate` (the same everywhere)."""
    digest = hashlib.blake2b(session_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE < rate


def kept(policy: StorePolicy, session_ids: Sequence[str], statuses: Sequence[str], tenants: Sequence[str],
         versions: Sequence[str], labeled: Sequence[bool], canaries: frozenset[str]) -> list[bool]:
    """Pure: which sessions are stored under `policy` (all of them unless it samples)."""
    if not policy.sampling:
        return [True] * len(session_ids)
    always = set(policy.always)
    out = []
    for sid, status, tenant, version, flagged in zip(session_ids, statuses, tenants, versions, labeled):
        out.append(("failures" in always and status != "ok")
                   or ("labeled" in always and flagged)
                   or ("canary" in always and version in canaries)
                   or ("probe" in always and tenant == PROBE_TENANT)
                   or sampled_in(sid, policy.sample_rate))
    return out


def active_canaries(conn: Connection) -> frozenset[str]:
    return frozenset(row[0] for row in conn.execute(_ACTIVE_CANARIES))


_POLICIES: PerEngine[StorePolicy] = PerEngine(StorePolicy)


def configure(engine: Engine, policy: StorePolicy) -> StorePolicy:
    """Set the engine's store policy (the collector does at start from `store:`)."""
    return _POLICIES.set(engine, policy)


def policy_of(engine: Engine) -> StorePolicy:
    """The engine's policy: every session stored unless configured otherwise."""
    return _POLICIES.get(engine)


def prune_keys(engine: Engine, before: datetime) -> int:
    """Forget the ids of sessions not stored that were received before `before` (a retry comes
    long before); the count removed."""
    table = SessionKey.__table__
    with write_transaction(engine) as conn:
        return conn.execute(delete(table).where(table.c.received_at < before)).rowcount


def counted_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Of `ids`, those counted but not stored (sampled out)."""
    return ids_in(conn, "session_keys", ids)


def counted_only(engine: Engine, session_id: str) -> bool:
    """Whether the session was counted but not stored (sampled out)."""
    with read_connection(engine) as conn:
        return bool(counted_ids(conn, [session_id]))


_KEYS_TTL_S = 300.0  # how long a process trusts what it last found in `session_keys`
_KEYS_SEEN: PerEngine[tuple[float, bool] | None] = PerEngine(lambda: None)


def keys_pending(engine: Engine) -> bool:
    """Whether `session_keys` may hold ids (a sampling policy ran within `dedupe_hours`): then a
    store keeping every session still looks there, so a retry of a session once counted but not
    stored is not counted again after the policy changed (or on a replica with the other one)."""
    now = time.monotonic()
    seen = _KEYS_SEEN.get(engine)
    if seen is not None and now - seen[0] < _KEYS_TTL_S:
        return seen[1]
    with read_connection(engine) as conn:
        found = conn.execute(select(SessionKey.__table__.c.session_id).limit(1)).first() is not None
    _KEYS_SEEN.set(engine, (now, found))
    return found
