"""`GET /api/v1/drift?at=T`: the findings of a drift scan ending at `at`.

Without `at` ("now", by the collector's evaluation clock), the answer is the drift loop's last
pass if it is at most one interval old, else a scan ending at now rounded down to `LIVE_STEP`: a
live console page asks every 15 s, and a scan of a million sessions takes seconds, while drift
windows span hours. The loop's passes are kept in the store (`drift.stored_reports`), so a
restarted collector, or a replica that does not run the loop, answers from the last one too.
The answer's `at` says which scan it is. With `at`, the answer is always a scan as of `at`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from asrwatch.jobs import Job
from asrwatch.services import Services, services_of
from asrwatch.settings import Settings
from collector.api import get_engine, get_settings, parse_time, require_read
from collector.store import API_ERRORS, evaluation_time
from drift.config import DriftConfig
from drift.findings import SEVERITY_RANK
from drift.scan import ScanReport
from drift.service import scan_and_route
from drift.stored_reports import latest_report, save_report, stored_at

router = APIRouter(responses=API_ERRORS)
log = logging.getLogger("asrwatch.drift")
LIVE_STEP = timedelta(minutes=5)


@router.get("/api/v1/drift", dependencies=[Depends(require_read)])
async def drift(
    request: Request,
    at: str | None = None,
    severity: str = Query("info", pattern="^(info|ticket|page)$", description="lowest severity listed"),
    current_hours: float | None = Query(None, gt=0, le=24 * 366),
    reference_days: float | None = Query(None, gt=0, le=3660),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
) -> dict[str, Any]:
    try:
        config = DriftConfig.from_settings(settings, current_hours=current_hours, reference_days=reference_days)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    services = services_of(request)
    reports = services.drift_reports
    out = None
    if at is None:
        # The collector's "now", as the drift loop takes it (event time when replaying).
        now = await run_in_threadpool(evaluation_time, engine, settings.evaluator_clock)
        if config.interval_s > 0:
            since = now - timedelta(seconds=config.interval_s)
            # A pass ending after now is not this clock's (the wall clock's, before a replay's data came).
            report = reports.latest(config, since=since, until=now)
            if report is not None:
                out = report.to_dict()
            else:  # this replica has not scanned since it started: the loop's last pass, from the store
                stored = await run_in_threadpool(latest_report, engine, config, since, now)
                out = stored.report if stored is not None else None
        when = datetime.fromtimestamp(now.timestamp() // LIVE_STEP.total_seconds() * LIVE_STEP.total_seconds(),
                                      timezone.utc)
    else:
        when = parse_time(at, "at", datetime.now(timezone.utc))
    if out is None:
        out = (await run_in_threadpool(reports.report, engine, config, when, services.drift_scan)).to_dict()
    out["findings"] = [f for f in out["findings"] if SEVERITY_RANK[f["severity"]] >= SEVERITY_RANK[severity]]
    return out


def drift_job(services: Services) -> Job | None:
    """Scan and route every `drift.interval_s`, the first pass at start unless the store holds one
    fresher than an interval; none with `interval_s: 0`."""
    engine, settings = services.engine, services.settings
    config = DriftConfig.from_settings(settings)
    if config.interval_s <= 0:
        return None

    def scan_and_keep(e: Engine, c: DriftConfig, at: datetime) -> ScanReport:
        # Runs inside scan_and_route, so on PostgreSQL only the replica that leads writes the pass.
        report = services.drift_reports.report(e, c, at, services.drift_scan)
        try:
            save_report(e, c, report, datetime.now(timezone.utc))
        except Exception:  # the pass still routes its tickets; pages scan until a pass is stored
            log.exception("storing the drift pass failed")
        return report

    def step(at: datetime) -> None:
        outcome = scan_and_route(engine, config, at, services.alert_router.process, scan_and_keep)
        if outcome is not None:
            log.info("drift pass at %s: %d opened, %d resolved", at.isoformat(), len(outcome.opened),
                     len(outcome.resolved))

    return Job("drift", config.interval_s, step, log=log,
               first_wait_s=lambda: _first_wait(engine, config, settings.evaluator_clock))


def _first_wait(engine: Engine, config: DriftConfig, clock: str) -> float:
    """Seconds until the first pass: none when the store has no pass younger than an interval
    (so the first live page need not scan), else what is left of that pass's interval (a
    restart does not scan, and route, the same data again)."""
    last = stored_at(engine, config)
    now = evaluation_time(engine, clock)
    if last is None or last > now:  # none, or not this clock's (see `drift`): not fresh
        return 0.0
    return max(config.interval_s - (now - last).total_seconds(), 0.0)
