"""Cost regression tickets: cost per successful turn up against the previous window.

Pure: takes the rows of `queries.cost_by_group` (the current window, each with the previous
window of equal length and the drivers that moved between them) and returns ticket alerts naming the drivers that moved,
so the owning team sees *why* spend rose (shadow traffic, retries, GPU time per audio second).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from slo.alert import Alert, ticket, where

ALERT_NAME = "CostRegression"
RUNBOOK = "cost-regression"


def _describe(driver: Mapping[str, Any]) -> str:
    if driver["relative_change"] is None:
        return f"{driver['driver']} {driver['previous']:.3g} -> {driver['current']:.3g}"
    return f"{driver['driver']} {driver['relative_change']:+.0%}"


def cost_alerts(
    rows: Iterable[Mapping[str, Any]],
    group_by: Sequence[str],
    at: datetime,
    *,
    min_relative_increase: float = 0.3,
    min_sessions: int = 200,
    runbook_base_url: str = "/runbooks",
) -> list[Alert]:
    alerts = []
    for row in rows:
        before = row.get("previous")
        now_cost, before_cost = row.get("cost_per_successful_turn"), (before or {}).get("cost_per_successful_turn")
        if not before or now_cost is None or not before_cost:
            continue
        if row["sessions"] < min_sessions or before["sessions"] < min_sessions:
            continue
        change = (now_cost - before_cost) / before_cost
        if change < min_relative_increase:
            continue
        moved = [d for d in row.get("top_drivers", []) if d.get("change")]
        drivers = ", ".join(_describe(d) for d in moved[:3]) or "no driver moved"
        group = {d: str(row[d]) for d in group_by}
        alerts.append(ticket(
            ALERT_NAME, group,
            f"Cost per successful turn {change:+.0%} for {where(group)}: ${before_cost:.5f} -> ${now_cost:.5f}; "
            f"drivers: {drivers}",
            f"{runbook_base_url}/{RUNBOOK}", at,
            {"current": {k: v for k, v in row.items() if k != "previous"}, "previous": dict(before),
             "relative_change": change}))
    return alerts
