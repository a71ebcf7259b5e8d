"""Rollouts: registration, verdicts as of `at`, and acting on a rollback exactly once.

Exactly once, across replicas and retries, rests on two things: only the leader evaluates
and acts (`LeaderLock`), and the claim itself is a conditional update
(`state: active -> rolled_back`) in the same transaction as its audit entry, so even two
processes that both believe they lead cannot both win it. The same transaction writes the
rollback's outbox (one pending action per actuator), so a crash after the claim cannot lose
the rollback either: the leader finishes it (`slo.rollout.outbox`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from collector.store import Dimensions, audit, dimensions_of
from slo.models import SLOAlertState
from slo.rollout import outbox
from slo.rollout.actuators import Actuator, RolloutTarget
from slo.rollout.data import load_slices, validate_slice_by
from slo.rollout.judge import Thresholds, Verdict, judge
from slo.rollout.models import RolloutAction, RolloutRow
from slo.rollout.outbox import ActionRecord

log = logging.getLogger("asrwatch.rollout")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_LOOKBACK_S = 3660 * 86400
_THRESHOLD_KEYS = {f for f in Thresholds.__dataclass_fields__} - {"min_utterances"}


class RolloutSpec(BaseModel):
    """A rollout. `slice_by` takes the fixed slice dimensions and, validated with the context
    `{"dimensions": names}` (`parse_spec`), the configured ones."""

    model_config = ConfigDict(extra="forbid")

    name: str
    baseline_version: str = Field(min_length=1, max_length=128)
    canary_version: str = Field(min_length=1, max_length=128)
    slice_by: list[str] = Field(default_factory=lambda: ["channel", "region"])
    protected_slices: list[dict[str, str]] = Field(default_factory=list)
    min_utterances: int = Field(default=200, ge=1)
    thresholds: dict[str, float] = Field(default_factory=dict)
    since: AwareDatetime | None = None
    lookback: str = "24h"
    dry_run: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("name: letters, digits, '.', '_' or '-', at most 128, starting with a letter or digit")
        return value

    @field_validator("slice_by")
    @classmethod
    def _slice_by(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return validate_slice_by(value, (info.context or {}).get("dimensions", ()))

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - _THRESHOLD_KEYS
        if unknown:
            raise ValueError(f"thresholds: unknown key(s) {sorted(unknown)}; known: {sorted(_THRESHOLD_KEYS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "RolloutSpec":
        if self.baseline_version == self.canary_version:
            raise ValueError("canary_version: must differ from baseline_version")
        for i, selector in enumerate(self.protected_slices):
            if not selector:
                raise ValueError(f"protected_slices[{i}]: empty selector")
            outside = set(selector) - set(self.slice_by)
            if outside:
                raise ValueError(f"protected_slices[{i}]: {sorted(outside)} not in slice_by {self.slice_by}")
        from collector.store import EARLIEST, LATEST
        from slo.router.config import seconds

        try:
            lookback = seconds(self.lookback)
        except ValueError as exc:
            raise ValueError(f"lookback: {exc}") from None
        # Bounded so that `at - lookback` and `since` stay valid datetimes (a verdict, not a 500).
        if lookback > MAX_LOOKBACK_S:
            raise ValueError(f"lookback: at most {MAX_LOOKBACK_S // 86400}d")
        if self.since is not None and not EARLIEST <= self.since <= LATEST:
            raise ValueError(f"since: must be between {EARLIEST.year} and {LATEST.year}")
        self.threshold_object()
        return self

    def threshold_object(self) -> Thresholds:
        values: dict[str, Any] = dict(self.thresholds)
        for key in ("min_sessions", "bootstrap_iterations", "seed"):
            if key in values:
                values[key] = int(values[key])
        values.setdefault("min_sessions", self.min_utterances)
        return Thresholds(min_utterances=self.min_utterances, **values)


def _row_to_dict(row: RolloutRow) -> dict[str, Any]:
    return {
        "name": row.name, "baseline_version": row.baseline_version, "canary_version": row.canary_version,
        "slice_by": row.slice_by, "protected_slices": row.protected_slices, "min_utterances": row.min_utterances,
        "thresholds": row.thresholds, "since": row.since.isoformat() if row.since else None,
        "lookback_s": row.lookback_s, "dry_run": row.dry_run, "state": row.state,
        "created_at": row.created_at.isoformat(), "created_by": row.created_by,
        "updated_at": row.updated_at.isoformat(), "last_decision": row.last_decision,
        "last_evaluated_at": row.last_evaluated_at.isoformat() if row.last_evaluated_at else None,
    }


def parse_spec(raw: Any, dimensions: Dimensions) -> RolloutSpec:
    """A spec whose `slice_by` may name the store's configured dimensions (pydantic's
    ValidationError, a ValueError, names the field otherwise)."""
    return RolloutSpec.model_validate(raw, context={"dimensions": tuple(dimensions.custom)})


def spec_of(row: RolloutRow, dimensions: Dimensions) -> RolloutSpec:
    return parse_spec(dict(name=row.name, baseline_version=row.baseline_version, canary_version=row.canary_version,
                           slice_by=row.slice_by, protected_slices=row.protected_slices,
                           min_utterances=row.min_utterances, thresholds=row.thresholds, since=row.since,
                           lookback=f"{row.lookback_s}s", dry_run=row.dry_run), dimensions)


def register(engine: Engine, spec: RolloutSpec, *, actor: str, at: datetime) -> tuple[dict[str, Any], bool]:
    """Create the rollout; registering the same spec again is a no-op. Returns (rollout, created)."""
    from slo.router.config import seconds

    dimensions = dimensions_of(engine)
    # A spec built without the store's dimensions may still name one this store does not know.
    validate_slice_by(spec.slice_by, dimensions.custom)
    with OrmSession(engine, expire_on_commit=False) as s, s.begin():
        existing = s.get(RolloutRow, spec.name)
        if existing is not None:
            if spec_of(existing, dimensions).model_dump() != spec.model_dump() | {"lookback": f"{seconds(spec.lookback)}s"}:
                raise ValueError(f"name: rollout {spec.name!r} already exists with a different spec")
            return _row_to_dict(existing), False
        row = RolloutRow(name=spec.name, baseline_version=spec.baseline_version, canary_version=spec.canary_version,
                         slice_by=spec.slice_by, protected_slices=spec.protected_slices,
                         min_utterances=spec.min_utterances, thresholds=spec.thresholds, since=spec.since,
                         lookback_s=seconds(spec.lookback), dry_run=spec.dry_run, state="active", created_at=at,
                         created_by=actor, updated_at=at, last_decision=None, last_verdict=None,
                         last_evaluated_at=None)
        s.add(row)
        s.add(audit.entry(at, actor, "rollout.register", spec.name,
                          f"canary {spec.canary_version} vs baseline {spec.baseline_version}",
                          spec.model_dump(mode="json")))
    return _row_to_dict(row), True


def get(engine: Engine, name: str) -> dict[str, Any] | None:
    with OrmSession(engine) as s:
        row = s.get(RolloutRow, name)
        if row is None:
            return None
        out = _row_to_dict(row)
        out["actions"] = [{"action": a.action, "actuator": a.actuator, "at": a.at.isoformat(), "actor": a.actor,
                           "dry_run": a.dry_run, "ok": a.ok, "detail": a.detail}
                          for a in s.scalars(select(RolloutAction).where(RolloutAction.rollout == name)
                                             .order_by(RolloutAction.id))]
        out["last_verdict"] = row.last_verdict
        return out


def list_all(engine: Engine) -> list[dict[str, Any]]:
    with OrmSession(engine) as s:
        return [_row_to_dict(r) for r in s.scalars(select(RolloutRow).order_by(RolloutRow.created_at))]


def canary_pages(engine: Engine, canary_version: str, at: datetime) -> list[str]:
    """Burn-rate pages firing at `at` on the canary's group (from the SLO engine's alert state)."""
    with OrmSession(engine) as s:
        rows = s.scalars(select(SLOAlertState).where(
            SLOAlertState.severity == "page", SLOAlertState.starts_at <= at,
            (SLOAlertState.resolved_at.is_(None)) | (SLOAlertState.resolved_at > at)))
        return [f"{r.name} slo={r.slo} " + ",".join(f"{k}={v}" for k, v in sorted(r.labels.items())
                                                    if k not in ("alertname", "severity"))
                for r in rows if (r.labels or {}).get("model_version") == canary_version]


def verdict_for(engine: Engine, name: str, at: datetime, *, price_per_gpu_hour: Callable[[str | None], float],
                pages: Callable[[str, datetime], list[str]] | None = None) -> Verdict | None:
    with OrmSession(engine) as s:
        row = s.get(RolloutRow, name)
        if row is None:
            return None
    dimensions = dimensions_of(engine)
    try:
        validate_slice_by(row.slice_by, dimensions.custom)
    except ValueError as exc:
        # Registered by a dimension the config no longer lists: nobody can judge it, so no gate
        # may promote it, and the evaluator's pass over the other rollouts goes on.
        return Verdict(decision="pause", reasons=[f"rollout {name!r} cannot be judged: {exc}"],
                       metrics={"rollout": {"name": name, "state": row.state}}, at=at)
    spec = spec_of(row, dimensions)
    since = spec.since or (at - timedelta(seconds=row.lookback_s))
    slices = load_slices(engine, baseline=spec.baseline_version, canary=spec.canary_version,
                         slice_by=spec.slice_by, since=since, until=at, price_per_gpu_hour=price_per_gpu_hour)
    fired = (pages or (lambda v, t: canary_pages(engine, v, t)))(spec.canary_version, at)
    verdict = judge(slices, protected=spec.protected_slices, thresholds=spec.threshold_object(), at=at,
                    canary_pages=fired)
    verdict.metrics["window"] = {"since": since.isoformat(), "until": at.isoformat()}
    verdict.metrics["rollout"] = {"name": name, "state": row.state, "canary_version": spec.canary_version,
                                  "baseline_version": spec.baseline_version}
    return verdict


def act_on(engine: Engine, name: str, verdict: Verdict, actuators: Sequence[Actuator], *, actor: str,
           dry_run: bool = False, wall_at: datetime | None = None) -> list[ActionRecord] | None:
    """Record the verdict; on `rollback`, claim the rollout and run the actuators once.
    Returns the actions taken, or None when there was nothing (left) to do. The audit rows carry
    the verdict's event time and `wall_at`, the wall clock (now unless given)."""
    at = verdict.at
    wall = wall_at or datetime.now(timezone.utc)
    evidence = verdict.to_dict()
    with OrmSession(engine) as s, s.begin():
        s.execute(update(RolloutRow).where(RolloutRow.name == name).values(
            last_decision=verdict.decision, last_verdict=evidence, last_evaluated_at=at, updated_at=at))
    if verdict.decision != "rollback":
        return None
    unique = list({a.name: a for a in actuators}.values())
    with OrmSession(engine) as s, s.begin():
        row = s.get(RolloutRow, name)
        if row is None:
            return None
        dry_run = dry_run or row.dry_run
        target = RolloutTarget(row.name, row.baseline_version, row.canary_version)
        if not dry_run:
            claimed = s.execute(update(RolloutRow).where(RolloutRow.name == name, RolloutRow.state == "active")
                                .values(state="rolled_back", updated_at=at)).rowcount
            if claimed != 1:
                return None
            s.add(audit.entry(wall, actor, "rollout.rollback", name,
                              "; ".join(verdict.reasons)[:4000], evidence, event_at=at))
            # The outbox, committed with the claim: from here on a crash cannot lose the rollback
            # (see slo.rollout.outbox), and the unique row per actuator keeps it from acting twice.
            s.add_all([RolloutAction(rollout=name, action="rollback", actuator=a.name, at=at, actor=actor,
                                     dry_run=False, ok=False, detail=outbox.PENDING) for a in unique])
    action = "rollback_dry_run" if dry_run else "rollback"
    records = []
    for actuator in unique:
        # Dry runs have no outbox: inserting their unique row is the claim.
        record = outbox.run_action(engine, target, action, actuator, evidence, at=at, wall_at=wall, actor=actor,
                                   dry_run=dry_run,
                                   claim_from=None if dry_run else outbox.PENDING)
        if record is not None:
            records.append(record)
    if not records and dry_run:
        return None
    return records


def active_rollouts(engine: Engine) -> list[str]:
    with OrmSession(engine) as s:
        return list(s.scalars(select(RolloutRow.name).where(RolloutRow.state == "active").order_by(RolloutRow.name)))


def evaluate_all(engine: Engine, at: datetime, actuators: Sequence[Actuator], *, actor: str,
                 price_per_gpu_hour: Callable[[str | None], float], dry_run: bool = False) -> dict[str, Any]:
    """One pass over the active rollouts (call it only while holding the leader lock)."""
    out: dict[str, Any] = {}
    for name, records in outbox.resume_pending(engine, actuators).items():
        out[name] = {"decision": "rollback", "actions": [asdict(a) for a in records], "resumed": True}
    for name in active_rollouts(engine):
        verdict = verdict_for(engine, name, at, price_per_gpu_hour=price_per_gpu_hour)
        if verdict is None:
            continue
        actions = act_on(engine, name, verdict, actuators, actor=actor, dry_run=dry_run)
        out[name] = {"decision": verdict.decision, "actions": [asdict(a) for a in actions or []]}
    return out

