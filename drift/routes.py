"""`GET /api/v1/drift?at=T`: the findings of a drift scan ending at `at`.

Without `at` ("now", by the collector's evaluation clock), the answer is the drift loop's last
pass if it is at most one interval old, else a scan ending at now rounded down to `LIVE_STEP`: a
live console page asks every 15 s, and a scan of a million sessions takes seconds, while drift
windows span hours. The answer's `at` says which scan it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from collector.clock import evaluation_time
from collector.dependencies import get_engine, get_settings, require_read
from collector.schemas import API_ERRORS
from collector.timeparams import parse_time
from drift.config import DriftConfig
from drift.findings import SEVERITY_RANK
from drift.report_cache import ReportCache
from drift.service import scan_database

router = APIRouter(responses=API_ERRORS)
LIVE_STEP = timedelta(minutes=5)


@router.get("/api/v1/drift", dependencies=[Depends(require_read)])
async def drift(
    request: Request,
    at: str | None = None,
    severity: str = Query("info", pattern="^(info|ticket|page)$", description="lowest severity listed"),
    current_hours: float | None = Query(None, gt=0, le=24 * 366),
    reference_days: float | None = Query(None, gt=0, le=3660),
    engine: Engine = Depends(get_engine),
    settings: Any = Depends(get_settings),
) -> dict[str, Any]:
    try:
        config = DriftConfig.from_settings(settings, current_hours=current_hours, reference_days=reference_days)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    reports: ReportCache = request.app.state.drift_reports
    report = None
    if at is None:
        # The collector's "now", as the drift loop takes it (event time when replaying).
        now = await run_in_threadpool(evaluation_time, engine, settings.evaluator_clock)
        if config.interval_s > 0:
            report = reports.latest(config, since=now - timedelta(seconds=config.interval_s))
        when = datetime.fromtimestamp(now.timestamp() // LIVE_STEP.total_seconds() * LIVE_STEP.total_seconds(),
                                      timezone.utc)
    else:
        when = parse_time(at, "at", datetime.now(timezone.utc))
    if report is None:
        report = await run_in_threadpool(reports.report, engine, config, when, scan_database)
    out = report.to_dict()
    out["findings"] = [f for f in out["findings"] if SEVERITY_RANK[f["severity"]] >= SEVERITY_RANK[severity]]
    return out


def setup(app: Any) -> None:
    """Called by `collector.app.create_app`: scan and route every `drift.interval_s` (first
    pass one interval after start, so a fresh server does not scan an empty store)."""
    config = DriftConfig.from_settings(app.state.settings)  # a bad drift config fails startup
    app.state.drift_reports = ReportCache()
    if config.interval_s > 0:
        app.state.background.append(drift_loop)


async def drift_loop(app: Any) -> None:
    import asyncio
    import logging

    from drift.service import scan_and_route

    log = logging.getLogger("asrwatch.drift")
    settings = app.state.settings
    config = DriftConfig.from_settings(settings)
    while True:
        await asyncio.sleep(config.interval_s)
        try:
            at = await asyncio.to_thread(evaluation_time, app.state.engine, settings.evaluator_clock)
            router = getattr(app.state, "alert_router", None)
            outcome = await asyncio.to_thread(scan_and_route, app.state.engine, config, at,
                                              router.process if router else None,
                                              partial(app.state.drift_reports.report, scan=scan_database))
            if outcome is not None:
                log.info("drift pass at %s: %d opened, %d resolved", at.isoformat(), len(outcome.opened),
                         len(outcome.resolved))
        except Exception:
            log.exception("drift pass failed")
