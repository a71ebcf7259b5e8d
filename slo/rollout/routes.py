"""Rollout API: register canaries, read verdicts (Argo Rollouts `web` metric), Flagger webhooks.

`rollout_job` is the rollout evaluator (`asrwatch.server` runs it): every `evaluator_interval_s`
the replica holding the leader lock judges each active rollout at now and, on `rollback`,
runs the actuators once (see `service.act_on`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Engine

from asrwatch.jobs import Job
from asrwatch.services import Services, services_of
from asrwatch.settings import Settings
from collector.api import at_or_collector_now, get_engine, get_settings, require_admin, require_read
from collector.store import API_ERRORS, LeaderLock, dimensions_of, error_responses
from slo.rollout import actuators as actuators_mod
from slo.rollout import flagger, service
from slo.rollout.judge import Verdict

log = logging.getLogger("asrwatch.rollout")
router = APIRouter(tags=["rollouts"], responses=API_ERRORS)
LEADER_NAME = "asrwatch-rollout-evaluator"


def _now() -> datetime:
    return datetime.now(timezone.utc)


@router.post("/api/v1/rollouts", responses={
    200: {"model": dict[str, Any], "description": "already registered with this spec"},
    201: {"model": dict[str, Any], "description": "registered"}, **error_responses(400, 409)},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": service.RolloutSpec.model_json_schema()}}}})
def register(body: dict[str, Any] = Body(...), engine: Engine = Depends(get_engine),
             who: str = Depends(require_admin)) -> JSONResponse:
    # Validated here, not by FastAPI: `slice_by` may name this store's configured dimensions.
    try:
        spec = service.parse_spec(body, dimensions_of(engine))
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) \
            from None
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


def _unregistered(name: str, at: datetime) -> Verdict:
    """The verdict on a name nobody registered (a typo, or a registration not made yet): `pause`,
    so that no gate promotes a canary nobody judges, and none aborts it for our configuration."""
    return Verdict(decision="pause", reasons=[
        f"rollout {name!r} is not registered: register it with POST /api/v1/rollouts, or fix the name"],
        metrics={"rollout": {"name": name, "registered": False}}, at=at)


@router.get("/api/v1/rollouts/{name}/verdict", dependencies=[Depends(require_read)])
def verdict(name: str, at: str | None = None, engine: Engine = Depends(get_engine),
            settings: Settings = Depends(get_settings)) -> dict[str, Any]:
    """Always 200 with the JSON, also for a name not registered (then `pause`): Argo Rollouts'
    `web` provider records any non-2xx as an Error, which aborts a rollout; `$.decision` of
    `pause` matches neither condition of our AnalysisTemplate, so Argo records Inconclusive."""
    when = at_or_collector_now(at, "at", engine, settings.evaluator_clock)
    found = service.verdict_for(engine, name, when, price_per_gpu_hour=settings.price_per_gpu_hour)
    return (found or _unregistered(name, when)).to_dict()


def _flagger_call(payload: dict[str, Any] | None, name: str, engine: Engine,
                  settings: Settings) -> tuple[str, datetime, dict[str, Any]]:
    """(our rollout's name, the time to judge at, the caller's identity) from Flagger's payload
    `{"name", "namespace", "phase", "checksum", "metadata": {...}}`: `metadata.rollout` names our
    rollout when it differs from the path, `metadata.at` (RFC 3339) pins the judged time."""
    metadata = (payload or {}).get("metadata") or {}
    if not isinstance(metadata, dict):
        raise HTTPException(422, "metadata: must be a mapping of strings")
    at = at_or_collector_now(metadata.get("at"), "metadata.at", engine, settings.evaluator_clock)
    caller = {k: (payload or {}).get(k) for k in ("name", "namespace", "phase", "checksum")}
    return str(metadata.get("rollout") or name), at, caller


@router.post("/api/v1/flagger/{name}", dependencies=[Depends(require_read)], responses={
    200: {"model": dict[str, Any], "description": "continue: the canary may advance"},
    412: {"model": dict[str, Any], "description": "pause or rollback: Flagger halts the canary"},
    **error_responses(400, 404)})
def flagger_gate(name: str, payload: dict[str, Any] | None = Body(default=None),
                 engine: Engine = Depends(get_engine), settings: Settings = Depends(get_settings)) -> JSONResponse:
    """The untyped gate (kept as documented): 200 only on `continue`, 412 otherwise, 404 for a
    rollout not registered. It fits Flagger's confirm-* hooks; as a `type: rollout` hook it
    counts `pause` as a failed check, so prefer `/api/v1/flagger/{name}/{hook}`."""
    rollout, at, _ = _flagger_call(payload, name, engine, settings)
    found = service.verdict_for(engine, rollout, at, price_per_gpu_hour=settings.price_per_gpu_hour)
    if found is None:
        raise HTTPException(404, f"rollout {rollout!r} not found")
    result = {**found.to_dict(), "flagger": {k: (payload or {}).get(k) for k in ("name", "namespace", "phase", "type")}}
    return JSONResponse(result, status_code=flagger.status_for("confirm-promotion", found.decision))


@router.post("/api/v1/flagger/{name}/{hook}", dependencies=[Depends(require_read)], responses={
    200: {"model": dict[str, Any], "description": "the verdict is one this hook type passes on (see `flagger.effect`)"},
    412: {"model": dict[str, Any], "description": "the verdict is not one this hook type passes on "
                                                  "(a rollout not registered is answered as `pause`)"},
    **error_responses(400)})
def flagger_hook(name: str, hook: flagger.HookType, payload: dict[str, Any] | None = Body(default=None),
                 engine: Engine = Depends(get_engine), settings: Settings = Depends(get_settings)) -> JSONResponse:
    """One path per Flagger hook type, each answered by that type's meaning (slo/rollout/flagger.py):
    confirm-* pass only on `continue`, `rollback` only on `rollback`, `rollout` fails only on
    `rollback`. A rollout not registered is a `pause` verdict saying so, on every type: a typo in a
    `type: rollout` hook's URL must not count failed checks until Flagger rolls the canary back
    (as Argo records that `pause` as Inconclusive, not as an Error).
    The body is short, since Flagger copies it into its events; `verdict_url` has it all."""
    rollout, at, caller = _flagger_call(payload, name, engine, settings)
    found = service.verdict_for(engine, rollout, at, price_per_gpu_hour=settings.price_per_gpu_hour)
    verdict_obj = found or _unregistered(rollout, at)
    status = flagger.status_for(hook, verdict_obj.decision)
    body = {"decision": verdict_obj.decision, "reasons": verdict_obj.reasons, "at": verdict_obj.at.isoformat(),
            "rollout": rollout, "registered": found is not None,
            "verdict_url": settings.absolute_link(
                f"/api/v1/rollouts/{quote(rollout, safe='')}/verdict?at={quote(verdict_obj.at.isoformat())}"),
            "flagger": {**caller, "hook": hook, "effect": flagger.effect(hook, status)}}
    return JSONResponse(body, status_code=status)


@router.post("/api/v1/rollouts/{name}/evaluate", responses=error_responses(404, 409))
def evaluate_now(name: str, request: Request, at: str | None = None, dry_run: bool = Query(False),
                 engine: Engine = Depends(get_engine), settings: Settings = Depends(get_settings),
                 who: str = Depends(require_admin)) -> dict[str, Any]:
    """Judge at `at` (default: the collector's clock) and act if the verdict is rollback, as the leader."""
    when = at_or_collector_now(at, "at", engine, settings.evaluator_clock)
    lock = services_of(request).rollout_leader
    if not lock.acquire():  # the lease runs on the wall clock, whatever time is judged
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


def _dry_run(settings: Settings) -> bool:
    return settings.rollout_dry_run


def rollout_leader(engine: Engine, settings: Settings) -> LeaderLock:
    """One replica judges rollouts and acts on them (the loop and `evaluate_now` share the lock)."""
    return LeaderLock(engine, LEADER_NAME, lease_s=max(60.0, 4 * (settings.evaluator_interval_s or 15.0)))


def rollout_job(services: Services) -> Job:
    """Every evaluator interval, the leader judges every active rollout and acts on rollbacks.
    The lease runs on the wall clock; the verdict is judged at event time."""
    engine, settings = services.engine, services.settings
    acts = actuators_mod.from_settings(settings)  # a bad actuator config fails startup, naming the key

    def step(at: datetime) -> None:
        service.evaluate_all(engine, at, acts, actor="rollout-evaluator",
                             price_per_gpu_hour=settings.price_per_gpu_hour, dry_run=_dry_run(settings))

    return Job("rollout evaluation", settings.evaluator_interval_s or 15.0, step, leader=services.rollout_leader,
               on_lock_error="skip", log=log)
