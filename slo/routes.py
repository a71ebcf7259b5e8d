"""`GET /api/v1/slos?at=` and `GET /api/v1/alerts?state=firing&at=`: thin wrappers over the engine.

Both are pure functions of the rollups and `at`; only `routed_to` (and `state=resolved`,
which lists recorded episodes) comes from the evaluator's stored alert state.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from collector.database import read_connection
from collector.dependencies import get_engine, get_settings, require_read
from collector.schemas import API_ERRORS
from collector.timeparams import parse_time
from slo.models import SLOAlertState
from slo.series_cache import SeriesCache
from slo.snapshot import firing_alerts, slo_statuses
from slo.spec import SLOSpecError

router = APIRouter(dependencies=[Depends(require_read)], tags=["slo"], responses=API_ERRORS)
RESOLVED_LOOKBACK = timedelta(hours=24)


def _at(value: str | None) -> datetime:
    return parse_time(value, "at", datetime.now(timezone.utc))


def _series_cache(request: Request) -> SeriesCache | None:
    return getattr(request.app.state, "slo_series", None)


def _statuses(engine: Engine, settings: Any, at: datetime, cache: SeriesCache | None = None):
    try:
        return slo_statuses(engine, settings, at, cache)
    except SLOSpecError as exc:
        raise HTTPException(500, f"invalid SLO config: {exc}") from None


@router.get("/api/v1/slos")
async def get_slos(request: Request, at: str | None = None, engine: Engine = Depends(get_engine),
                   settings: Any = Depends(get_settings)) -> dict[str, Any]:
    when = _at(at)
    statuses = await run_in_threadpool(_statuses, engine, settings, when, _series_cache(request))
    return {"at": when.isoformat(), "slos": [s.to_dict() for s in statuses]}


def _routed(engine: Engine, at: datetime) -> dict[str, list[str]]:
    with read_connection(engine) as conn:
        rows = conn.execute(select(SLOAlertState.fingerprint, SLOAlertState.routed_to).where(
            SLOAlertState.starts_at <= at,
            or_(SLOAlertState.resolved_at.is_(None), SLOAlertState.resolved_at > at))).all()
    return {fp: list(routed or []) for fp, routed in rows}


def _alerts(engine: Engine, settings: Any, at: datetime, state: str, cache: SeriesCache | None) -> list[dict[str, Any]]:
    out = []
    if state in ("firing", "all"):
        routed = _routed(engine, at)
        for alert in firing_alerts(_statuses(engine, settings, at, cache)):
            out.append({**alert.to_dict(), "state": "firing", "routed_to": routed.get(alert.fingerprint, [])})
    if state in ("resolved", "all"):
        with OrmSession(engine) as db:
            for row in db.scalars(select(SLOAlertState).where(
                    SLOAlertState.resolved_at <= at, SLOAlertState.resolved_at > at - RESOLVED_LOOKBACK)
                    .order_by(SLOAlertState.resolved_at)):
                out.append({
                    "fingerprint": row.fingerprint, "name": row.name, "severity": row.severity,
                    "labels": dict(row.labels), "starts_at": row.starts_at.isoformat(),
                    "ends_at": row.resolved_at.isoformat() if row.resolved_at else None,
                    "summary": row.summary, "runbook_url": row.runbook_url,
                    "annotations": dict(row.annotations or {}), "evidence": {},
                    "state": "resolved", "routed_to": list(row.routed_to or []),
                })
    return out


@router.get("/api/v1/alerts")
async def get_alerts(
    request: Request,
    state: Literal["firing", "resolved", "all"] = Query("firing"),
    at: str | None = None,
    engine: Engine = Depends(get_engine),
    settings: Any = Depends(get_settings),
) -> dict[str, Any]:
    when = _at(at)
    alerts = await run_in_threadpool(_alerts, engine, settings, when, state, _series_cache(request))
    return {"at": when.isoformat(), "state": state, "alerts": alerts}


def setup(app: Any) -> None:
    """Called by `collector.app.create_app`: check the SLO specs (a bad spec stops the server
    with the SLO and field named) and start the evaluator with the app."""
    from slo.evaluator import evaluator_loop
    from slo.spec import slos_from_settings

    slos_from_settings(app.state.settings)
    app.state.slo_series = SeriesCache()
    if not hasattr(app.state, "slo_alert_hooks"):
        app.state.slo_alert_hooks = []
    if getattr(app.state.settings, "evaluator_enabled", True):
        app.state.background.append(evaluator_loop)
