"""The rollback outbox: a rollback survives a crash of the process carrying it out.

Each actuator's part of a rollback is a `rollout_actions` row, written `pending` in the same
transaction that claims the rollout (`service.act_on`). Just before the actuator runs, the row
is taken by a conditional update to `in progress by <process> since <time>`; right after, it
gets the outcome. A crash leaves the row pending or in progress, and the leader's next pass
(`resume_pending`) runs that actuator again once the process that held it is gone. The
actuators are idempotent (the traffic file is already at weight 0; the webhook repeats the
same Idempotency-Key), so where the crash came after the actuator acted, running it again
changes nothing, and where it came before, the rollback still happens.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession

from collector.store import PROCESS_ID, AuditEntry, audit, process_gone
from slo.rollout.actuators import Actuator, RolloutTarget
from slo.rollout.models import RolloutAction, RolloutRow

log = logging.getLogger("asrwatch.rollout")
PENDING = "pending"
IN_PROGRESS = "in progress by "
# An action in progress in a process on another host cannot be checked: after this long
# (several times an actuator's worst case) it counts as abandoned.
STALE_AFTER = timedelta(minutes=10)
# Test-only fault injection: the crash-safety test sets it to die (like kill -9) at a point.
CRASH_ENV = "ASRWATCH_TEST_CRASH_AT"


@dataclass(frozen=True)
class ActionRecord:
    actuator: str
    ok: bool
    detail: str
    dry_run: bool


def crash_point(point: str) -> None:
    if os.environ.get(CRASH_ENV) == point:
        os._exit(137)


def abandoned(detail: str, now: datetime) -> bool:
    """Whether an unfinished action may be taken over: pending, or in progress in a process
    that is gone (or too long ago to still be running)."""
    if detail == PENDING:
        return True
    if not detail.startswith(IN_PROGRESS):
        return False
    owner, _, since = detail.removeprefix(IN_PROGRESS).partition(" since ")
    if process_gone(owner):
        return True
    try:
        return now - datetime.fromisoformat(since) > STALE_AFTER
    except (TypeError, ValueError):
        return False


def run_action(engine: Engine, target: RolloutTarget, action: str, actuator: Actuator,
               evidence: Mapping[str, Any], *, at: datetime, actor: str, dry_run: bool,
               claim_from: str | None, resumed: bool = False, wall_at: datetime | None = None) -> ActionRecord | None:
    """Take the action row (from `claim_from`, or by inserting it when None, as dry runs do),
    run the actuator, record the outcome and audit it (at `wall_at`, the wall clock, now unless
    given; `at` is the event time judged). None when another process has it."""
    where = (RolloutAction.rollout == target.name, RolloutAction.action == action,
             RolloutAction.actuator == actuator.name)
    started = f"{IN_PROGRESS}{PROCESS_ID} since {datetime.now(timezone.utc).isoformat()}"
    try:
        with OrmSession(engine) as s, s.begin():
            if claim_from is None:
                s.add(RolloutAction(rollout=target.name, action=action, actuator=actuator.name, at=at, actor=actor,
                                    dry_run=dry_run, ok=False, detail=started))
            elif s.execute(update(RolloutAction).where(*where, RolloutAction.detail == claim_from)
                           .values(detail=started)).rowcount != 1:
                return None
    except IntegrityError:
        return None
    try:
        result = actuator.rollback(target, evidence, at=at, actor=actor, dry_run=dry_run)
        ok, detail = result.ok, result.detail
    except Exception as exc:  # an actuator failing must not stop the others
        ok, detail = False, f"{type(exc).__name__}: {exc}"[:1000]
        log.exception("actuator %s failed for rollout %s", actuator.name, target.name)
    crash_point("rollback.after_actuator")
    if resumed:
        detail = f"resumed after an interruption: {detail}"
    with OrmSession(engine) as s, s.begin():
        s.execute(update(RolloutAction).where(*where).values(ok=ok, detail=detail))
        s.add(audit.entry(wall_at or datetime.now(timezone.utc), actor, f"rollout.{action}.{'ok' if ok else 'failed'}",
                          target.name, detail[:4000], {"actuator": actuator.name, "decision": evidence.get("decision"),
                                                       "reasons": list(evidence.get("reasons", []))}, event_at=at))
    return ActionRecord(actuator.name, ok, detail, dry_run)


def resume_pending(engine: Engine, actuators: Sequence[Actuator], *,
                   now: datetime | None = None) -> dict[str, list[ActionRecord]]:
    """Finish rollbacks whose actions a crash left pending or in progress (leader only)."""
    now = now or datetime.now(timezone.utc)
    by_name = {a.name: a for a in actuators}
    with OrmSession(engine) as s:
        rows = s.execute(
            select(RolloutAction, RolloutRow).join(RolloutRow, RolloutRow.name == RolloutAction.rollout)
            .where(RolloutAction.action == "rollback", RolloutAction.ok.is_(False),
                   or_(RolloutAction.detail == PENDING, RolloutAction.detail.startswith(IN_PROGRESS, autoescape=True)))
            .order_by(RolloutAction.id)).all()
        pending = [(a.actuator, a.detail, a.at, a.actor, r) for a, r in rows if abandoned(a.detail, now)]
        evidence = {r.name: _rollback_evidence(s, r) for *_, r in pending}
    out: dict[str, list[ActionRecord]] = {}
    for name, detail, at, actor, rollout in pending:
        target = RolloutTarget(rollout.name, rollout.baseline_version, rollout.canary_version)
        actuator = by_name.get(name) or _Unconfigured(name)
        log.warning("resuming the interrupted rollback of %s on %s", rollout.name, name)
        record = run_action(engine, target, "rollback", actuator, evidence[rollout.name], at=at, actor=actor,
                            dry_run=False, claim_from=detail, resumed=True)
        if record is not None:
            out.setdefault(rollout.name, []).append(record)
    return out


def _rollback_evidence(s: OrmSession, rollout: RolloutRow) -> dict[str, Any]:
    """The verdict the rollback was claimed on (its audit entry), for the actuator's message."""
    entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "rollout.rollback",
                                               AuditEntry.target == rollout.name)
                      .order_by(AuditEntry.id.desc()).limit(1)).first()
    if entry is not None and entry.evidence:
        return dict(entry.evidence)
    return dict(rollout.last_verdict or {"decision": "rollback", "reasons": []})


class _Unconfigured:
    """An actuator the rollback was planned with but that is no longer configured: recorded as
    failed, so that the outbox does not hold it forever and an operator sees it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def rollback(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"actuator {self.name} is no longer configured; the rollback was not applied there")
