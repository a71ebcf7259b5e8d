"""Rollout API: register canaries, read verdicts (Argo Rollouts `web` metric), Flagger gate.

`setup(app)` starts the rollout evaluator in the background: every `evaluator_interval_s`
the replica holding the leader lock judges each active rollout at now and, on `rollback`,
runs the actuators once (see `service.act_on`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

from asrwatch.settings import Settings
from collector.clock import evaluation_time
from collector.dependencies import get_engine, get_settings, require_admin, require_read
from collector.schemas import API_ERRORS, error_responses
from collector.timeparams import parse_time
from slo.rollout import actuators as actuators_mod
from slo.rollout import service
from slo.rollout.judge import Verdict
from slo.rollout.leader import LeaderLock

log = logging.getLogger("asrwatch.rollout")
router = APIRouter(tags=["rollouts"], responses=API_ERRORS)
LEADER_NAME = "asrwatch-rollout-evaluator"


def _now() -> datetime:
    return datetime.now(timezone.utc)


@router.post("/api/v1/rollouts", responses={
    200: {"model": dict[str, Any], "description": "already registered with this spec"},
    201: {"model": dict[str, Any], "description": "registered"}, **error_responses(400, 409)})
def register(spec: service.RolloutSpec, engine: Engine = Depends(get_engine),
             who: str = Depends(require_admin)) -> JSONResponse:
    try:
        rollout, created = service.register(engine, spec, actor=f"api:{who}", at=_now())
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
    return JSONResponse(rollout, status_code=201 if created else 200)


@router.get("/api/v1/rollouts", dependencies=[Depends(require_read)])
def list_rollouts(engine: Engine = Depends(get_engine)) -> list[dict[str, Any]]:
    return service.list_all(engine)


@router.get("/api/v1/rollouts/{name}", dependencies=[Depends(require_read)], responses=error_responses(404))
def get_rollout(name: str, engine: Engine = Depends(get_engine)) -> dict[str, Any]:
    rollout = service.get(engine, name)
    if rollout is None:
        raise HTTPException(404, f"rollout {name!r} not found")
    return rollout


def _verdict(engine: Engine, settings: Settings, name: str, at: datetime) -> dict[str, Any]:
    verdict = service.verdict_for(engine, name, at, price_per_gpu_hour=settings.price_per_gpu_hour)
    if verdict is None:
        raise HTTPException(404, f"rollout {name!r} not found")
    return verdict.to_dict()


@router.get("/api/v1/rollouts/{name}/verdict", dependencies=[Depends(require_read)], responses=error_responses(404))
def verdict(name: str, at: str | None = None, engine: Engine = Depends(get_engine),
            settings: Settings = Depends(get_settings)) -> dict[str, Any]:
    """Always 200 with the JSON: Argo Rollouts' `web` provider reads `$.decision`."""
    return _verdict(engine, settings, name, parse_time(at, "at", _now()))


@router.post("/api/v1/flagger/{name}", dependencies=[Depends(require_read)], responses={
    200: {"model": dict[str, Any], "description": "continue: the canary may advance"},
    412: {"model": dict[str, Any], "description": "pause or rollback: Flagger halts the canary"},
    **error_responses(400, 404)})
def flagger_gate(name: str, payload: dict[str, Any] | None = Body(default=None),
                 engine: Engine = Depends(get_engine), settings: Settings = Depends(get_settings)) -> JSONResponse:
    """Flagger webhook gate: 200 lets the canary advance, any other status halts it.

    Flagger posts `{"name", "namespace", "phase", "checksum", "type", "metadata": {...}}`;
    `metadata.at` (RFC 3339) may pin the judged time, and `metadata.rollout` may name our
    rollout when it differs from the Canary's name in the path."""
    metadata = (payload or {}).get("metadata") or {}
    if not isinstance(metadata, dict):
        raise HTTPException(422, "metadata: must be a mapping of strings")
    rollout = str(metadata.get("rollout") or name)
    result = _verdict(engine, settings, rollout, parse_time(metadata.get("at"), "metadata.at", _now()))
    result["flagger"] = {k: (payload or {}).get(k) for k in ("name", "namespace", "phase", "type")}
    return JSONResponse(result, status_code=200 if result["decision"] == "continue" else 412)


