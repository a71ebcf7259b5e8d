"""A small typed client for the collector's read API, as the console uses it.

Every failure becomes a `ConsoleError` whose `message` is one line a person can act on
(collector down, token expired, wrong scope, endpoint missing on this collector), so pages
never show a traceback. The transport (`fetch`) is injectable: the page layer passes one
wrapped in `st.cache_data` so repeated reruns within a few seconds hit no server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

READ_TIMEOUT_S = 60.0

# (method, url, token, params tuple, json body) -> (status code, parsed JSON or text)
Fetch = Callable[[str, str, str | None, tuple[tuple[str, str], ...], Any], tuple[int, Any]]


class ConsoleError(Exception):
    """A problem the page states in one line instead of a traceback."""

    kind = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message.splitlines()[0] if message else self.kind


class APIDown(ConsoleError):
    kind = "down"


class AuthError(ConsoleError):
    kind = "auth"


class Forbidden(ConsoleError):
    kind = "forbidden"


class TimedOut(ConsoleError):
    """The collector took too long for this one question; other sections may still answer."""

    kind = "timeout"


class NotAvailable(ConsoleError):
    """The endpoint does not exist on this collector (an older or partial deployment)."""

    kind = "not_available"


class NotFound(ConsoleError):
    """The endpoint exists but the thing asked for does not (e.g. an unknown session id)."""

    kind = "not_found"


class BadRequest(ConsoleError):
    kind = "bad_request"


class ServerError(ConsoleError):
    kind = "server"


def http_fetch(method: str, url: str, token: str | None, params: tuple[tuple[str, str], ...],
               body: Any = None, timeout_s: float = READ_TIMEOUT_S) -> tuple[int, Any]:
    """One HTTP call; returns (status, JSON or text). Transport errors raise `APIDown`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(method, url, params=list(params), json=body, headers=headers, timeout=timeout_s)
    except httpx.ConnectTimeout:
        raise APIDown(f"Collector API unreachable at {_origin(url)} (connect timeout): "
                      "is `asrwatch serve` running and --api right?") from None
    except httpx.TimeoutException:
        raise TimedOut(f"{httpx.URL(url).path} did not answer within {timeout_s:.0f} s "
                       "(the collector is busy or the store is very large).") from None
    except httpx.TransportError as exc:
        raise APIDown(f"Collector API unreachable at {_origin(url)} ({type(exc).__name__}): "
                      "is `asrwatch serve` running and --api right?") from None
    try:
        payload = response.json()
    except ValueError:
        payload = response.text
    return response.status_code, payload


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


def _detail(payload: Any) -> str:
    if isinstance(payload, Mapping) and "detail" in payload:
        detail = payload["detail"]
        if isinstance(detail, list):  # FastAPI validation errors
            return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail
                             if isinstance(d, Mapping))
        return str(detail)
    return str(payload)[:200]


def raise_for(status: int, payload: Any, path: str, scope: str = "read") -> None:
    """Map an HTTP status to the one-line error the console shows."""
    if status < 400:
        return
    detail = _detail(payload).replace("\n", " ")
    if status == 401:
        raise AuthError(f"The collector rejected the {scope} token ({detail}): it is expired or invalid; "
                        "restart the console with a valid --token.")
    if status == 403:
        raise Forbidden(f"The token lacks the '{scope}' scope for {path} ({detail}).")
    if status in (404, 405) and detail in ("Not Found", "Method Not Allowed"):
        raise NotAvailable(f"{path} is not available on this collector.")
    if status == 404:
        raise NotFound(detail)
    if status in (400, 409, 422):
        raise BadRequest(f"{path}: {detail}")
    raise ServerError(f"Collector error {status} on {path}: {detail}")


