"""Ticket-level findings to the alert router, deduplicated across evaluations.

A finding's fingerprint (its labels: alertname, feature, slice, team) opens one row in
`drift_findings`; later scans that show it again only refresh that row, and the first
scan that no longer shows it resolves it. Only openings and resolutions reach the
router, so an hourly scan of a week-long drift files one ticket, not 168.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from drift.findings import SEVERITY_RANK, Finding
from drift.models import DriftFindingState
from slo import Alert


@dataclass
class RoutingOutcome:
    opened: list[Alert] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)  # fingerprints
    resolved: list[Alert] = field(default_factory=list)
    delivered_to: list[str] = field(default_factory=list)


def team_for(finding: Finding, teams: dict[str, str]) -> str | None:
    version = finding.slice.get("model_version")
    return teams.get(version) if version else None


def _alert_of(row: DriftFindingState) -> Alert:
    return Alert(name=row.alertname, severity=row.severity, labels=dict(row.labels), summary=row.summary,
                 runbook_url=(row.evidence or {}).get("runbook_url", ""), starts_at=row.first_seen,
                 evidence=row.evidence or {})


def record_findings(engine: Engine, findings: Iterable[Finding], at: datetime,
                    teams: dict[str, str] | None = None) -> RoutingOutcome:
    """Update finding state for one scan at `at`; return what changed."""
    if at.tzinfo is None:
        raise ValueError("at: must be timezone-aware")
    teams = teams or {}
    outcome = RoutingOutcome()
    current = {}
    for f in findings:
        if SEVERITY_RANK[f.severity] >= SEVERITY_RANK["ticket"]:
            alert = f.to_alert(at, team_for(f, teams))
            current[alert.fingerprint] = (f, alert)
    with OrmSession(engine, expire_on_commit=False) as s, s.begin():
        open_rows = {r.fingerprint: r for r in s.scalars(select(DriftFindingState).where(DriftFindingState.status == "open"))}
        for fp, (f, alert) in current.items():
            row = open_rows.get(fp) or s.get(DriftFindingState, fp)
            if row is not None and row.status == "open":
                row.last_seen, row.occurrences = at, row.occurrences + 1
                row.severity, row.summary, row.evidence = f.severity, f.summary, alert.evidence
                outcome.refreshed.append(fp)
                continue
            if row is None:
                row = DriftFindingState(fingerprint=fp)
                s.add(row)
            row.alertname, row.feature, row.slice_key = alert.name, f.feature, f.slice_key
            row.severity, row.status, row.labels = f.severity, "open", dict(alert.labels)
            row.first_seen, row.last_seen, row.resolved_at, row.occurrences = at, at, None, 1
            row.summary, row.evidence = f.summary, alert.evidence
            outcome.opened.append(alert)
        for fp, row in open_rows.items():
            if fp not in current:
                row.status, row.resolved_at = "resolved", at
                outcome.resolved.append(_alert_of(row).resolve(at))
    return outcome


def route_findings(engine: Engine, findings: Iterable[Finding], at: datetime, process: Callable | None,
                   teams: dict[str, str] | None = None) -> RoutingOutcome:
    """Record the scan and hand openings/resolutions to `process(alerts, at)` (the alert
    router's `AlertRouter.process`); returns the outcome with the receivers reached."""
    outcome = record_findings(engine, findings, at, teams)
    changes = outcome.opened + outcome.resolved
    if process is not None and changes:
        deliveries = process(changes, at) or []
        outcome.delivered_to = sorted({d.notification.receiver for d in deliveries})
    return outcome


def flush_router(router, at: datetime):
    """A one-shot scan (CLI) cannot wait for the router's group_wait: tick at the moment
    every pending group is due."""
    due = [g.next_flush for g in router.dispatcher.groups.values()]
    return router.tick(max(due)) if due and max(due) > at else []
