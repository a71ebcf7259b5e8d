"""The evaluator loop inside `asrwatch serve`: every `evaluator_interval_s` it evaluates every
SLO at now, records alert state transitions (starts_at, resolved_at) in `slo_alert_state`, and
hands the alerts to the hooks (the alert router plugs in with `add_alert_hook`).

With several replicas on PostgreSQL one of them leads: it holds a session advisory lock
(`LeaderLock`, on its own connection) and is the only one that evaluates; when it dies its
connection closes, the server frees the lock, and another replica takes over on its next pass.
`asrwatch_slo_evaluator_leader` on /metrics is 1 on the leader and 0 elsewhere. Inside a pass a
transaction-scoped advisory lock still serializes the writes (a deposed leader finishing its
pass cannot interleave with the new one) and the unique (fingerprint, starts_at) index makes a
repeat harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from collector.store.clock import evaluation_time
from slo.alert import Alert
from slo.models import SLOAlertState
from collector.store.leader import LeaderLock
from slo.series_cache import SeriesCache
from slo.snapshot import firing_alerts, slo_statuses

log = logging.getLogger("asrwatch.slo.evaluator")
_LEADER_LOCK_ID = 0x736C6F65  # "sloe": the per-pass write lock
LEADER_NAME = "asrwatch-slo-evaluator"  # the leader's session lock (`LeaderLock` key)

# hook(firing, resolved, at): firing = every alert firing now (starts_at as recorded),
# resolved = the alerts that stopped firing in this pass (ends_at set).
AlertHook = Callable[[list[Alert], list[Alert], datetime], None]


@dataclass
class Transitions:
    firing: list[Alert] = field(default_factory=list)  # all firing now
    started: list[Alert] = field(default_factory=list)  # newly firing in this pass
    resolved: list[Alert] = field(default_factory=list)
    leader: bool = True


def record_transitions(engine: Engine, alerts: list[Alert], at: datetime) -> Transitions:
    """Diff the alerts firing at `at` against the open episodes, in one write transaction."""
    out = Transitions()
    current = {a.fingerprint: a for a in alerts}
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if engine.dialect.name == "postgresql":
                got = conn.execute(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _LEADER_LOCK_ID}).scalar()
                if not got:
                    out.leader = False
                    return out
            with OrmSession(bind=conn) as db:
                open_rows = {r.fingerprint: r for r in db.scalars(
                    select(SLOAlertState).where(SLOAlertState.resolved_at.is_(None)))}
                for fp, row in open_rows.items():
                    if fp in current:
                        alert = current[fp]
                        row.last_evaluated_at = at
                        row.summary = alert.summary
                        row.annotations = dict(alert.annotations)
                        out.firing.append(Alert(**{**alert.__dict__, "starts_at": row.starts_at}))
                    else:
                        row.resolved_at = at
                        row.last_evaluated_at = at
                        out.resolved.append(row.to_alert())
                for fp, alert in current.items():
                    if fp in open_rows:
                        continue
                    same_episode = db.scalars(select(SLOAlertState).where(
                        SLOAlertState.fingerprint == fp, SLOAlertState.starts_at == alert.starts_at)).first()
                    if same_episode is not None:
                        # Late data showed the episode never ended: reopen it rather than start anew.
                        same_episode.resolved_at = None
                        same_episode.last_evaluated_at = at
                        same_episode.summary = alert.summary
                        out.firing.append(alert)
                        out.started.append(alert)
                        continue
                    db.add(SLOAlertState(
                        fingerprint=fp, name=alert.name, slo=alert.labels.get("slo", ""),
                        severity=alert.severity, labels=dict(alert.labels), starts_at=alert.starts_at,
                        resolved_at=None, last_evaluated_at=at, summary=alert.summary,
                        runbook_url=alert.runbook_url, annotations=dict(alert.annotations), routed_to=[],
                    ))
                    out.firing.append(alert)
                    out.started.append(alert)
                db.flush()
    return out


def evaluate_once(engine: Engine, settings: Any, at: datetime, hooks: list[AlertHook] = (),  # type: ignore[assignment]
                  cache: SeriesCache | None = None) -> Transitions:
    alerts = firing_alerts(slo_statuses(engine, settings, at, cache))
    result = record_transitions(engine, alerts, at)
    if result.leader:
        for hook in hooks:
            try:
                hook(result.firing, result.resolved, at)
            except Exception:
                log.exception("alert hook %r failed", hook)
    return result


def record_routing(engine: Engine, fingerprint: str, starts_at: datetime, receivers: list[str]) -> None:
    """For the router: remember which receivers an episode was routed to (`routed_to` in the API)."""
    with engine.connect() as conn, conn.begin():
        with OrmSession(bind=conn) as db:
            row = db.scalars(select(SLOAlertState).where(
                SLOAlertState.fingerprint == fingerprint, SLOAlertState.starts_at == starts_at)).first()
            if row is not None:
                row.routed_to = sorted(set(row.routed_to or []) | set(receivers))
                db.flush()


def add_alert_hook(app: Any, hook: AlertHook) -> None:
    hooks = getattr(app.state, "slo_alert_hooks", None)
    if hooks is None:
        hooks = app.state.slo_alert_hooks = []
    hooks.append(hook)


def _leader_gauge(app: Any) -> Gauge | None:
    registry = getattr(getattr(app.state, "metrics", None), "registry", None)
    if registry is None:
        return None
    return Gauge("asrwatch_slo_evaluator_leader", "1 while this replica is the SLO evaluator leader, else 0",
                 registry=registry)


async def _still_leading(lock: LeaderLock | None, was_leading: bool) -> bool:
    """Try to (keep) lead; log the changes. SQLite: one host, every process evaluates (its
    write lock serializes the passes), so there is no lock to take."""
    if lock is None:
        return True
    try:
        leading = await asyncio.to_thread(lock.acquire)
    except Exception:
        log.exception("SLO evaluator: cannot reach the database to take the leader lock")
        leading = lock.is_leader
    if leading != was_leading:
        log.warning("SLO evaluator: this replica %s", "is now the leader" if leading else "is no longer the leader")
    return leading


async def evaluator_loop(app: Any) -> None:
    settings = app.state.settings
    engine = app.state.engine
    interval = float(getattr(settings, "evaluator_interval_s", 15.0) or 15.0)
    lock = LeaderLock(engine, LEADER_NAME) if engine.dialect.name == "postgresql" else None
    gauge = _leader_gauge(app)
    leading = False
    try:
        while True:
            leading = await _still_leading(lock, leading)
            if gauge is not None:
                gauge.set(1 if leading else 0)
            if leading:
                try:
                    at = await asyncio.to_thread(evaluation_time, engine, settings.evaluator_clock)
                    await asyncio.to_thread(evaluate_once, engine, settings, at,
                                            list(getattr(app.state, "slo_alert_hooks", [])),
                                            getattr(app.state, "slo_series", None))
                except Exception:
                    log.exception("SLO evaluation pass failed")
            await asyncio.sleep(interval)
    finally:
        if lock is not None:
            # A clean shutdown hands over at once; a crash does too, when the server drops the connection.
            await asyncio.to_thread(lock.release)
