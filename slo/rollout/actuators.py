"""Rollback actuators: pluggable, idempotent, with a dry-run mode.

Each takes the rollout and the verdict and returns what it did. Running one twice has the
effect of running it once (the traffic file is already at weight 0; the webhook carries an
Idempotency-Key). Argo Rollouts and Flagger pull the verdict instead (see INTEGRATIONS.md).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import httpx

from asrwatch.settings import Settings, unknown_key


@dataclass(frozen=True)
class RolloutTarget:
    name: str
    baseline_version: str
    canary_version: str


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    detail: str
    changed: bool = True


class Actuator(Protocol):
    name: str

    def rollback(self, rollout: RolloutTarget, verdict: Mapping[str, Any], *, at: datetime, actor: str,
                 dry_run: bool) -> ActionResult: ...


def _rfc3339(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class TrafficRouterFile:
    """The file a gateway (and the simulator) reads:
    `{"routes": {"<model_version>": {"weight": 0..1}}, "updated_at", "updated_by", "reason"}`.
    Rollback moves the canary's weight to the baseline, written atomically (temp + rename)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = f"traffic_file:{self.path}"

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"routes": {}}
        if not isinstance(data, dict) or not isinstance(data.get("routes", {}), dict):
            raise ValueError(f"{self.path}: 'routes' must be a mapping of model_version to {{weight}}")
        data.setdefault("routes", {})
        return data

    def rollback(self, rollout: RolloutTarget, verdict: Mapping[str, Any], *, at: datetime, actor: str,
                 dry_run: bool) -> ActionResult:
        data = self.read()
        routes: dict[str, Any] = data["routes"]
        canary = float(routes.get(rollout.canary_version, {}).get("weight", 0.0))
        if rollout.canary_version in routes and canary == 0.0:
            return ActionResult(True, f"{rollout.canary_version} already at weight 0 in {self.path}", changed=False)
        baseline = float(routes.get(rollout.baseline_version, {}).get("weight", 0.0))
        new_baseline = min(1.0, baseline + canary) if rollout.baseline_version in routes else 1.0
        plan = (f"set {rollout.canary_version} weight {canary:g} -> 0, "
                f"{rollout.baseline_version} weight {baseline:g} -> {new_baseline:g} in {self.path}")
        if dry_run:
            return ActionResult(True, "dry run: would " + plan, changed=False)
        routes[rollout.canary_version] = {**routes.get(rollout.canary_version, {}), "weight": 0.0}
        routes[rollout.baseline_version] = {**routes.get(rollout.baseline_version, {}), "weight": new_baseline}
        data.update(updated_at=_rfc3339(at), updated_by=actor,
                    reason=f"rollback of {rollout.name}: " + "; ".join(verdict.get("reasons", []))[:2000])
        write_atomic(self.path, data)
        return ActionResult(True, plan)


def write_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Readers see the old file or the new one, never a torn write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Webhook:
    """POSTs the rollback order; receivers deduplicate on the Idempotency-Key header."""

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None, max_attempts: int = 4,
                 backoff_s: float = 0.5, timeout_s: float = 10.0, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url
        self.name = "webhook:" + url.split("?")[0]
        self.headers = dict(headers or {})
        self.max_attempts, self.backoff_s, self.timeout_s = max_attempts, backoff_s, timeout_s
        self.client = client
        self.sleep = sleep

    def rollback(self, rollout: RolloutTarget, verdict: Mapping[str, Any], *, at: datetime, actor: str,
                 dry_run: bool) -> ActionResult:
        body = {"action": "rollback", "rollout": rollout.name, "canary_version": rollout.canary_version,
                "baseline_version": rollout.baseline_version, "decision": verdict.get("decision"),
                "reasons": list(verdict.get("reasons", [])), "at": _rfc3339(at), "actor": actor}
        key = f"{rollout.name}:rollback:{rollout.canary_version}"
        if dry_run:
            return ActionResult(True, f"dry run: would POST rollback of {rollout.canary_version} to {self.name}",
                                changed=False)
        client = self.client or httpx.Client()
        error = ""
        try:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    r = client.post(self.url, json=body, timeout=self.timeout_s,
                                    headers={**self.headers, "Idempotency-Key": key})
                    if 200 <= r.status_code < 300:
                        return ActionResult(True, f"POST {self.name}: HTTP {r.status_code} (attempt {attempt})")
                    error = f"HTTP {r.status_code}"
                    if r.status_code < 500 and r.status_code != 429:
                        break
                except httpx.HTTPError as exc:
                    error = type(exc).__name__
                if attempt < self.max_attempts:
                    self.sleep(self.backoff_s * 2 ** (attempt - 1))
        finally:
            if self.client is None:
                client.close()
        return ActionResult(False, f"POST {self.name} failed: {error}")


# The keys each kind of `rollout_actuators` entry takes.
ACTUATOR_KEYS = {"webhook": ("kind", "url", "headers"), "traffic_file": ("kind", "path")}


def from_settings(settings: Settings) -> list[Actuator]:
    """`traffic_router_file` plus `rollout_actuators: [{kind: webhook, url, headers}, {kind: traffic_file, path}]`."""
    out: list[Actuator] = []
    path = settings.traffic_router_file
    if path:
        out.append(TrafficRouterFile(path))
    for i, spec in enumerate(settings.rollout_actuators or []):
        kind = spec.get("kind") if isinstance(spec, dict) else None
        allowed = ACTUATOR_KEYS.get(kind) if isinstance(kind, str) else None
        if allowed is not None:  # a misspelt key (`header:`) would be dropped without a word
            for key in spec:
                if key not in allowed:
                    raise ValueError(unknown_key(f"rollout_actuators[{i}]", key, allowed))
        if kind == "webhook" and spec.get("url"):
            out.append(Webhook(spec["url"], headers=spec.get("headers")))
        elif kind == "traffic_file" and spec.get("path"):
            out.append(TrafficRouterFile(spec["path"]))
        else:
            raise ValueError(f"rollout_actuators[{i}]: need kind webhook (with url) or traffic_file (with path)")
    return out
