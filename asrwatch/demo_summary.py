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


def explain(alert: Mapping[str, Any], truths: Iterable[Mapping[str, Any]]) -> str | None:
    """The scenario that explains an SLO alert: it started after the onset, and its slice agrees
    with the incident's (a fleet-wide incident explains only the pages it is meant to raise)."""
    started = _time(alert.get("starts_at"))
    for truth in truths:
        onset = _time(truth["onset"])
        if started is not None and onset is not None and started < onset:
            continue
        where = truth.get("where", {})
        if not where and "page" not in truth.get("should_fire", ()):
            continue
        if "model_version" in where:
            # A bad canary is one incident: an alert on any slice of that version belongs to it.
            where = {"model_version": where["model_version"]}
        if _matches(alert.get("labels", {}), where):
            return truth["scenario"]
    return None


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
        own_pages = [a for a in pages if explain(a, [truth])]
        first_page = min((_time(a["starts_at"]) for a in own_pages), default=None)
        own_rollbacks = [r for r in rollbacks if _time(r["at"]) and _time(r["at"]) >= onset
                         and truth["where"].get("model_version") in (None, r.get("canary_version"))]
        first_rollback = min((_time(r["at"]) for r in own_rollbacks), default=None) if truth["where"].get(
            "model_version") else None
        incidents.append({
            "scenario": truth["scenario"],
            "onset": truth["onset"],
            "pages": len(own_pages),
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
        lines.append("  ".join(parts))
    for title in summary["tickets_by_title"]:
        lines.append(f"  ticket -> {title}")
    if summary["unexplained_alerts"]:
        lines.append(f"  alerts no incident explains: {len(summary['unexplained_alerts'])}")
        for alert in summary["unexplained_alerts"][:10]:
            lines.append(f"    {alert['name']} {alert['labels']}")
    else:
        lines.append("  nothing fired outside the incidents")
    return "\n".join(lines)
