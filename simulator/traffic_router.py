"""The traffic router the simulated fleet obeys: who gets how much traffic.

A rollback actuator (or an operator) sets a model version's traffic weight; the simulator
re-reads the state before every simulated minute and routes sessions accordingly, so a
rolled-back canary stops receiving traffic and the fleet's metrics recover.

The state is a small JSON document, either a file (written atomically: temp file in the
same folder, then `os.replace`) or served by an HTTP endpoint (GET returns the document):

    {
      "routes": {
        "whisper-large-v3@2026-11-15": {"weight": 0.0, "reason": "rollback: far_field WER +8%"}
      },
      "updated_at": "2026-11-21T22:05:00+00:00",
      "updated_by": "rollout-judge"
    }

- `routes` maps a model version to `{"weight": w}` with 0 <= w <= 1: the share of traffic
  that version receives. Only canary versions need an entry; the stable version takes the
  rest. A version with no entry keeps the share its scenario schedules. Other keys inside
  a route (`reason`...) are kept but ignored by the simulator.
- `updated_at` (RFC 3339, timezone-aware) and `updated_by` are informational.
- A missing file means "no overrides". A file that is not valid JSON or breaks the format is
  an error naming the field, never silently ignored.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class RouterStateError(ValueError):
    """The router state document is malformed; the message names the field."""


@dataclass(frozen=True)
class RouterState:
    weights: dict[str, float] = field(default_factory=dict)
    updated_at: datetime | None = None
    updated_by: str | None = None

    def weight_for(self, model_version: str) -> float | None:
        return self.weights.get(model_version)


def parse_router_state(data: Any, *, source: str = "router state") -> RouterState:
    if not isinstance(data, dict):
        raise RouterStateError(f"{source}: must be a JSON object with a 'routes' key")
    routes = data.get("routes", {})
    if not isinstance(routes, dict):
        raise RouterStateError(f"{source}: routes: must be an object mapping model versions to routes")
    weights: dict[str, float] = {}
    for version, route in routes.items():
        if not isinstance(route, dict) or "weight" not in route:
            raise RouterStateError(f"{source}: routes.{version}: must be an object with a 'weight'")
        weight = route["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= float(weight) <= 1.0:
            raise RouterStateError(f"{source}: routes.{version}.weight: must be a number within 0..1, got {weight!r}")
        weights[str(version)] = float(weight)
    updated_at = None
    if data.get("updated_at") is not None:
        try:
            updated_at = datetime.fromisoformat(str(data["updated_at"]))
        except ValueError as exc:
            raise RouterStateError(f"{source}: updated_at: not an RFC 3339 time ({exc})") from None
        if updated_at.tzinfo is None:
            raise RouterStateError(f"{source}: updated_at: must carry a timezone offset")
    updated_by = data.get("updated_by")
    return RouterState(weights=weights, updated_at=updated_at, updated_by=None if updated_by is None else str(updated_by))


def load_router_state(source: str | os.PathLike[str], *, timeout_s: float = 5.0) -> RouterState:
    """Read the state from a file path or an http(s) URL. A missing file means no overrides."""
    text_source = str(source)
    if text_source.startswith(("http://", "https://")):
        import httpx

        response = httpx.get(text_source, timeout=timeout_s)
        response.raise_for_status()
        return parse_router_state(response.json(), source=text_source)
    path = Path(text_source)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return RouterState()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RouterStateError(f"{path}: not valid JSON ({exc})") from None
    return parse_router_state(data, source=str(path))


def write_router_state(
    path: str | os.PathLike[str],
    weights: dict[str, float],
    *,
    at: datetime,
    updated_by: str = "asrwatch",
    reasons: dict[str, str] | None = None,
) -> None:
    """Write the state atomically so a reader never sees half a file."""
    if at.tzinfo is None:
        raise ValueError("at: must be timezone-aware")
    routes: dict[str, dict[str, Any]] = {}
    for version, weight in weights.items():
        route: dict[str, Any] = {"weight": float(weight)}
        if reasons and version in reasons:
            route["reason"] = reasons[version]
        routes[version] = route
    document = {
        "routes": routes,
        "updated_at": at.astimezone(timezone.utc).isoformat(),
        "updated_by": updated_by,
    }
    parse_router_state(document)  # refuse to write what the reader would reject
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