@router.post("/api/v1/rollouts/{name}/evaluate", responses=error_responses(404, 409))
def evaluate_now(name: str, request: Request, at: str | None = None, dry_run: bool = Query(False),
                 engine: Engine = Depends(get_engine), settings: Settings = Depends(get_settings),
                 who: str = Depends(require_admin)) -> dict[str, Any]:
    """Judge at `at` (default now) and act if the verdict is rollback, as the leader."""
    when = parse_time(at, "at", _now())
    lock = _leader(request.app)
    if not lock.acquire(when):
        raise HTTPException(409, "another replica holds the rollout leader lock; it acts on rollouts")
    verdict_obj = service.verdict_for(engine, name, when, price_per_gpu_hour=settings.price_per_gpu_hour)
    if verdict_obj is None:
        raise HTTPException(404, f"rollout {name!r} not found")
    actions = service.act_on(engine, name, verdict_obj, actuators_mod.from_settings(settings),
                             actor=f"api:{who}", dry_run=dry_run or _dry_run(settings))
    return {**verdict_obj.to_dict(), "actions": [a.__dict__ for a in actions or []]}


class ManualRollback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


@router.post("/api/v1/rollouts/{name}/rollback", responses=error_responses(400, 404, 409))
def rollback_now(name: str, body: ManualRollback, engine: Engine = Depends(get_engine),
                 settings: Settings = Depends(get_settings), who: str = Depends(require_admin)) -> dict[str, Any]:
    """A person rolls the canary back (the console's rollback form): the actuators run once
    and the audit log records who and why, like an automatic rollback."""
    if service.get(engine, name) is None:
        raise HTTPException(404, f"rollout {name!r} not found")
    at = _now()
    manual = Verdict(decision="rollback", reasons=[f"manual rollback by {who}: {body.reason}"],
                     metrics={"manual": True}, at=at)
    actions = service.act_on(engine, name, manual, actuators_mod.from_settings(settings),
                             actor=f"api:{who}", dry_run=_dry_run(settings))
    if actions is None:
        raise HTTPException(409, f"rollout {name!r} was already rolled back")
    return {**manual.to_dict(), "actions": [a.__dict__ for a in actions]}


def _leader(app: FastAPI) -> LeaderLock:
    lock = getattr(app.state, "rollout_leader", None)
    if lock is None:
        interval = float(getattr(app.state.settings, "evaluator_interval_s", 15.0) or 15.0)
        lock = app.state.rollout_leader = LeaderLock(app.state.engine, LEADER_NAME, lease_s=max(60.0, 4 * interval))
    return lock


def _dry_run(settings: Settings) -> bool:
    return bool((settings.model_extra or {}).get("rollout_dry_run", False))


async def rollout_loop(app: FastAPI) -> None:
    engine, settings = app.state.engine, app.state.settings
    interval = float(getattr(settings, "evaluator_interval_s", 15.0) or 15.0)
    acts = actuators_mod.from_settings(settings)
    lock = _leader(app)
    try:
        while True:
            try:
                # The lease runs on the wall clock; the verdict is judged at event time.
                now = await asyncio.to_thread(evaluation_time, engine, settings.evaluator_clock)
                if await asyncio.to_thread(lock.acquire):
                    await asyncio.to_thread(service.evaluate_all, engine, now, acts, actor="rollout-evaluator",
                                            price_per_gpu_hour=settings.price_per_gpu_hour,
                                            dry_run=_dry_run(settings))
            except Exception:
                log.exception("rollout evaluation pass failed")
            await asyncio.sleep(interval)
    finally:
        lock.release()


def setup(app: FastAPI) -> None:
    actuators_mod.from_settings(app.state.settings)  # a bad actuator config fails startup, naming the key
    app.state.background.append(rollout_loop)
