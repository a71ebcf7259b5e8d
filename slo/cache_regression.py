"""Cache hit rate tickets: the hit rate of a slice down against the previous window.

Pure: takes the rows of `queries.status_by_group` for the current window and for the previous
window of equal length, and returns ticket alerts where the hit rate fell by at least `min_drop`
(absolute) and the miss rate's rise is significant (the rollout judge's one-sided two-proportion
z-test, `slo.rollout.stats.proportion_increase`), so a slice with a few lookups does not file a
ticket on noise. An SLO on `sli: cache_hit` cannot do this well: a cache's normal hit rate is far
below any SLO objective, so its burn rate can never reach the fast tiers' factors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from slo.alert import Alert, ticket, where
from slo.rollout.stats import proportion_increase

ALERT_NAME = "CacheHitRateDrop"
RUNBOOK = "slo-burn-cache_hit"


def baselines(earlier: Iterable[Mapping[str, Any]], previous: Iterable[Mapping[str, Any]], group_by: Sequence[str],
              min_lookups: int) -> list[Mapping[str, Any]]:
    """Each group's baseline row: its window a day (`baseline_hours`) earlier where that held at
    least `min_lookups`, else its window just before."""
    kept = {tuple(str(r[d]) for d in group_by): r for r in earlier if r["cache_lookups"] >= min_lookups}
    out = list(kept.values())
    out += [r for r in previous if tuple(str(r[d]) for d in group_by) not in kept]
    return out


def cache_alerts(
    current: Iterable[Mapping[str, Any]],
    previous: Iterable[Mapping[str, Any]],
    group_by: Sequence[str],
    at: datetime,
    *,
    min_drop: float = 0.1,
    min_lookups: int = 200,
    alpha: float = 0.01,
    runbook_base_url: str = "/runbooks",
) -> list[Alert]:
    before = {tuple(str(row[d]) for d in group_by): row for row in previous}
    alerts = []
    for row in current:
        key = tuple(str(row[d]) for d in group_by)
        old = before.get(key)
        if old is None or row["cache_lookups"] < min_lookups or old["cache_lookups"] < min_lookups:
            continue
        now_rate, old_rate = row["cache_hits"] / row["cache_lookups"], old["cache_hits"] / old["cache_lookups"]
        test = proportion_increase(row["cache_lookups"] - row["cache_hits"], row["cache_lookups"],
                                   old["cache_lookups"] - old["cache_hits"], old["cache_lookups"])
        if test is None or old_rate - now_rate < min_drop or test.p_value >= alpha:
            continue
        group = dict(zip(group_by, key))
        alerts.append(ticket(
            ALERT_NAME, group,
            f"Cache hit rate down for {where(group)}: {old_rate:.1%} -> {now_rate:.1%} "
            f"({row['cache_lookups']} lookups now, {old['cache_lookups']} before; p={test.p_value:.2g})",
            f"{runbook_base_url}/{RUNBOOK}", at,
            {"cache_hit_rate": now_rate, "previous_cache_hit_rate": old_rate, "cache_lookups": row["cache_lookups"],
             "previous_cache_lookups": old["cache_lookups"], "p_value": test.p_value}))
    return alerts
