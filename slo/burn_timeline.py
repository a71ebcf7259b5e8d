"""One SLO over time: at each evaluation time of a range, the burn rate of every window its alert
tiers use and the error budget left over the SLO window, with the recorded alert episodes.

Each point is what `GET /api/v1/slos?at=<that time>` reports (`slo.snapshot.slo_statuses`): the
same series (`slo.sli_source.tiered_family`, one SLO's own span, read through the shared cache),
the same window sums and the same `slo.burn_rate` functions, only asked for many window ends at
once (`window_counts` with an array of ends) instead of one. The series of one evaluation covers
its window plus the longest alert window, so the range is judged in chunks of that extra span,
latest first: every window of every point in a chunk lies inside that chunk's series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from slo.alerting import conditions, policy
from slo.burn_rate import budget_remaining, burn_rate
from slo.evaluation import series_span
from slo.maintenance import MaintenanceWindow
from slo.maintenance_store import windows_between
from slo.models import SLOAlertState
from slo.series import MINUTE, floor_minute
from slo.series_cache import SeriesCache
from slo.sli_source import snapshot_connection, tiered_family
from slo.spec import SLOSpec, format_duration
from slo.status import alert_tiers

MAX_VALUES = 100_000  # points x groups in one answer; past it the caller narrows with group=


@dataclass(frozen=True)
class Timeline:
    windows: dict[str, int]  # name -> minutes, shortest first
    # {"group": labels, "points": [{"t", "burn_rates", "error_budget_remaining", "firing"}]}
    groups: list[dict[str, Any]]


def tier_windows(spec: SLOSpec) -> dict[str, int]:
    """The windows the SLO's enabled alert tiers judge (long and short), shortest first."""
    minutes = {m for tier in policy(spec.window) if spec.alert_enabled(tier.severity)
               for m in (tier.long_minutes, tier.short_minutes)}
    return {format_duration(timedelta(minutes=m)): m for m in sorted(minutes)}


def _finite(values: list[float]) -> list[float | None]:
    return [v if np.isfinite(v) else None for v in values]


def _chunks(times: list[datetime], span: timedelta) -> list[list[datetime]]:
    """The times grouped, latest first, so each group lies within `span` before its last time."""
    out: list[list[datetime]] = []
    for t in sorted(times, reverse=True):
        if out and floor_minute(out[-1][0]) - floor_minute(t) < span:
            out[-1].append(t)
        else:
            out.append([t])
    return [sorted(chunk) for chunk in out]


def check_group(spec: SLOSpec, group: dict[str, str]) -> None:
    """ValueError naming `group` for a key the SLO does not group by."""
    unknown = sorted(set(group) - set(spec.group_by))
    if unknown:
        raise ValueError(f"group: {', '.join(unknown)} is not one of the SLO's group_by "
                         f"({', '.join(spec.group_by) or 'none'})")


def matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def _firing(spec: SLOSpec, page: np.ndarray, ticket: np.ndarray) -> np.ndarray:
    """(R, T) severity the engine fires at each point ("" for none), as `evaluate_slo` decides:
    a tier the spec disables raises nothing."""
    out = np.full(page.shape, "", dtype=object)
    if spec.alert_enabled("ticket"):
        out[ticket] = "ticket"
    if spec.alert_enabled("page"):
        out[page] = "page"
    return out


