"""SLO status as of `at`: a pure function of an SLO spec, its per-minute series and `at`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from slo.alert import Alert
from slo.alerting import Conditions, Tier, conditions, firing_since, longest_window, policy
from slo.burn_rate import (
    CURRENT_BURN_WINDOW,
    REPORT_WINDOWS,
    budget_remaining,
    burn_rate,
    error_ratio,
    time_to_exhaustion,
)
from slo.series import MINUTE, SLISeries, floor_minute
from slo.spec import DEFAULT_ALERT_NAME, SLOSpec, format_duration, render_annotation

ALERT_NAME = DEFAULT_ALERT_NAME  # unless the spec names its alerts (`alerting.name`, per tier)
DEFAULT_RUNBOOK_BASE = "/runbooks"


def series_span(spec: SLOSpec) -> timedelta:
    """How much history an evaluation needs before `at`: the SLO window plus the longest alert
    window (alert conditions are replayed across the whole window to find starts_at), and at
    least the longest reported burn window (3d)."""
    needed = spec.window + timedelta(minutes=longest_window(spec.window))
    return max(needed, timedelta(minutes=max(REPORT_WINDOWS.values())))


def runbook_url(spec: SLOSpec, base: str = DEFAULT_RUNBOOK_BASE) -> str:
    return spec.runbook_url or f"{base.rstrip('/')}/slo-burn-{spec.sli.replace('_', '-')}"


@dataclass
class GroupStatus:
    slo: str
    sli: str
    objective: float
    window: str
    labels: dict[str, str]
    events: int
    good: int
    sli_value: float | None
    error_budget_remaining: float
    burn_rates: dict[str, float | None]
    time_to_exhaustion_s: float | None
    alerts: list[Alert] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "slo": self.slo,
            "sli": self.sli,
            "objective": self.objective,
            "window": self.window,
            "group": dict(self.labels),
            "events": self.events,
            "good": self.good,
            "sli_value": self.sli_value,
            "error_budget_remaining": self.error_budget_remaining,
            "burn_rates": dict(self.burn_rates),
            "time_to_exhaustion_s": self.time_to_exhaustion_s,
            "alerts": [a.to_dict() for a in self.alerts],
        }


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def evaluate_slo(
    spec: SLOSpec,
    series: SLISeries,
    at: datetime,
    *,
    min_events: int,
    runbook_base: str = DEFAULT_RUNBOOK_BASE,
    with_starts: bool = True,
    min_bad_events: float = 0.0,
) -> list[GroupStatus]:
    """Per group: SLI over the window, budget left, burn per report window, firing alerts."""
    end = series.index_of(at)
    objective = spec.objective
    g_win, t_win = series.window_counts(end, spec.window_minutes)
    remaining = budget_remaining(g_win, t_win, objective)
    sli = 1.0 - error_ratio(g_win, t_win)
    burn_matrix = burn_rate(*series.windows_counts(end, list(REPORT_WINDOWS.values())), objective)
    tiers = policy(spec.window)
    cond = conditions(series, np.array([end]), tiers, objective, min_events, min_bad_events=min_bad_events)
    page, ticket = cond.page[:, 0], cond.ticket[:, 0]
    starts: dict[str, dict[int, int]] = {"page": {}, "ticket": {}}
    # starts_at is searched back at most one SLO window (the loaded span covers that plus the
    # longest alert window, so every replayed condition sees complete data).
    lookback = max(0, min(end, spec.window_minutes))
    for severity, firing in (("page", page), ("ticket", ticket)):
        # A tier the spec disables raises no alert: no starts_at to replay for it either.
        rows = np.flatnonzero(firing) if spec.alert_enabled(severity) else np.empty(0, dtype=np.int64)
        if rows.size and with_starts:
            began = firing_since(series, end, rows, severity, tiers, objective, min_events, lookback,
                                 min_bad_events=min_bad_events)
            starts[severity] = dict(zip(rows.tolist(), began.tolist()))
        else:
            starts[severity] = {int(r): end for r in rows}

    url = runbook_url(spec, runbook_base)
    window_text = format_duration(spec.window)
    # Plain Python numbers from here on: per-group objects are built in a loop.
    burn_lists = dict(zip(REPORT_WINDOWS, burn_matrix.T.tolist()))
    remaining_l, sli_l, events_l, good_l = remaining.tolist(), sli.tolist(), t_win.tolist(), g_win.tolist()
    out = []
    for g in range(len(series.groups)):
        labels = series.group_labels(g)
        burn_row = {name: _num(b[g]) for name, b in burn_lists.items()}
        tte = time_to_exhaustion(remaining_l[g], burn_row[CURRENT_BURN_WINDOW], spec.window)
        status = GroupStatus(
            slo=spec.name,
            sli=spec.sli,
            objective=objective,
            window=window_text,
            labels=labels,
            events=events_l[g],
            good=good_l[g],
            sli_value=_num(sli_l[g]),
            error_budget_remaining=remaining_l[g],
            burn_rates=burn_row,
            time_to_exhaustion_s=tte.total_seconds() if tte is not None else None,
        )
        for severity in ("page", "ticket"):
            if g in starts[severity]:
                began = series.start + starts[severity][g] * MINUTE
                status.alerts.append(
                    _alert(spec, series, g, end, severity, tiers, cond, status, began, url, min_events,
                           min_bad_events)
                )
        out.append(status)
    return out


def _alert(
    spec: SLOSpec,
    series: SLISeries,
    g: int,
    end: int,
    severity: str,
    tiers: tuple[Tier, ...],
    cond,
    status: GroupStatus,
    starts_at: datetime,
    url: str,
    min_events: int,
    min_bad_events: float = 0.0,
) -> Alert:
    i, low_traffic = fired_tier(tiers, cond, g, severity)
    g_long, t_long, g_short, t_short = (a[:, 0] for a in cond.counts[i])
    return slo_alert(spec, status, severity, tiers[i], starts_at, url,
                     TierCounts.of(int(t_long[g]), int(t_long[g] - g_long[g]), int(t_short[g]), int(t_short[g] - g_short[g])),
                     low_traffic=low_traffic, min_events=tiers[i].min_events(spec.objective, min_events, min_bad_events))


def fired_tier(tiers: tuple[Tier, ...], cond: Conditions, g: int, severity: str) -> tuple[int, bool]:
    """(index of the tier that fired `severity` for group row `g` at the first end of `cond`, and
    whether it is a page-level burn on too little traffic filed as a ticket)."""
    low_traffic = severity == "ticket" and bool(cond.low_traffic_ticket[g, 0])
    wanted = "page" if low_traffic else severity
    source = cond.tier_low if low_traffic else cond.tier_fired
    return next(i for i, (t, f) in enumerate(zip(tiers, source)) if t.severity == wanted and f[g, 0]), low_traffic


@dataclass(frozen=True)
class TierCounts:
    """A tier's windows as the SLI source saw them: error ratios, and events where it counts them
    (the rollups count both windows; Prometheus records events for the long windows only, and its
    `increase()` may give fractions)."""

    long_events: float
    long_ratio: float
    short_events: float | None
    short_ratio: float

    @classmethod
    def of(cls, long_events: int, long_bad: int, short_events: int, short_bad: int) -> TierCounts:
        return cls(long_events, long_bad / long_events if long_events else math.nan,
                   short_events, short_bad / short_events if short_events else math.nan)


def slo_alert(spec: SLOSpec, status: GroupStatus, severity: str, tier: Tier, starts_at: datetime, url: str,
              counts: TierCounts, *, low_traffic: bool, min_events: int) -> Alert:
    """The alert of one SLO group firing `severity` by `tier`: the same labels, summary and
    annotations whichever source (`slo.snapshot`, `slo.prometheus_source`) judged it."""
    # The spec's labels first (with Sloth's sloth_* for a spec that names its service): the
    # group's dimensions and asrwatch's own keys win (the spec refuses those names anyway),
    # exactly as the exported rules combine them (`slo.prometheus_rules.rules_for`).
    name = spec.alert_name(severity)
    labels = {**spec.alert_labels(severity), "alertname": name, "slo": spec.name, "severity": severity,
              **status.labels}
    burn_long = counts.long_ratio / (1.0 - spec.objective)
    burn_short = counts.short_ratio / (1.0 - spec.objective)
    long_w = format_duration(timedelta(minutes=tier.long_minutes))
    short_w = format_duration(timedelta(minutes=tier.short_minutes))
    group = ", ".join(f"{k}={v}" for k, v in status.labels.items()) or "all traffic"
    tte = status.time_to_exhaustion_s
    summary = (
        f"SLO {spec.name} ({group}): error budget burning {burn_long:.1f}x over {long_w} and "
        f"{burn_short:.1f}x over {short_w} (threshold {tier.factor:g}x); "
        f"{status.error_budget_remaining:.1%} of the {status.window} budget left"
        + (f", exhausted in {format_duration(timedelta(seconds=int(tte)))} at the 1h burn" if tte
           else " (budget exhausted)" if status.error_budget_remaining <= 0 else "")
    )
    annotations = {key: render_annotation(text, labels) for key, text in spec.alert_annotations(severity).items()}
    annotations |= {"burn_long": f"{burn_long:.4g}", "burn_short": f"{burn_short:.4g}",
                    "error_budget_remaining": f"{status.error_budget_remaining:.4g}"}
    if low_traffic:
        summary += (
            f"; LOW TRAFFIC: only {round(counts.long_events)} events in {long_w} (minimum {min_events}),"
            " so this page-level burn is filed as a ticket"
        )
        annotations["low_traffic"] = "true"
    return Alert(
        name=name,
        severity=severity,  # type: ignore[arg-type]
        labels=labels,
        summary=summary,
        runbook_url=url,
        starts_at=starts_at,
        annotations=annotations,
        evidence={
            "tier": {"long": long_w, "short": short_w, "factor": tier.factor},
            "events": {long_w: _whole(counts.long_events), short_w: _whole(counts.short_events)},
            "bad": {long_w: _whole(counts.long_events, counts.long_ratio),
                    short_w: _whole(counts.short_events, counts.short_ratio)},
            "burn_rates": status.burn_rates,
            "error_budget_remaining": status.error_budget_remaining,
            "low_traffic": low_traffic,
        },
    )


def _whole(events: float | None, ratio: float = 1.0) -> int | None:
    # Events (or events x error ratio: the bad ones) as a whole number; None where not counted.
    if events is None or not math.isfinite(events * ratio):
        return None if events is None else 0
    return round(events * ratio)


def evaluation_time(at: datetime) -> datetime:
    return floor_minute(at)
