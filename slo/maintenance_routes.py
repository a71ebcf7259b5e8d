"""`/api/v1/maintenance`: maintenance windows (`slo.maintenance`), whose events count in no SLO's
budget nor alert. Create and delete need the admin token and are audited (actor, the window);
listing needs read. The config's windows (`maintenance_windows:`) are listed beside the API's
(`source: config|api`) and cannot be deleted here: the config is their record."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from asrwatch.settings import Settings
from collector.api import at_or_collector_now, get_engine, get_settings, parse_time, require_admin, require_read
from collector.store import API_ERRORS, dimensions_of, error_responses
from slo import maintenance_store
from slo.maintenance import MaintenanceWindow, WindowSpec, config_windows, unknown_slos
from slo.spec import SLOSpec, SLOSpecError, slos_from_settings

router = APIRouter(tags=["maintenance"], responses=API_ERRORS)


def _specs(settings: Settings) -> list[SLOSpec]:
    try:
        return slos_from_settings(settings)
    except SLOSpecError as exc:
        raise HTTPException(500, f"invalid SLO config: {exc}") from None


@router.post("/api/v1/maintenance", status_code=201, responses=error_responses(400))
async def create_window(body: WindowSpec, engine: Engine = Depends(get_engine),
                        settings: Settings = Depends(get_settings), who: str = Depends(require_admin)) -> dict[str, Any]:
    """A window `{name, reason, starts_at, ends_at, slos: [], labels: {}}` (times floored to the
    minute; no slos: every SLO; no labels: all traffic). The answer says which SLOs it applies to
    (`applies_to`) and why not to the others (`not_applied`)."""
    specs = _specs(settings)
    bad = unknown_slos(body, [s.name for s in specs])
    if bad:
        raise HTTPException(422, bad)
    try:
        dimensions_of(engine).check(body.labels, "labels")
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    window = await run_in_threadpool(maintenance_store.create, engine, body, f"api:{who}", datetime.now(timezone.utc))
    return window.to_dict(specs)


@router.get("/api/v1/maintenance", dependencies=[Depends(require_read)])
async def list_windows(
    since: str | None = Query(None, description="RFC 3339: only windows ending after it"),
    until: str | None = Query(None, description="RFC 3339: only windows starting before it"),
    engine: Engine = Depends(get_engine), settings: Settings = Depends(get_settings),
) -> list[dict[str, Any]]:
    """Every window (config and API) overlapping [since, until), by start."""
    start = parse_time(since, "since", datetime.min.replace(tzinfo=timezone.utc)) if since else None
    end = parse_time(until, "until", datetime.max.replace(tzinfo=timezone.utc)) if until else None
    if start is not None and end is not None and start >= end:
        raise HTTPException(422, "since: must be before until")
    specs = _specs(settings)
    windows = await run_in_threadpool(maintenance_store.list_windows, engine, config_windows(settings), start, end)
    return [w.to_dict(specs) for w in windows]


@router.delete("/api/v1/maintenance/{window_id}", responses=error_responses(404, 409))
async def delete_window(window_id: str, at: str | None = Query(None, description="RFC 3339; default the collector's clock"),
                        remove: bool = Query(False, description="also remove a window that is already over "
                                                                "(its events count in budgets and alerts again)"),
                        engine: Engine = Depends(get_engine), settings: Settings = Depends(get_settings),
                        who: str = Depends(require_admin)) -> dict[str, Any]:
    """An active window ends at `at` (the collector's clock: event time, as the SLOs are
    judged); one not started yet is removed; one already over is left as it is (`action:
    unchanged`: a retried DELETE of an active window changes nothing more) unless `remove=true`.
    `action` says which."""
    if any(w.id == window_id for w in config_windows(settings)):
        raise HTTPException(409, f"window_id: {window_id} comes from the config (maintenance_windows); "
                                 "remove it there and restart")

    def act() -> tuple[str, MaintenanceWindow] | None:
        now = at_or_collector_now(at, "at", engine, settings.evaluator_clock)
        return maintenance_store.end(engine, window_id, f"api:{who}", now, datetime.now(timezone.utc), remove)

    done = await run_in_threadpool(act)
    if done is None:
        raise HTTPException(404, f"window_id: no maintenance window {window_id}")
    action, window = done
    return {"action": action, **window.to_dict(_specs(settings))}
