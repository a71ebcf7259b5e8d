"""HTTP API of the alert router: silences (admin), tickets and the notification log (read).

`asrwatch.server` builds one `AlertRouter` (`Services.alert_router`); the SLO evaluator hands
it its transitions through `router_hook`, drift and the cost watch call it directly.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from collector.api import get_engine, parse_time, require_admin, require_read
from collector.store import API_ERRORS, LeaderLock, audit, error_responses
from slo.alert import Alert
from slo.evaluator import AlertHook, record_routing
from slo.router import matchers as m
from slo.router import store
from slo.router.service import AlertRouter

log = logging.getLogger("asrwatch.router")
router = APIRouter(tags=["alert router"], responses=API_ERRORS)
ROUTER_LEADER_NAME = "asrwatch-alert-router"


class SilenceIn(BaseModel):
    matchers: list[str | dict[str, Any]] = Field(min_length=1)
    startsAt: datetime | None = None  # noqa: N815 (Alertmanager's field names)
    endsAt: datetime | None = None  # noqa: N815
    duration: str | None = None  # alternative to endsAt, e.g. "2h"
    createdBy: str | None = None  # noqa: N815
    comment: str = Field(min_length=1)


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"{name}: needs a timezone offset")
    try:
        return value.astimezone(timezone.utc) if value else None
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        raise HTTPException(422, f"{name}: out of range") from None


def _named(field: str, parse: Any, value: Any) -> Any:
    """`parse(value)`, its ValueError prefixed with the body field it came from."""
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from exc
    except OverflowError:  # a date past year 9999
        raise ValueError(f"{field}: out of range") from None


@router.post("/api/v1/silences", status_code=201, responses=error_responses(400))
def create_silence(body: SilenceIn, engine: Engine = Depends(get_engine),
                   who: str = Depends(require_admin)) -> dict[str, Any]:
    from slo.router.config import seconds

    now = datetime.now(timezone.utc)
    try:
        matchers = _named("matchers", m.coerce, body.matchers)
        starts = _aware(body.startsAt, "startsAt") or now
        ends = _aware(body.endsAt, "endsAt")
        if ends is None:
            if not body.duration:
                raise ValueError("endsAt: give endsAt or duration")
            ends = _named("duration", lambda d: starts + timedelta(seconds=seconds(d)), body.duration)
        row = store.create_silence(engine, matchers=matchers, starts_at=starts, ends_at=ends,
                                   created_by=body.createdBy or who, comment=body.comment, at=now)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    # The actor is the authenticated caller; createdBy is only what the caller says about itself.
    _audit(engine, now, f"api:{who}", "silence.create", row.id, body.comment,
           {"matchers": [str(x) for x in matchers], "startsAt": starts.isoformat(), "endsAt": ends.isoformat(),
            "createdBy": body.createdBy})
    return store.silence_dict(row, now)


@router.get("/api/v1/silences", dependencies=[Depends(require_read)])
def list_silences(at: str | None = None, state: str | None = Query(None, pattern="^(active|pending|expired)$"),
                  engine: Engine = Depends(get_engine)) -> list[dict[str, Any]]:
    when = parse_time(at, "at", datetime.now(timezone.utc))
    rows = [store.silence_dict(r, when) for r in store.list_silences(engine)]
    return [r for r in rows if state is None or r["status"]["state"] == state]


@router.delete("/api/v1/silences/{silence_id}", responses=error_responses(404))
def expire_silence(silence_id: str, engine: Engine = Depends(get_engine),
                   who: str = Depends(require_admin)) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    row = store.expire_silence(engine, silence_id, now)
    if row is None:
        raise HTTPException(404, f"silence {silence_id} not found")
    _audit(engine, now, f"api:{who}", "silence.expire", silence_id, "expired via API", None)
    return store.silence_dict(row, now)


@router.get("/api/v1/tickets", dependencies=[Depends(require_read)])
def list_tickets(status: str | None = Query(None, pattern="^(open|closed)$"), team: str | None = None,
                 limit: int = Query(100, ge=1, le=1000), engine: Engine = Depends(get_engine)) -> list[dict[str, Any]]:
    return store.list_tickets(engine, status=status, team=team, limit=limit)


@router.get("/api/v1/notifications", dependencies=[Depends(require_read)])
def list_notifications(since: str | None = None, until: str | None = None, receiver: str | None = None,
                       limit: int = Query(100, ge=1, le=1000),
                       engine: Engine = Depends(get_engine)) -> list[dict[str, Any]]:
    start = parse_time(since, "since", datetime.min.replace(tzinfo=timezone.utc)) if since else None
    end = parse_time(until, "until", datetime.now(timezone.utc)) if until else None
    return store.list_notifications(engine, since=start, until=end, receiver=receiver, limit=limit)


def _audit(engine: Engine, at: datetime, actor: str, action: str, target: str, reason: str,
           evidence: dict[str, Any] | None) -> None:
    audit.record(engine, audit.entry(at, actor, action, target, reason, evidence))


def router_hook(engine: Engine, alert_router: AlertRouter) -> AlertHook:
    """The SLO evaluator's hook: hand each pass's transitions to the router and remember where
    they went. Only one replica routes (its dispatcher holds the group state); the others skip."""
    lock = LeaderLock(engine, ROUTER_LEADER_NAME)

    def hook(firing: list[Alert], resolved: list[Alert], at: datetime) -> None:
        if not lock.acquire():  # the lease runs on the wall clock, whatever event time `at` is
            return
        for delivery in alert_router.on_transitions(firing, resolved, at):
            note = delivery.notification
            for alert in note.alerts:
                record_routing(engine, alert.fingerprint, alert.starts_at, [note.receiver])

    return hook
