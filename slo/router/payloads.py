"""Wire formats per receiver kind, built from a Notification. Pure functions.

- webhook: Alertmanager's webhook payload, version 4
- alertmanager: the `POST /api/v2/alerts` body (a list of postable alerts)
- pagerduty: Events API v2 (`routing_key`, `event_action` trigger|resolve, `dedup_key`, `payload`)
- slack: incoming-webhook JSON (`text` fallback plus mrkdwn `blocks`)

Every link leaving here is made absolute on `external_url` (`asrwatch.links`); every annotation
set carries the alert's event-time span (`event_starts_at`, `event_ends_at`), and a resolved
alert's `summary` says what resolved and when (`text.resolved_summary`) instead of repeating
its last firing summary.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from asrwatch.links import absolute_link, is_absolute
from slo.alert import Alert
from slo.router.dispatcher import Notification
from slo.router.text import current_summary, resolved_summary, slack_escape, slack_link

_ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager puts in endsAt of a firing alert
PD_SEVERITY = {"page": "critical", "ticket": "warning", "info": "info"}
# PagerDuty Events API v2 field limits, from "Send an Alert Event"
# (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/, formerly
# https://v2.developer.pagerduty.com/docs/send-an-event-events-api-v2): `payload.summary` at most
# 1024 characters, `dedup_key` at most 255. The whole event is held to 512 KB; Alertmanager's
# notifier enforces the same numbers (notify/pagerduty/pagerduty.go: summary cut at 1024,
# `maxEventSize = 512000` bytes, custom details dropped past it). PD-CEF documents no separate
# limit for `source`, `component`, `group` and `class`; they are held to the summary's 1024 so
# that no label value can be the one field an event is refused for.
PD_SUMMARY_MAX = 1024
PD_DEDUP_KEY_MAX = 255
PD_FIELD_MAX = 1024
PD_EVENT_MAX_BYTES = 512_000
TRUNCATION_MARK = "…[truncated]"
_SLACK_SECTION_CHARS = 2900  # Slack caps a section's text at 3000 characters
# How far before our wall clock a resolution's endsAt lies: the clock skew to an Alertmanager
# that a resolution survives (see `alertmanager_v2`).
RESOLVE_MARGIN = timedelta(seconds=60)


def rfc3339(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _annotations(alert: Alert, external_url: str | None = None) -> dict[str, str]:
    out = {"summary": alert.summary, "runbook_url": alert.runbook_url}
    out.update(alert.annotations)
    out["runbook_url"] = absolute_link(out["runbook_url"], external_url)
    out["event_starts_at"] = rfc3339(alert.starts_at)
    if alert.ends_at is not None:
        out["event_ends_at"] = rfc3339(alert.ends_at)
        # Templates read `summary`: after resolution it must describe the resolution; the
        # summary it fired with stays available under a name that says it is the past.
        out["last_firing_summary"] = out["summary"]
        out["summary"] = resolved_summary(alert)
    return out


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def webhook_v4(note: Notification, *, external_url: str | None = "") -> dict[str, Any]:
    annotations = [_annotations(a, external_url) for a in note.alerts]
    alerts = []
    for a, notes in zip(note.alerts, annotations):
        alerts.append({
            "status": "resolved" if a.resolved else "firing",
            "labels": dict(a.labels),
            "annotations": notes,
            "startsAt": rfc3339(a.starts_at),
            "endsAt": rfc3339(a.ends_at) if a.ends_at else _ZERO_TIME,
            "generatorURL": absolute_link(a.runbook_url, external_url),
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
        "commonAnnotations": _common(annotations),
        "externalURL": external_url or "",
        "alerts": alerts,
    }


def wall_start(alert: Alert, event_at: datetime, wall_now: datetime) -> datetime:
    """The wall-clock instant an alert seen at event time `event_at` started: its event-time age
    carried over to the wall clock, never in the future. Equal to `starts_at` when event time is
    the wall clock (evaluator_clock: wall); `wall_now - age` in a replay hours behind."""
    return min(alert.starts_at + (wall_now - event_at), wall_now)


def alertmanager_v2(note: Notification, *, wall_now: datetime | None = None,
                    wall_starts: Mapping[str, datetime] | None = None,
                    external_url: str | None = None) -> list[dict[str, Any]]:
    """Alertmanager judges `startsAt`/`endsAt` on its own wall clock: GET /api/v2/alerts hides an
    alert whose endsAt is before now (prometheus/alertmanager api/v2/api.go `alertFilter`) and
    `types.Alert.ResolvedAt` calls it resolved, so an alert stamped with event time hours behind
    would be accepted (200) and never shown or notified. Hence wall-clock times here, event times
    in the annotations:
    - firing: endsAt = wall now + a few resend intervals (as Prometheus does), so it stays active
      while we keep re-sending and expires if the router stops;
    - resolved: endsAt = wall now - `RESOLVE_MARGIN`, already past when Alertmanager reads it even
      if its clock lags ours by up to the margin. provider/mem/mem.go `Put` merges it with the held
      firing alert, and types.go `Alert.Merge` keeps the younger (resolved) endsAt only if that one
      is `Resolved()` on Alertmanager's own clock; otherwise the older, later endsAt (now + hold)
      wins and the resolution would vanish until the hold expires;
    - startsAt: `wall_starts[fingerprint]` (when the router first sent the episode) or
      `wall_start(...)`; endsAt is never before it (types.go `Validate` refuses that).
    Without `wall_now` the notification's own time is used (event time is the wall clock)."""
    now = wall_now or note.at
    hold = timedelta(seconds=max(4 * note.interval_s, 240.0))
    out = []
    for a in note.alerts:
        start = min((wall_starts or {}).get(a.fingerprint) or wall_start(a, note.at, now), now)
        runbook = absolute_link(a.runbook_url, external_url)
        out.append({
            "labels": dict(a.labels),
            "annotations": _annotations(a, external_url),
            "startsAt": rfc3339(start),
            "endsAt": rfc3339(max(now - RESOLVE_MARGIN, start) if a.resolved else now + hold),
            # The API's generatorURL is `format: uri`; a relative path is left out, not sent broken.
            "generatorURL": runbook if is_absolute(runbook) else "",
        })
    return out


