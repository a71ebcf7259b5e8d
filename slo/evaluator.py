"""The evaluator job inside `asrwatch serve` (`evaluator_job`, run by `asrwatch.jobs`): every
`evaluator_interval_s` it evaluates every SLO at now, records alert state transitions (starts_at,
resolved_at) in `slo_alert_state`, and hands the alerts to the hooks (`Services.alert_hooks`: the
alert router's, from `slo.router.routes.router_hook`).

With several replicas on PostgreSQL one of them leads: it holds a session advisory lock
(`LeaderLock`, on its own connection) and is the only one that evaluates; when it dies its
connection closes, the server frees the lock, and another replica takes over on its next pass.
`asrwatch_slo_evaluator_leader` on /metrics is 1 on the leader and 0 elsewhere. Inside a pass a
transaction-scoped advisory lock still serializes the writes (a deposed leader finishing its
pass cannot interleave with the new one) and the unique (fingerprint, starts_at) index makes a
repeat harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import Gauge
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from asrwatch.jobs import Job
from asrwatch.settings import Settings
from collector.store import LeaderLock
from slo.alert import Alert
from slo.models import SLOAlertState
from slo.prometheus_source import PrometheusAPI, SLISourceUnavailable, held_open
from slo.series_cache import SeriesCache
from slo.snapshot import firing_alerts, slo_statuses

if TYPE_CHECKING:
    from asrwatch.services import Services

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


def record_transitions(engine: Engine, alerts: list[Alert], at: datetime,
                       held: Callable[[str, dict[str, str]], bool] | None = None) -> Transitions:
    """Diff the alerts firing at `at` against the open episodes, in one write transaction. An
    open episode that `held(slo, labels)` says the source did not judge stays open and keeps
    firing (so no hook resolves it): its data is missing (`slo.prometheus_source.held_open`),
    which is not the same as good."""
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
                    elif held is not None and held(row.slo, dict(row.labels or {})):
                        # Still firing as far as anyone can tell: the API and the router keep it.
                        row.last_evaluated_at = at
                        out.firing.append(row.to_alert())
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


def evaluate_once(engine: Engine, settings: Settings, at: datetime, hooks: Sequence[AlertHook] = (),
                  cache: SeriesCache | None = None, prometheus: PrometheusAPI | None = None) -> Transitions:
    """One pass. When the SLI source cannot answer (`SLISourceUnavailable`) it raises before
    anything is recorded: no alert starts or resolves on missing data."""
    statuses = slo_statuses(engine, settings, at, cache, prometheus)
    held = held_open(statuses) if settings.sli_source == "prometheus" else None
    result = record_transitions(engine, firing_alerts(statuses), at, held)
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


def evaluator_job(services: Services) -> Job:
    """Every `evaluator_interval_s`: judge every SLO at the collector's clock, record the
    transitions and hand them to the hooks (the alert router first). On PostgreSQL one replica
    leads (a session lock); on SQLite every process evaluates (one host: its write lock
    serializes the passes), so there is no lock to take."""
    engine, settings = services.engine, services.settings
    gauge = Gauge("asrwatch_slo_evaluator_leader", "1 while this replica is the SLO evaluator leader, else 0",
                  registry=services.metrics.registry)

    source_up = Gauge("asrwatch_sli_source_up", "1 when the SLO evaluator's last pass could read its SLI source "
                      "(sli_source), else 0", ["source"], registry=services.metrics.registry)

    def step(at: datetime) -> None:
        try:
            evaluate_once(engine, settings, at, list(services.alert_hooks), services.slo_series, services.prometheus)
        except SLISourceUnavailable as exc:
            # Nothing recorded, nothing resolved; one line per pass, not a traceback.
            source_up.labels(settings.sli_source).set(0)
            log.warning("SLO evaluation skipped: %s", exc)
            return
        source_up.labels(settings.sli_source).set(1)

    if engine.dialect.name != "postgresql":
        gauge.set(1)
    # An interval of 0 has always meant the default, not passes back to back.
    return Job("SLO evaluation", settings.evaluator_interval_s or 15.0, step, leadership_log="SLO evaluator", log=log,
               leader=LeaderLock(engine, LEADER_NAME) if engine.dialect.name == "postgresql" else None,
               on_leadership=lambda leading: gauge.set(1 if leading else 0))
