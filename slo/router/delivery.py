"""Sending a notification over HTTP with retry and exponential backoff.

Retried: connection errors, timeouts, 429 and 5xx (honouring Retry-After, capped). Other
4xx are permanent (a bad routing key does not get better by asking again).
Receiver secrets (PagerDuty routing keys, webhook URLs with tokens) are never logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from slo.router import payloads
from slo.router.config import Receiver
from slo.router.dispatcher import Notification

_MAX_RETRY_AFTER_S = 30.0


@dataclass(frozen=True)
class DeliveryResult:
    delivered: bool
    attempts: int
    http_status: int | None
    error: str | None


def request_for(note: Notification, receiver: Receiver, *, external_url: str | None = "",
                wall_now: datetime | None = None, wall_starts: Mapping[str, datetime] | None = None,
                ) -> tuple[str, Any]:
    """(url, JSON body) for a receiver kind; tickets only call out when they have a url.
    `wall_now`/`wall_starts` are the wall clock for Alertmanager, which judges times on its own."""
    kind = receiver.kind
    if kind == "webhook":
        return receiver.url or "", payloads.webhook_v4(note, external_url=external_url)
    if kind == "alertmanager":
        return (receiver.url or "").rstrip("/") + "/api/v2/alerts", payloads.alertmanager_v2(
            note, wall_now=wall_now, wall_starts=wall_starts, external_url=external_url)
    if kind == "pagerduty":
        return receiver.url or "", payloads.pagerduty_v2(note, receiver.routing_key or "", external_url=external_url)
    if kind == "slack":
        return receiver.url or "", payloads.slack(note, external_url=external_url)
    if kind == "ticket":
        return receiver.url or "", {"ticket": payloads.ticket_fields(note, external_url=external_url),
                                    "status": note.status, "group_key": note.group_key}
    raise ValueError(f"receiver {receiver.name}: unknown kind {kind}")


def post_with_retry(
    client: httpx.Client,
    url: str,
    body: Any,
    receiver: Receiver,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    status: int | None = None
    error: str | None = None
    for attempt in range(1, receiver.max_attempts + 1):
        delay = receiver.backoff_s * (2 ** (attempt - 1))
        try:
            response = client.post(url, json=body, headers=receiver.headers, timeout=receiver.timeout_s)
            status = response.status_code
            if 200 <= status < 300:
                return DeliveryResult(True, attempt, status, None)
            error = f"HTTP {status}"
            if status != 429 and status < 500:
                return DeliveryResult(False, attempt, status, error)
            retry_after = response.headers.get("retry-after", "")
            if retry_after.isdigit():
                delay = min(float(retry_after), _MAX_RETRY_AFTER_S)
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}"  # the message may echo the URL's token
        if attempt < receiver.max_attempts:
            sleep(delay)
    return DeliveryResult(False, receiver.max_attempts, status, error)
