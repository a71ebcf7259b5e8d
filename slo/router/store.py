"""SQL for the router: silences, tickets, the notification log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from slo.router import matchers as m
from slo.router.dispatcher import Notification, Silence
from slo.router.models import NotificationLog, SilenceRow, TicketRow
from slo.router.payloads import ticket_fields


def _silence(row: SilenceRow) -> Silence:
    return Silence(row.id, tuple(m.from_dict(d) for d in row.matchers), row.starts_at,
                   row.expired_at or row.ends_at, row.created_by, row.comment)


def silence_dict(row: SilenceRow, at: datetime) -> dict[str, Any]:
    ends = row.expired_at or row.ends_at
    state = "expired" if at >= ends else ("active" if at >= row.starts_at else "pending")
    return {"id": row.id, "matchers": row.matchers, "startsAt": row.starts_at.isoformat(),
            "endsAt": ends.isoformat(), "createdBy": row.created_by, "comment": row.comment,
            "status": {"state": state}}


def create_silence(engine: Engine, *, matchers: list[m.Matcher], starts_at: datetime, ends_at: datetime,
                   created_by: str, comment: str, at: datetime) -> SilenceRow:
    if not matchers:
        raise ValueError("matchers: at least one matcher is required")
    if ends_at <= starts_at:
        raise ValueError("endsAt: must be after startsAt")
    row = SilenceRow(id=str(uuid.uuid4()), matchers=[x.to_dict() for x in matchers], starts_at=starts_at,
                     ends_at=ends_at, created_by=created_by, comment=comment, created_at=at, expired_at=None)
    with OrmSession(engine, expire_on_commit=False) as s, s.begin():
        s.add(row)
    return row


def list_silences(engine: Engine) -> list[SilenceRow]:
    with OrmSession(engine) as s:
        return list(s.scalars(select(SilenceRow).order_by(SilenceRow.created_at)))


def expire_silence(engine: Engine, silence_id: str, at: datetime) -> SilenceRow | None:
    with OrmSession(engine, expire_on_commit=False) as s, s.begin():
        row = s.get(SilenceRow, silence_id)
        if row is not None and row.expired_at is None:
            row.expired_at = max(at, row.starts_at)
        return row


def active_silences(engine: Engine, at: datetime) -> list[Silence]:
    with OrmSession(engine) as s:
        rows = s.scalars(select(SilenceRow).where(SilenceRow.ends_at > at))
        return [_silence(r) for r in rows if r.expired_at is None or r.expired_at > at]


def log_delivery(engine: Engine, note: Notification, receiver: str, kind: str, *, delivered: bool,
                 attempts: int, http_status: int | None, error: str | None) -> None:
    alerts = [{"fingerprint": a.fingerprint, "alertname": a.name, "severity": a.severity,
               "status": "resolved" if a.resolved else "firing", "labels": dict(a.labels)} for a in note.alerts]
    with OrmSession(engine) as s, s.begin():
        s.add(NotificationLog(notification_id=note.id, at=note.at, receiver=receiver, kind=kind,
                              group_key=note.group_key, status=note.status, alerts=alerts,
                              delivered=delivered, attempts=attempts, http_status=http_status, error=error))


def list_notifications(engine: Engine, *, since: datetime | None, until: datetime | None,
                       receiver: str | None, limit: int) -> list[dict[str, Any]]:
    q = select(NotificationLog).order_by(NotificationLog.at.desc(), NotificationLog.id.desc()).limit(limit)
    if since is not None:
        q = q.where(NotificationLog.at >= since)
    if until is not None:
        q = q.where(NotificationLog.at <= until)
    if receiver:
        q = q.where(NotificationLog.receiver == receiver)
    with OrmSession(engine) as s:
        return [{"id": r.id, "notification_id": r.notification_id, "at": r.at.isoformat(), "receiver": r.receiver,
                 "kind": r.kind, "group_key": r.group_key, "status": r.status, "alerts": r.alerts,
                 "delivered": r.delivered, "attempts": r.attempts, "http_status": r.http_status,
                 "error": r.error} for r in s.scalars(q)]


def upsert_ticket(engine: Engine, note: Notification, receiver: str, team: str, *,
                  external_url: str | None = None) -> TicketRow | None:
    """Open (or update) the group's ticket while it fires; close it when it resolves."""
    fields = ticket_fields(note, external_url=external_url)
    with OrmSession(engine, expire_on_commit=False) as s, s.begin():
        row = s.scalars(select(TicketRow).where(TicketRow.group_key == note.group_key, TicketRow.status == "open")
                        .order_by(TicketRow.id.desc()).limit(1)).first()
        if note.status == "resolved":
            if row is not None:
                row.status, row.closed_at, row.updated_at = "closed", note.at, note.at
                row.body = fields["body"]
            return row
        if row is None:
            row = TicketRow(group_key=note.group_key, receiver=receiver, team=team or fields["team"],
                            status="open", title=fields["title"], body=fields["body"], labels=fields["labels"],
                            alerts=fields["alerts"], opened_at=note.at, updated_at=note.at, closed_at=None)
            s.add(row)
        else:
            row.body, row.alerts, row.updated_at = fields["body"], fields["alerts"], note.at
        return row


def ticket_dict(row: TicketRow) -> dict[str, Any]:
    return {"id": row.id, "group_key": row.group_key, "receiver": row.receiver, "team": row.team,
            "status": row.status, "title": row.title, "body": row.body, "labels": row.labels,
            "alerts": row.alerts, "opened_at": row.opened_at.isoformat(), "updated_at": row.updated_at.isoformat(),
            "closed_at": row.closed_at.isoformat() if row.closed_at else None}


def list_tickets(engine: Engine, *, status: str | None, team: str | None, limit: int) -> list[dict[str, Any]]:
    q = select(TicketRow).order_by(TicketRow.id.desc()).limit(limit)
    if status:
        q = q.where(TicketRow.status == status)
    if team:
        q = q.where(TicketRow.team == team)
    with OrmSession(engine) as s:
        return [ticket_dict(r) for r in s.scalars(q)]
