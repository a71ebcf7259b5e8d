"""Human-readable text in notifications: what resolved and when, and Slack's escaping.

A RESOLVED notification must not repeat the last firing summary as if it were current
("final-latency burning 14.4x" after it stopped burning misleads whoever reads it), so it says
which alert resolved and over which event-time span it fired. Pure functions.
"""

from __future__ import annotations

from datetime import datetime, timezone

from asrwatch.links import is_absolute
from slo.alert import Alert

# Labels every alert has; they say nothing about which slice resolved.
_NOT_IDENTITY = ("alertname", "severity")


def _utc(at: datetime) -> datetime:
    return at.astimezone(timezone.utc)


def _minute(at: datetime) -> str:
    return _utc(at).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: float) -> str:
    """`45m`, `1h26m`, `2d3h0m`."""
    hours, minutes = divmod(int(seconds // 60), 60)
    days, hours = divmod(hours, 24)
    return (f"{days}d" if days else "") + (f"{hours}h" if hours or days else "") + f"{minutes}m"


def identity(alert: Alert) -> str:
    """The alert's name and the labels that tell its slice apart, e.g.
    `SLOErrorBudgetBurn (slo=availability, model_version=v2)`."""
    labels = ", ".join(f"{k}={v}" for k, v in alert.labels.items() if k not in _NOT_IDENTITY)
    return f"{alert.name} ({labels})" if labels else alert.name


def resolved_summary(alert: Alert) -> str:
    """`RESOLVED at 2026-01-05 05:41 UTC (firing since 2026-01-05 04:15 UTC, 1h26m): <identity>`,
    in event time (the data's time, which is what the SLO judged)."""
    ends = alert.ends_at or alert.starts_at
    span = _span(max((ends - alert.starts_at).total_seconds(), 0.0))
    return (f"RESOLVED at {_minute(ends)} (firing since {_minute(alert.starts_at)}, {span}): "
            f"{identity(alert)}")


def current_summary(alert: Alert) -> str:
    """What a notification says about an alert: its summary while firing, what resolved after."""
    return resolved_summary(alert) if alert.resolved else alert.summary


# Slack's documented escaping (https://api.slack.com/reference/surfaces/formatting#escaping):
# `&`, `<` and `>` are control characters in message text and must be sent as entities.
def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: str, label: str) -> str:
    """`<url|label>`; a relative URL cannot be opened from Slack, so it stays visible as text.
    Inside the URL `|` and `>` would end the link: they are percent-encoded, `&` is escaped."""
    if not is_absolute(url):
        return f"{slack_escape(label)}: {slack_escape(url)}" if url else ""
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")
    return f"<{safe}|{slack_escape(label)}>"
