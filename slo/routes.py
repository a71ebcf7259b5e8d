"""`GET /api/v1/slos?at=` and `GET /api/v1/alerts?state=firing&at=`: thin wrappers over the engine.

Without `at` both judge at the collector's clock (`collector.store.clock`), as the evaluator does.
The SLI and burn figures are pure functions of the rollups and `at`; which alerts fire, and since
when, comes from the evaluator's recorded episodes wherever it judged `at` (`slo.alert_history`),
so asking about a past alert later never rewrites its `starts_at` nor drops its episode.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from asrwatch.services import services_of
from asrwatch.settings import Settings
from collector.api import at_or_collector_now, get_engine, get_settings, parse_time, require_read
from collector.store import API_ERRORS, error_responses, time_buckets
from slo.alert_history import Episode, alerts_as_of, routed_to
from slo.annotations import annotations
from slo.burn_timeline import series_answer, timeline
from slo.maintenance import config_windows
from slo.models import SLOAlertState
from slo.prometheus_source import PrometheusAPI, prometheus_client, prometheus_timeline
from slo.series_cache import SeriesCache
from slo.snapshot import firing_alerts, place_alerts, slo_statuses
from slo.spec import SLOSpecError, min_events_for, slos_from_settings

router = APIRouter(dependencies=[Depends(require_read)], tags=["slo"], responses=API_ERRORS)
RESOLVED_LOOKBACK = timedelta(hours=24)


def _statuses(engine: Engine, settings: Settings, at: datetime, cache: SeriesCache | None = None,
              prometheus: PrometheusAPI | None = None):
    try:
        return slo_statuses(engine, settings, at, cache, prometheus)
    except SLOSpecError as exc:
        raise HTTPException(500, f"invalid SLO config: {exc}") from None


def _episodes(engine: Engine, at: datetime) -> list[Episode]:
    """The recorded episodes open at `at` (`slo.alert_history` decides which cover it)."""
    with OrmSession(engine) as db:
        rows = db.scalars(select(SLOAlertState).where(
            SLOAlertState.starts_at <= at,
            or_(SLOAlertState.resolved_at.is_(None), SLOAlertState.resolved_at > at))).all()
        return [Episode(alert=row.to_alert(), starts_at=row.starts_at, resolved_at=row.resolved_at,
                        last_evaluated_at=row.last_evaluated_at, routed_to=tuple(row.routed_to or ()))
                for row in rows]


def _judged(engine: Engine, settings: Settings, at: datetime, cache: SeriesCache | None,
            prometheus: PrometheusAPI | None = None):
    """The SLO statuses at `at` with their alerts as recorded where the evaluator judged `at`."""
    statuses = _statuses(engine, settings, at, cache, prometheus)
    episodes = _episodes(engine, at)
    alerts = alerts_as_of(firing_alerts(statuses), episodes, at)
    return place_alerts(statuses, alerts), alerts, episodes


@router.get("/api/v1/slos")
async def get_slos(request: Request, at: str | None = None, engine: Engine = Depends(get_engine),
                   settings: Settings = Depends(get_settings)) -> dict[str, Any]:
    when = await run_in_threadpool(at_or_collector_now, at, "at", engine, settings.evaluator_clock)
    services = services_of(request)
    statuses, _, _ = await run_in_threadpool(_judged, engine, settings, when, services.slo_series, services.prometheus)
    return {"at": when.isoformat(), "slos": [s.to_dict() for s in statuses]}


def _alerts(engine: Engine, settings: Settings, at: datetime, state: str, cache: SeriesCache | None,
            prometheus: PrometheusAPI | None = None) -> list[dict[str, Any]]:
    out = []
    if state in ("firing", "all"):
        _, alerts, episodes = _judged(engine, settings, at, cache, prometheus)
        routed = routed_to(episodes, alerts, at)
        for alert in alerts:
            out.append({**alert.to_dict(), "state": "firing", "routed_to": routed.get(alert.fingerprint, [])})
    if state in ("resolved", "all"):
        with OrmSession(engine) as db:
            for row in db.scalars(select(SLOAlertState).where(
                    SLOAlertState.resolved_at <= at, SLOAlertState.resolved_at > at - RESOLVED_LOOKBACK)
                    .order_by(SLOAlertState.resolved_at)):
                out.append({**row.to_alert().to_dict(), "state": "resolved", "routed_to": list(row.routed_to or [])})
    return out


@router.get("/api/v1/alerts")
async def get_alerts(
    request: Request,
    state: Literal["firing", "resolved", "all"] = Query("firing"),
    at: str | None = None,
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
) -> dict[str, Any]:
    when = await run_in_threadpool(at_or_collector_now, at, "at", engine, settings.evaluator_clock)
    services = services_of(request)
    alerts = await run_in_threadpool(_alerts, engine, settings, when, state, services.slo_series, services.prometheus)
    return {"at": when.isoformat(), "state": state, "alerts": alerts}


def parse_group(value: str | None) -> dict[str, str]:
    """`region=eu,model_version=v2` -> labels; ValueError naming `group` otherwise."""
    out: dict[str, str] = {}
    for item in (value or "").split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"group: expected key=value pairs separated by commas, got {item!r}")
        out[key.strip()] = val.strip()
    return out


def _series(engine: Engine, settings: Settings, name: str, group: str | None, since: str | None,
            until: str | None, at: str | None, step: str, cache: SeriesCache | None,
            prometheus: PrometheusAPI | None = None) -> dict[str, Any]:
    try:
        spec = next((s for s in slos_from_settings(settings) if s.name == name), None)
    except SLOSpecError as exc:
        raise HTTPException(500, f"invalid SLO config: {exc}") from None
    if spec is None:
        raise HTTPException(404, f"name: no SLO named {name!r}")
    end = parse_time(until, "until", at_or_collector_now(at, "at", engine, settings.evaluator_clock))
    start = parse_time(since, "since", end - timedelta(hours=24))
    if start >= end:
        raise HTTPException(422, "since: must be before until")
    try:
        width = time_buckets.parse_step(step)
        times = time_buckets.evaluation_times(start, end, width)
        wanted = parse_group(group)
        min_events, min_bad = min_events_for(spec, settings), float(settings.slo_min_bad_events or 0)
        if settings.sli_source == "prometheus":
            with prometheus_client(settings, prometheus) as api:
                found = prometheus_timeline(api, spec, times, width, wanted, min_events=min_events, min_bad_events=min_bad)
        else:
            found = timeline(engine, spec, times, wanted, cache if cache is not None else SeriesCache(),
                             min_events=min_events, min_bad_events=min_bad, configured=config_windows(settings))
        return series_answer(engine, spec, start, end, width, wanted, found)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/api/v1/slos/{name}/series", responses=error_responses(404))
async def get_slo_series(
    request: Request, name: str,
    group: str | None = Query(None, description="k=v,... : only the groups with these labels"),
    since: str | None = Query(None, description="RFC 3339; default a day before until"),
    until: str | None = Query(None, description="RFC 3339; default `at`"),
    at: str | None = Query(None, description="RFC 3339; default the collector's clock"),
    step: str = Query("5m", description="between points, e.g. 5m, 1h (at most 2000 points)"),
    engine: Engine = Depends(get_engine), settings: Settings = Depends(get_settings),
) -> dict[str, Any]:
    """Per group and step-aligned time in [since, until]: the burn rate of each window the SLO's
    alert tiers use and the error budget left over the SLO window, each as `/api/v1/slos?at=<t>`
    reports it, and the severity the engine fires there (`firing`, before recorded episodes are
    consulted); the tiers (thresholds) and the recorded alert episodes overlapping the range."""
    services = services_of(request)
    return await run_in_threadpool(_series, engine, settings, name, group, since, until, at, step,
                                   services.slo_series, services.prometheus)


@router.get("/api/v1/annotations")
async def get_annotations(
    since: str | None = Query(None, description="RFC 3339; default a day before until"),
    until: str | None = Query(None, description="RFC 3339; default `at`"),
    at: str | None = Query(None, description="RFC 3339; default the collector's clock"),
    engine: Engine = Depends(get_engine), settings: Settings = Depends(get_settings),
) -> list[dict[str, Any]]:
    """Markers for time axes, oldest first: rollout registrations and rollbacks (audit log),
    silences and maintenance windows, each `{t, end, kind: rollout|rollback|silence|maintenance,
    text, target, actor, time_basis}`
    in event time where the record has one (`time_basis`: event, wall or as given)."""
    def answer() -> list[dict[str, Any]]:
        end = parse_time(until, "until", at_or_collector_now(at, "at", engine, settings.evaluator_clock))
        start = parse_time(since, "since", end - timedelta(hours=24))
        if start >= end:
            raise HTTPException(422, "since: must be before until")
        return annotations(engine, start, end, config_windows(settings))

    return await run_in_threadpool(answer)
