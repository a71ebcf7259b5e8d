"""Flagger webhooks: the HTTP status each hook type gets for each verdict (pure, no I/O).

Flagger sends no hook type in its payload (`name, namespace, phase, checksum, metadata`), and
reads nothing of the answer but its status: above 202 is a failed call (fluxcd/flagger
pkg/controller/webhook.go). What a failed call means depends on the hook's type
(pkg/controller/scheduler_hooks.go and scheduler.go):
- confirm-rollout, confirm-traffic-increase, confirm-promotion: Flagger waits (phase Waiting or
  WaitingPromotion) and asks again next interval; no failed check is counted;
- rollback: a *successful* call rolls the canary back at once; a failed one means "no rollback";
- rollout (or no type): a failed call is a failed check; `analysis.threshold` of them roll back.
So each typed path answers 2xx on exactly the decisions whose effect in Flagger is ours:
`pause` (too little data, or a rollout name not registered) makes Flagger wait or carry on,
never count a failure.
"""

from __future__ import annotations

from typing import Literal

HookType = Literal["confirm-rollout", "confirm-traffic-increase", "confirm-promotion", "rollback", "rollout"]

PASS = 200  # Flagger's "call succeeded" is 200..202
HOLD = 412  # any status above 202 is a failed call; 412: the verdict is not what this hook needs

# The decisions that answer 2xx, per hook type.
_PASS_ON: dict[str, frozenset[str]] = {
    "confirm-rollout": frozenset({"continue"}),
    "confirm-traffic-increase": frozenset({"continue"}),
    "confirm-promotion": frozenset({"continue"}),
    "rollback": frozenset({"rollback"}),
    "rollout": frozenset({"continue", "pause"}),
}
# What Flagger does with a successful / failed call of each type (for the answer's body and docs).
_EFFECT: dict[str, tuple[str, str]] = {
    "confirm-rollout": ("start the canary", "wait for approval (no failed check)"),
    "confirm-traffic-increase": ("increase the canary's traffic", "wait at the current weight (no failed check)"),
    "confirm-promotion": ("promote the canary", "wait before promotion (no failed check)"),
    "rollback": ("roll the canary back now", "no rollback"),
    "rollout": ("check passed", "failed check (counts toward analysis.threshold)"),
}


def status_for(hook: str, decision: str) -> int:
    """The status to answer Flagger's `hook` call when the verdict is `decision`."""
    return PASS if decision in _PASS_ON[hook] else HOLD


def effect(hook: str, status: int) -> str:
    """What Flagger does on receiving `status` for a `hook` call."""
    succeeded, failed = _EFFECT[hook]
    return succeeded if status <= 202 else failed