@dataclass(frozen=True)
class ConsoleAPI:
    base_url: str
    token: str | None = None
    fetch: Fetch = http_fetch

    def _call(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None,
              token: str | None = None, scope: str = "read") -> Any:
        clean = tuple(sorted((k, _param(v)) for k, v in (params or {}).items() if v not in (None, "")))
        status, payload = self.fetch(method, self.base_url.rstrip("/") + path, token or self.token, clean, body)
        raise_for(status, payload, path, scope)
        return payload

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._call("GET", path, params)

    # -- read API ------------------------------------------------------------------------

    def now(self) -> datetime:
        """The collector's "now" (`GET /api/v1/clock`): the watermark when it judges in event
        time, so a live view agrees with the alerts the evaluator sends during a replay."""
        return datetime.fromisoformat(str(self.get("/api/v1/clock")["evaluation_time"]).replace("Z", "+00:00"))

    def dimensions(self) -> list[str]:
        """The collector's configured dimensions (`GET /api/v1/dimensions`), which its queries
        filter by like the fixed ones; none on a collector older than that endpoint."""
        try:
            return [str(d) for d in self.get("/api/v1/dimensions").get("configured") or []]
        except NotAvailable:
            return []

    def sessions(self, window: Mapping[str, str], filters: Mapping[str, str], limit: int = 100,
                 status: str | None = None) -> list[dict[str, Any]]:
        return self.get("/api/v1/sessions", {**window, **filters, "limit": limit, "status": status})

    def storage(self) -> dict[str, Any]:
        """Which sessions the collector stores: `GET /api/v1/storage` (`sessions`: all or sample)."""
        return self.get("/api/v1/storage")

    def session(self, session_id: str) -> dict[str, Any]:
        return self.get(f"/api/v1/sessions/{_quote(session_id)}")

    def wer(self, group_by: list[str], window: Mapping[str, str], filters: Mapping[str, str],
            step: str | None = None, intervals: bool = True) -> list[dict[str, Any]]:
        """Corpus WER per group; with `step`, one row per (bucket start `t`, group). `intervals=False`
        leaves out the bootstrap intervals (a chart over time draws none)."""
        return self.get("/api/v1/wer", {"group_by": ",".join(group_by), **window, **filters, "step": step,
                                         "intervals": None if intervals else "false"})

    def diarization(self, group_by: list[str], window: Mapping[str, str], filters: Mapping[str, str]) -> list[dict]:
        """DER and its components per group: `GET /api/v1/diarization`."""
        return self.get("/api/v1/diarization", {"group_by": ",".join(group_by), **window, **filters})

    def latency(self, group_by: list[str], window: Mapping[str, str], filters: Mapping[str, str],
                step: str | None = None, kind: str | None = None) -> list[dict]:
        """`kind`: only these latencies (`final`, ...), as a chart of one needs."""
        return self.get("/api/v1/latency", {"group_by": ",".join(group_by), **window, **filters, "step": step,
                                            "kind": kind})

    def cost(self, group_by: list[str], window: Mapping[str, str], filters: Mapping[str, str],
             step: str | None = None) -> list[dict]:
        return self.get("/api/v1/cost", {"group_by": ",".join(group_by), **window, **filters, "step": step})

    def throughput(self, group_by: list[str], window: Mapping[str, str], filters: Mapping[str, str],
                   step: str | None = None) -> list[dict]:
        """Load per node or pool (`GET /api/v1/throughput`); of `filters`, only `pool` applies."""
        pool = {"pool": filters["pool"]} if filters.get("pool") else {}
        return self.get("/api/v1/throughput", {"group_by": ",".join(group_by), **window, **pool, "step": step})

    def outcomes(self, group_by: list[str], window: Mapping[str, str], filters: Mapping[str, str],
                 step: str | None = None) -> list[dict]:
        """Status counts per group (decode errors, partials): `GET /api/v1/status`."""
        return self.get("/api/v1/status", {"group_by": ",".join(group_by), **window, **filters, "step": step})

    def samples(self, window: Mapping[str, str], filters: Mapping[str, str], *, min_wer: float | None = None,
                order: str = "wer", limit: int = 50) -> list[dict[str, Any]]:
        """Labeled samples joined with their session's slice, SNR and confidence: `GET /api/v1/samples`."""
        return self.get("/api/v1/samples", {**window, **filters, "min_wer": min_wer, "order": order, "limit": limit})

    def slos(self, at: str) -> dict[str, Any]:
        return self.get("/api/v1/slos", {"at": at})

    def slo_series(self, name: str, group: Mapping[str, str], window: Mapping[str, str], step: str) -> dict[str, Any]:
        """Burn rates per tier window, budget left and alert episodes over the window:
        `GET /api/v1/slos/{name}/series` for one group (its labels)."""
        labels = ",".join(f"{k}={v}" for k, v in group.items())
        return self.get(f"/api/v1/slos/{_quote(name)}/series", {**window, "group": labels, "step": step})

    def annotations(self, window: Mapping[str, str]) -> list[dict[str, Any]]:
        """Rollout registrations, rollbacks and silences as time-axis markers: `GET /api/v1/annotations`."""
        return self.get("/api/v1/annotations", dict(window))

    def alerts(self, at: str, state: str = "firing") -> dict[str, Any]:
        return self.get("/api/v1/alerts", {"at": at, "state": state})

    def silences(self, at: str) -> list[dict[str, Any]]:
        return self.get("/api/v1/silences", {"at": at})

    def tickets(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self.get("/api/v1/tickets", {"status": status, "limit": limit})

    def notifications(self, window: Mapping[str, str], limit: int = 200) -> list[dict[str, Any]]:
        return self.get("/api/v1/notifications", {**window, "limit": limit})

    def rollouts(self) -> list[dict[str, Any]]:
        found = self.get("/api/v1/rollouts")
        return found.get("rollouts", []) if isinstance(found, Mapping) else found

    def rollout(self, name: str) -> dict[str, Any]:
        return self.get(f"/api/v1/rollouts/{_quote(name)}")

    def verdict(self, name: str, at: str) -> dict[str, Any]:
        return self.get(f"/api/v1/rollouts/{_quote(name)}/verdict", {"at": at})

    def audit(self, window: Mapping[str, str], limit: int = 200) -> list[dict[str, Any]]:
        found = self.get("/api/v1/audit", {**window, "limit": limit})
        return found.get("entries", []) if isinstance(found, Mapping) else found

    def drift(self, at: str | None) -> dict[str, Any]:
        """`at` None: the collector's current report (its last drift pass, in a live view)."""
        return self.get("/api/v1/drift", {"at": at} if at is not None else {})

    # -- admin actions (never cached) ------------------------------------------------------

    def create_silence(self, admin_token: str, matchers: list[str], duration: str, comment: str,
                       created_by: str | None = None) -> dict[str, Any]:
        body = {"matchers": matchers, "duration": duration, "comment": comment, "createdBy": created_by}
        status, payload = http_fetch("POST", self.base_url.rstrip("/") + "/api/v1/silences", admin_token, (), body)
        raise_for(status, payload, "/api/v1/silences", scope="admin")
        return payload

    def rollback(self, admin_token: str, name: str, reason: str) -> dict[str, Any]:
        """Manual rollback; where the collector lacks one, re-judge now (`/evaluate`), which rolls
        back only if the verdict says so. The answer then carries `"via": "evaluate"`."""
        path = f"/api/v1/rollouts/{_quote(name)}/rollback"
        status, payload = http_fetch("POST", self.base_url.rstrip("/") + path, admin_token, (), {"reason": reason})
        try:
            raise_for(status, payload, path, scope="admin")
            return payload
        except NotAvailable:
            pass
        path = f"/api/v1/rollouts/{_quote(name)}/evaluate"
        status, payload = http_fetch("POST", self.base_url.rstrip("/") + path, admin_token, (), None)
        raise_for(status, payload, path, scope="admin")
        return {**payload, "via": "evaluate"}


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quote(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="")
