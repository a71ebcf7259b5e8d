"""What a demo run showed: pure functions over the API's answers and the scenarios' truths."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _matches(labels: Mapping[str, str], where: Mapping[str, str]) -> bool:
    """An alert belongs to an incident when none of its labels contradicts the incident's slice."""
    return all(labels.get(k, v) == v for k, v in where.items())


def _raises(truth: Mapping[str, Any], alert: Mapping[str, Any]) -> bool:
    """A fleet-wide incident (no slice) explains only what it is meant to raise: a page if it should
    page, a ticket if it should raise anything besides pages and rollbacks."""
    should = set(truth.get("should_fire", ()))
    if alert.get("severity") == "page":
        return "page" in should
    return bool(should - {"page", "rollback"})


def explain(alert: Mapping[str, Any], truths: Iterable[Mapping[str, Any]]) -> str | None:
    """The scenario that explains an alert or ticket: it began after the incident's onset, and
    the incident's slice agrees with its labels. Of several that agree, the one whose slice its
    labels name most precisely, then the latest onset: a us-east latency page during a canary
    incident is the saturation's, not the canary's, although it names no model version."""
    started = _time(alert.get("starts_at"))
    labels = alert.get("labels", {})
    best: tuple[int, datetime, str] | None = None
    for truth in truths:
        onset = _time(truth["onset"])
        if started is None or onset is None or started < onset:
            continue
        where = truth.get("where", {})
        if not where and not _raises(truth, alert):
            continue
        if "model_version" in where:
            # A bad canary is one incident: an alert on any slice of that version belongs to it.
            where = {"model_version": where["model_version"]}
        if not _matches(labels, where):
            continue
        named = sum(1 for k, v in where.items() if labels.get(k) == v)
        if best is None or (named, onset) > best[:2]:
            best = (named, onset, truth["scenario"])
    return None if best is None else best[2]


def ticket_as_alert(ticket: Mapping[str, Any]) -> dict[str, Any]:
    """A router ticket in the shape `explain` reads: its labels, opened at its start."""
    return {"severity": "ticket", "labels": ticket.get("labels") or {}, "starts_at": ticket.get("opened_at"),
            "name": (ticket.get("labels") or {}).get("alertname")}


def summarize(
    truths: list[Mapping[str, Any]],
    alerts: list[Mapping[str, Any]],
    tickets: list[Mapping[str, Any]],
    rollbacks: list[Mapping[str, Any]],
) -> dict[str, Any]:
    pages = [a for a in alerts if a.get("severity") == "page"]
    ticket_alerts = [a for a in alerts if a.get("severity") == "ticket"]
    incidents = []
    for truth in truths:
        onset = _time(truth["onset"])
        own_pages = [a for a in pages if explain(a, truths) == truth["scenario"]]
        own_tickets = [t for t in tickets if explain(ticket_as_alert(t), truths) == truth["scenario"]]
        first_page = min((_time(a["starts_at"]) for a in own_pages), default=None)
        own_rollbacks = [r for r in rollbacks if _time(r["at"]) and _time(r["at"]) >= onset
                         and truth["where"].get("model_version") in (None, r.get("canary_version"))]
        first_rollback = min((_time(r["at"]) for r in own_rollbacks), default=None) if truth["where"].get(
            "model_version") else None
        incidents.append({
            "scenario": truth["scenario"],
            "onset": truth["onset"],
            "pages": len(own_pages),
            "tickets": len(own_tickets),
            "minutes_to_page": None if first_page is None else (first_page - onset).total_seconds() / 60,
            "page_resolved": bool(own_pages) and all(a.get("ends_at") for a in own_pages),
            "minutes_to_rollback": None if first_rollback is None else (first_rollback - onset).total_seconds() / 60,
        })
    unexplained = [a for a in pages + ticket_alerts if explain(a, truths) is None]
    return {
        "pages": len(pages),
        "tickets": len(tickets),
        "rollbacks": len(rollbacks),
        "incidents": incidents,
        "ticket_teams": sorted({t.get("team") or t.get("receiver") for t in tickets}),
        "tickets_by_title": [f"{t.get('team') or t.get('receiver')}: {t.get('title')}" for t in tickets],
        "ticket_incidents": [explain(ticket_as_alert(t), truths) for t in tickets],
        "unexplained_alerts": [{"name": a.get("name"), "labels": a.get("labels")} for a in unexplained],
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    lines = [
        "asrwatch demo summary",
        f"  pages: {summary['pages']}   tickets: {summary['tickets']}   rollbacks: {summary['rollbacks']}",
    ]
    for incident in summary["incidents"]:
        parts = [f"  {incident['scenario']:<30} onset {incident['onset'][11:16]}"]
        if incident["minutes_to_page"] is not None:
            parts.append(f"page after {incident['minutes_to_page']:.0f} min"
                         + (" (resolved)" if incident["page_resolved"] else " (still firing)"))
        if incident["minutes_to_rollback"] is not None:
            parts.append(f"rollback after {incident['minutes_to_rollback']:.0f} min")
        if incident.get("tickets"):
            parts.append(f"{incident['tickets']} ticket(s)")
        lines.append("  ".join(parts))
    titles = summary["tickets_by_title"]
    for title, incident in zip(titles, summary.get("ticket_incidents") or [None] * len(titles)):
        lines.append(f"  ticket -> {title}" + (f"   [{incident}]" if incident else "   [no incident]"))
    if summary["unexplained_alerts"]:
        lines.append(f"  alerts no incident explains: {len(summary['unexplained_alerts'])}")
        for alert in summary["unexplained_alerts"][:10]:
            lines.append(f"    {alert['name']} {alert['labels']}")
    else:
        lines.append("  nothing fired outside the incidents")
    return "\n".join(lines)
