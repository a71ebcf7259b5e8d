"""Wire formats per receiver kind, built from a Notification. Pure functions.

- webhook: Alertmanager's webhook payload, version 4
- alertmanager: the `POST /api/v2/alerts` body (a list of postable alerts)
- pagerduty: Events API v2 (`routing_key`, `event_action` trigger|resolve, `dedup_key`, `payload`)
- slack: incoming-webhook JSON (`text` fallback plus mrkdwn `blocks`)
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

from slo.alert import Alert
from slo.router.dispatcher import Notification

_ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager puts in endsAt of a firing alert
PD_SEVERITY = {"page": "critical", "ticket": "warning", "info": "info"}


def rfc3339(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _annotations(alert: Alert) -> dict[str, str]:
    out = {"summary": alert.summary, "runbook_url": alert.runbook_url}
    out.update(alert.annotations)
    return out


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def webhook_v4(note: Notification, *, external_url: str = "") -> dict[str, Any]:
    alerts = []
    for a in note.alerts:
        alerts.append({
            "status": "resolved" if a.resolved else "firing",
            "labels": dict(a.labels),
            "annotations": _annotations(a),
            "startsAt": rfc3339(a.starts_at),
            "endsAt": rfc3339(a.ends_at) if a.ends_at else _ZERO_TIME,
            "generatorURL": a.runbook_url,
            "fingerprint": a.fingerprint,
        })
    return {
        "version": "4",
        "groupKey": note.group_key,
        "truncatedAlerts": 0,
        "status": note.status,
        "receiver": note.receiver,
        "groupLabels": dict(note.group_labels),
        "commonLabels": _common([dict(a.labels) for a in note.alerts]),
        "commonAnnotations": _common([_annotations(a) for a in note.alerts]),
        "externalURL": external_url,
        "alerts": alerts,
    }


def alertmanager_v2(note: Notification) -> list[dict[str, Any]]:
    """Firing alerts carry an explicit endsAt a few resend intervals ahead (as Prometheus
    does), so they stay active while we keep re-sending and expire if the router stops."""
    hold = timedelta(seconds=max(4 * note.interval_s, 240.0))
    out = []
    for a in note.alerts:
        item: dict[str, Any] = {
            "labels": dict(a.labels),
            "annotations": _annotations(a),
            "startsAt": rfc3339(a.starts_at),
            "generatorURL": a.runbook_url if a.runbook_url.startswith("http") else "",
        }
        item["endsAt"] = rfc3339(a.ends_at if a.ends_at is not None else note.at + hold)
        out.append(item)
    return out


def pagerduty_dedup_key(group_key: str) -> str:
    # One PagerDuty incident per notification group, so resolve closes what trigger opened.
    return hashlib.sha256(group_key.encode()).hexdigest()[:32]


def pagerduty_v2(note: Notification, routing_key: str, *, source: str = "asrwatch") -> dict[str, Any]:
    dedup = pagerduty_dedup_key(note.group_key)
    if note.status == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup}
    worst = min(note.firing, key=lambda a: ("page", "ticket", "info").index(a.severity))
    summary = worst.summary if len(note.firing) == 1 else f"[{len(note.firing)}] {worst.summary}"
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {
            "summary": summary[:1024],
            "source": source,
            "severity": PD_SEVERITY.get(worst.severity, "error"),
            "timestamp": rfc3339(worst.starts_at),
            "component": worst.labels.get("model_version", ""),
            "group": worst.labels.get("region", ""),
            "class": worst.labels.get("slo", worst.name),
            "custom_details": {
                "firing": [{"alertname": a.name, "labels": dict(a.labels), "summary": a.summary}
                           for a in note.firing],
                "group_labels": dict(note.group_labels),
            },
        },
        "links": [{"href": a.runbook_url, "text": f"runbook: {a.name}"} for a in note.firing[:5]],
        "client": "asrwatch",
    }


def slack(note: Notification) -> dict[str, Any]:
    icon = ":rotating_light:" if note.status == "firing" else ":white_check_mark:"
    title = f"{icon} [{note.status.upper()}:{len(note.alerts)}] " + ", ".join(
        f"{k}={v}" for k, v in sorted(note.group_labels.items()))
    lines = []
    for a in note.alerts:
        state = "resolved" if a.resolved else a.severity
        lines.append(f"*{a.name}* ({state}) {a.summary} <{a.runbook_url}|runbook>")
    return {
        "text": title,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}},
        ],
    }


def ticket_fields(note: Notification) -> dict[str, Any]:
    first = (note.firing or note.resolved)[0]
    return {
        "title": f"{first.name}: {first.summary}"[:250],
        "team": first.labels.get("team") or first.annotations.get("team", ""),
        "labels": dict(first.labels),
        "body": "\n".join(f"- {a.name} [{a.severity}] {a.summary} (runbook: {a.runbook_url})" for a in note.alerts),
        "alerts": [a.fingerprint for a in note.alerts],
    }
