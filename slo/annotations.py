"""Markers for every time axis: rollout registrations and rollbacks (from the audit log),
silences (the alert router's table) and maintenance windows (`slo.maintenance`: the config's and
the API's, spans in event time), as `{t, end, kind, text, ...}` in event time where known.

Charts are drawn in event time (a replay's day, hours behind the wall clock), so each marker is
placed at the event time its record holds: a rollback's `event_at` (the evaluation time that
judged it), a registration's `since` (when the canary's judged data starts) when it gave one, a
silence's `starts_at`/`ends_at` (the times the dispatcher compares with the evaluation time).
Only a registration without `since` has nothing but the wall clock of its request (`time_basis`
says which: event, wall, or "as given" for a silence, whose times are whatever its creator set).
A registration placed at its spec's `since` marks where the canary's judged data starts, not
when it was registered, and its text says so ("judged from here"). A silence expired by hand has
its expiry on the wall clock: it is not drawn on the event-time axis (the marker ends at the
silence's own `ends_at`) but given as `expired_at` and named in the text as wall-clock time.
As in Grafana's annotations (`time`, `timeEnd`, `text`: grafana/grafana
docs/sources/developers/http_api/annotations.md), a marker may span time and has an `end`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine

from collector.store import AuditEntry, read_connection
from slo.maintenance import MaintenanceWindow
from slo.maintenance_store import windows_between
from slo.router.models import SilenceRow

REGISTER, ROLLBACK = "rollout.register", "rollout.rollback"
MAX_ROWS = 1000  # per kind: a chart shows a handful of markers


def _event_since(evidence: dict[str, Any] | None) -> datetime | None:
    raw = (evidence or {}).get("since")
    if not raw:
        return None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None


def _audit_marker(row, t: datetime, basis: str, registered_at: bool = True) -> dict[str, Any]:
    """`registered_at`: whether `t` is the registration's own time (its event_at, or its wall
    clock), not the spec's `since` it judges from."""
    kind = "rollout" if row.action == REGISTER else "rollback"
    evidence = row.evidence or {}
    if kind == "rollout":
        versions = f"canary {evidence.get('canary_version', '?')} vs baseline {evidence.get('baseline_version', '?')}"
        if not registered_at:
            text = f"rollout {row.target}: {versions} judged from here (the spec's since)"
        else:
            text = f"rollout {row.target} registered{' (wall clock)' if basis == 'wall' else ''}: {versions}"
    else:
        text = f"rollback of {row.target}: {row.reason}"[:300]
    return {"t": t.isoformat(), "end": None, "kind": kind, "text": text, "target": row.target,
            "actor": row.actor, "time_basis": basis}


def annotations(engine: Engine, since: datetime, until: datetime,
                configured: Sequence[MaintenanceWindow] = ()) -> list[dict[str, Any]]:
    """Markers at or overlapping [since, until), oldest first. `configured`: the config's
    maintenance windows (the API's are read from their table)."""
    audit, silences = AuditEntry.__table__, SilenceRow.__table__
    out: list[dict[str, Any]] = []
    with read_connection(engine) as conn:
        for window in windows_between(conn, configured, since, until)[:MAX_ROWS]:
            out.append(_maintenance_marker(window))
        # Rollbacks by their event time (the wall clock only for rows from before event_at existed).
        rollbacks = conn.execute(select(audit).where(audit.c.action == ROLLBACK, or_(
            and_(audit.c.event_at >= since, audit.c.event_at < until),
            and_(audit.c.event_at.is_(None), audit.c.at >= since, audit.c.at < until)))
            .order_by(audit.c.id).limit(MAX_ROWS)).all()
        for row in rollbacks:
            out.append(_audit_marker(row, row.event_at or row.at, "event" if row.event_at else "wall"))
        # Registrations: their event time lives in the evidence (the spec's `since`), so filter here.
        for row in conn.execute(select(audit).where(audit.c.action == REGISTER)
                                .order_by(audit.c.id.desc()).limit(MAX_ROWS)).all():
            event = row.event_at or _event_since(row.evidence)
            t = event or row.at
            if since <= t < until:
                out.append(_audit_marker(row, t, "event" if event else "wall", registered_at=row.event_at is not None
                                         or event is None))
        for row in conn.execute(select(silences).where(silences.c.starts_at < until, silences.c.ends_at > since)
                                .order_by(silences.c.starts_at).limit(MAX_ROWS)).all():
            matchers = ", ".join(_matcher_text(m) for m in row.matchers or [])
            expired = f" (expired by hand at {row.expired_at:%Y-%m-%d %H:%M} UTC, wall clock)" if row.expired_at else ""
            out.append({"t": row.starts_at.isoformat(), "end": row.ends_at.isoformat(), "kind": "silence",
                        "text": (f"silence {matchers}: {row.comment}"[:240] + expired), "target": row.id,
                        "actor": row.created_by, "time_basis": "as given",
                        "expired_at": row.expired_at.isoformat() if row.expired_at else None})
    out.sort(key=lambda a: (a["t"], a["kind"]))
    return out


def _maintenance_marker(window: MaintenanceWindow) -> dict[str, Any]:
    # A span in event time: its events count in no budget nor alert of the SLOs it applies to.
    scope = ", ".join(f"{k}={v}" for k, v in window.labels) or "all traffic"
    slos = ", ".join(window.slos) or "every SLO"
    reason = f": {window.reason}" if window.reason else ""
    return {"t": window.starts_at.isoformat(), "end": window.ends_at.isoformat(), "kind": "maintenance",
            "text": f"maintenance {window.name}{reason} ({slos}; {scope}; not counted in the budget)"[:300],
            "target": window.id, "actor": window.created_by, "time_basis": "event", "source": window.source}


def _matcher_text(matcher: dict[str, Any]) -> str:
    # Alertmanager v2 matcher dicts: {name, value, isRegex, isEqual}.
    op = ("=~" if matcher.get("isRegex") else "=") if matcher.get("isEqual", True) else \
        ("!~" if matcher.get("isRegex") else "!=")
    return f"{matcher.get('name')}{op}{matcher.get('value')}"