def timeline(engine: Engine, spec: SLOSpec, times: list[datetime], group: dict[str, str],
             cache: SeriesCache, *, min_events: int, min_bad_events: float = 0.0,
             configured: Sequence[MaintenanceWindow] = ()) -> Timeline:
    """Burn rates per tier window, budget left and the severity firing (`slo.alerting.conditions`,
    as the engine computes it before recorded episodes are consulted) at each of `times`
    (ascending), for the SLO's groups whose labels include `group`. ValueError naming `group` for
    a key the SLO does not group by, or for an answer past MAX_VALUES."""
    check_group(spec, group)
    windows = tier_windows(spec)
    # A point's windows reach back at most the SLO window; its series reaches back series_span.
    chunk_span = series_span(spec) - spec.window
    found: dict[tuple, dict[datetime, dict[str, Any]]] = {}
    labels_of: dict[tuple, dict[str, str]] = {}
    with snapshot_connection(engine) as conn:
        # Maintenance windows (`configured` from the config, the rest stored): as /slos drops them.
        maintenance = windows_between(conn, configured, None, None)
        for chunk in _chunks(times, chunk_span):
            ((_, series),) = list(tiered_family(conn, [spec], chunk[-1], cache, maintenance))
            end = floor_minute(chunk[-1])
            series = series.restricted(end - series_span(spec))  # the groups /slos?at= shows
            rows = [g for g in range(len(series.groups)) if matches(series.group_labels(g), group)]
            if not rows:
                continue
            # The size limit before any per-minute work: every picked group gets a point per time.
            groups = len(set(found) | {series.groups[g] for g in rows})
            if groups * len(times) > MAX_VALUES:
                raise ValueError(f"group: {groups} groups x {len(times)} points is more than {MAX_VALUES} "
                                 "values: choose a group (group=k=v,...) or a longer step")
            picked = np.asarray(rows, dtype=np.int64)
            ends = np.asarray([series.index_of(t) for t in chunk], dtype=np.int64)
            burns = {name: burn_rate(*series.window_counts(ends, m, picked), spec.objective).tolist()
                     for name, m in windows.items()}
            budget = budget_remaining(*series.window_counts(ends, spec.window_minutes, picked), spec.objective).tolist()
            cond = conditions(series, ends, policy(spec.window), spec.objective, min_events, picked,
                              min_bad_events=min_bad_events)
            firing = _firing(spec, cond.page, cond.ticket).tolist()
            for i, g in enumerate(rows):
                key = series.groups[g]
                labels_of[key] = series.group_labels(g)
                points = found.setdefault(key, {})
                for j, t in enumerate(chunk):
                    points[t] = {"t": t.isoformat(),
                                 "burn_rates": dict(zip(windows, _finite([burns[w][i][j] for w in windows]))),
                                 "error_budget_remaining": budget[i][j], "firing": firing[i][j] or None}
    out = []
    for key in sorted(found):
        points = found[key]
        # A group without events in a chunk's span: its windows are empty, as /slos judges them.
        filled = [points.get(t) or {"t": t.isoformat(), "burn_rates": dict.fromkeys(windows),
                                    "error_budget_remaining": 1.0, "firing": None} for t in times]
        out.append({"group": labels_of[key], "points": filled})
    return Timeline(windows=windows, groups=out)


def episodes(engine: Engine, spec: SLOSpec, since: datetime, until: datetime, group: dict[str, str]
             ) -> list[dict[str, Any]]:
    """The recorded alert episodes of the SLO that overlap [since, until], oldest first: the
    evaluator's `slo_alert_state` rows, the same `/api/v1/alerts` reports from."""
    with OrmSession(engine) as db:
        rows = db.scalars(select(SLOAlertState).where(
            SLOAlertState.slo == spec.name, SLOAlertState.starts_at <= until,
            or_(SLOAlertState.resolved_at.is_(None), SLOAlertState.resolved_at > since))
            .order_by(SLOAlertState.starts_at, SLOAlertState.id)).all()
        return [{"severity": row.severity, "alertname": row.name, "fingerprint": row.fingerprint,
                 "group": {k: row.labels[k] for k in spec.group_by if k in row.labels},
                 "starts_at": row.starts_at.isoformat(),
                 "ends_at": row.resolved_at.isoformat() if row.resolved_at else None}
                for row in rows if matches(dict(row.labels), group)]


def series_answer(engine: Engine, spec: SLOSpec, since: datetime, until: datetime, step: timedelta,
                  group: dict[str, str], found: Timeline) -> dict[str, Any]:
    """The body of `GET /api/v1/slos/{name}/series`, around a `timeline` (or, with `sli_source:
    prometheus`, `slo.prometheus_source.prometheus_timeline`)."""
    return {
        "slo": spec.name, "sli": spec.sli, "objective": spec.objective, "window": format_duration(spec.window),
        "since": since.isoformat(), "until": until.isoformat(), "step": format_duration(step),
        "step_s": int(step / MINUTE) * 60,
        "alert_tiers": alert_tiers(spec),
        "windows": [{"window": name, "window_s": m * 60} for name, m in found.windows.items()],
        "groups": found.groups,
        "episodes": episodes(engine, spec, since, until, group),
    }