def pagerduty_dedup_key(group_key: str) -> str:
    # One PagerDuty incident per notification group, so resolve closes what trigger opened. A
    # hash, so a group key of any length gives 32 characters (PagerDuty takes at most 255).
    return hashlib.sha256(group_key.encode()).hexdigest()[:32]


def clip(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its head with `TRUNCATION_MARK`, `limit`
    characters in all: the reader sees that something was cut, and the peer takes it."""
    if len(text) <= limit:
        return text
    return text[:max(limit - len(TRUNCATION_MARK), 0)] + TRUNCATION_MARK[:limit]


def _event_bytes(event: dict[str, Any]) -> int:
    # json.dumps' defaults (ASCII escapes, spaced separators) give the largest of the usual
    # encodings, so the body on the wire is never larger than this.
    return len(json.dumps(event).encode())


def _fit_custom_details(event: dict[str, Any], firing: list[dict[str, Any]]) -> None:
    """Keep as many alerts in `custom_details.firing` as the 512 KB event limit allows (the
    first ones: the worst is named by the summary anyway) and say how many were left out."""
    details = event["payload"]["custom_details"]
    total = len(firing)

    def keep(n: int) -> bool:
        details["firing"] = firing[:n]
        if n < total:
            details["truncated"] = (f"{total - n} of {total} alerts left out: "
                                    "the event was over PagerDuty's 512 KB limit")
        return _event_bytes(event) <= PD_EVENT_MAX_BYTES

    if keep(total):
        return
    lo, hi = 0, total - 1  # the most alerts that fit beside the note lies in [lo, hi] (or none does)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if keep(mid) else (lo, mid - 1)
    if not keep(lo):
        # The group's own labels are too large: only the note stays, as Alertmanager does.
        event["payload"]["custom_details"] = {
            "truncated": f"custom details left out: the event was over PagerDuty's 512 KB limit ({total} alerts)"}


def pagerduty_v2(note: Notification, routing_key: str, *, source: str = "asrwatch",
                 external_url: str | None = None) -> dict[str, Any]:
    """An Events API v2 event within PagerDuty's limits (see `PD_SUMMARY_MAX` and the others):
    over-long text is cut with `TRUNCATION_MARK`, never sent for PagerDuty to refuse with a 400,
    which would drop the page (4xx is not retried)."""
    dedup = clip(pagerduty_dedup_key(note.group_key), PD_DEDUP_KEY_MAX)
    if note.status == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup}
    worst = min(note.firing, key=lambda a: ("page", "ticket", "info").index(a.severity))
    summary = worst.summary if len(note.firing) == 1 else f"[{len(note.firing)}] {worst.summary}"
    # A link is something the responder clicks in the PagerDuty app: only absolute ones work.
    links = [{"href": href, "text": f"runbook: {a.name}"} for a in note.firing[:5]
             if is_absolute(href := absolute_link(a.runbook_url, external_url))]
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {
            "summary": clip(summary, PD_SUMMARY_MAX),
            "source": clip(source, PD_FIELD_MAX),
            "severity": PD_SEVERITY.get(worst.severity, "error"),
            "timestamp": rfc3339(worst.starts_at),
            "component": clip(worst.labels.get("model_version", ""), PD_FIELD_MAX),
            "group": clip(worst.labels.get("region", ""), PD_FIELD_MAX),
            "class": clip(worst.labels.get("slo", worst.name), PD_FIELD_MAX),
            "custom_details": {"firing": [], "group_labels": dict(note.group_labels)},
        },
        "links": links,
        "client": "asrwatch",
    }
    _fit_custom_details(event, [{"alertname": a.name, "labels": dict(a.labels),
                                 "summary": clip(a.summary, PD_SUMMARY_MAX)} for a in note.firing])
    return event


def _fit(lines: list[str], limit: int) -> str:
    """Whole lines up to `limit` characters (a cut line could break an entity or a link)."""
    kept: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        if used + len(line) + 1 > limit - 40:
            kept.append(f"… and {len(lines) - i} more")
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(kept)


def slack(note: Notification, *, external_url: str | None = None) -> dict[str, Any]:
    """Alert text is escaped (`&`, `<`, `>`) so a label or summary cannot break the message or
    inject a link or mention; only our own `<url|runbook>` links stay markup."""
    firing = note.status == "firing"
    icon = ":rotating_light:" if firing else ":white_check_mark:"
    count = len(note.firing) if firing else len(note.resolved)
    title = f"{icon} [{note.status.upper()}:{count}] " + slack_escape(", ".join(
        f"{k}={v}" for k, v in sorted(note.group_labels.items())))
    lines = []
    for a in note.alerts:
        link = slack_link(absolute_link(a.runbook_url, external_url), "runbook")
        if a.resolved:
            lines.append(f"{slack_escape(resolved_summary(a))} {link}".rstrip())
        else:
            lines.append(f"*{slack_escape(a.name)}* ({a.severity}) {slack_escape(a.summary)} {link}".rstrip())
    return {
        "text": title,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _fit(lines, _SLACK_SECTION_CHARS)}},
        ],
    }


def ticket_fields(note: Notification, *, external_url: str | None = None) -> dict[str, Any]:
    first = (note.firing or note.resolved)[0]
    return {
        "title": f"{first.name}: {current_summary(first)}"[:250],
        "team": first.labels.get("team") or first.annotations.get("team", ""),
        "labels": dict(first.labels),
        "body": "\n".join(f"- {a.name} [{a.severity}] {current_summary(a)} "
                          f"(runbook: {absolute_link(a.runbook_url, external_url)})" for a in note.alerts),
        "alerts": [a.fingerprint for a in note.alerts],
    }
