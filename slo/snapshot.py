"""Every SLO's status as of `at`, read from the rollups: what the API and the evaluator share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from slo.alert import Alert
from slo.alerting import policy
from slo.burn_rate import REPORT_WINDOWS
from slo.evaluation import DEFAULT_RUNBOOK_BASE, GroupStatus, evaluate_slo, series_span
from slo.maintenance import MaintenanceWindow, applied_for, config_windows
from slo.maintenance_store import windows_between
from slo.series import floor_minute
from slo.series_cache import SeriesCache
from slo.sli_source import family_key, snapshot_connection, tiered_family
from slo.spec import SLOSpec, format_duration, min_events_for, slos_from_settings

if TYPE_CHECKING:
    from asrwatch.settings import Settings


@dataclass
class SLOStatus:
    spec: SLOSpec
    groups: list[GroupStatus]
    # The maintenance windows that dropped events from its SLO window, and whether each covers `at`.
    maintenance: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "name": spec.name,
            "sli": spec.sli,
            "objective": spec.objective,
            "window": format_duration(spec.window),
            "threshold_ms": spec.threshold_ms,
            "max_wer": spec.max_wer,
            "max_der": spec.max_der,
            "filters": dict(spec.filters),
            "group_by": list(spec.group_by),
            "alert_tiers": alert_tiers(spec),
            "burn_windows": burn_windows(),
            "groups": [g.to_dict() for g in self.groups],
            "maintenance": self.maintenance,
        }


def alert_tiers(spec: SLOSpec) -> list[dict[str, Any]]:
    """The tiers `evaluate_slo` judges this SLO by (`slo.alerting.policy`: the 30-day tiers with
    their windows scaled to the SLO's window), so a client draws the thresholds the engine uses
    instead of a copy of the 30-day ones. `enabled` is false for a tier the spec disables."""
    out = []
    for tier in policy(spec.window):
        long_w, short_w = timedelta(minutes=tier.long_minutes), timedelta(minutes=tier.short_minutes)
        out.append({
            "severity": tier.severity, "enabled": spec.alert_enabled(tier.severity),
            "long_window": format_duration(long_w), "long_window_s": int(long_w.total_seconds()),
            "short_window": format_duration(short_w), "short_window_s": int(short_w.total_seconds()),
            "factor": tier.factor,
        })
    return out


def burn_windows() -> list[dict[str, Any]]:
    """The windows every group's `burn_rates` reports (`slo.burn_rate.REPORT_WINDOWS`), shortest first."""
    return [{"window": name, "window_s": minutes * 60} for name, minutes in REPORT_WINDOWS.items()]


def runbook_base(settings: Settings | None) -> str:
    """Where SLO runbook links point in both engines: `Settings.runbook_base` (made absolute on
    `external_url`), or the default without settings."""
    return settings.runbook_base if settings is not None else DEFAULT_RUNBOOK_BASE


def slo_statuses(engine: Engine, settings: Settings, at: datetime, cache: SeriesCache | None = None) -> list[SLOStatus]:
    """Per SLO, in config order. SLOs of one family (same SLI, filters and groups) are read in one
    pass, and SLOs that count the same events share one two-resolution series
    (`slo.sli_source.tiered_family`); one series is alive at a time, so memory follows the groups
    and the tiers' windows, not the number of SLOs. Every SLO is read in one snapshot (minutes read
    on demand for a starts_at replay included), so all statuses count the same events. Without a
    cache a fresh one serves this call."""
    specs = slos_from_settings(settings)
    cache = SeriesCache() if cache is None else cache
    families: dict[tuple, list[SLOSpec]] = {}
    for spec in specs:
        families.setdefault(family_key(spec), []).append(spec)
    base, min_bad = runbook_base(settings), float(settings.slo_min_bad_events or 0)
    end = floor_minute(at)
    groups: dict[str, list[GroupStatus]] = {}
    configured = config_windows(settings) if settings.maintenance_windows else []
    with snapshot_connection(engine) as conn:
        # Maintenance windows (config and API) drop their events from the SLOs they apply to.
        windows = windows_between(conn, configured, end - max(map(series_span, specs)), end) if specs else []
        for family in families.values():
            for same, series in tiered_family(conn, family, at, cache, windows):
                for spec in same:
                    mine = series.restricted(end - series_span(spec))  # the groups a series of its own would hold
                    groups[spec.name] = evaluate_slo(spec, mine, at, min_events=min_events_for(spec, settings),
                                                     runbook_base=base, min_bad_events=min_bad)
    return [SLOStatus(spec, groups[spec.name], _maintenance(spec, windows, end)) for spec in specs]


def _maintenance(spec: SLOSpec, windows: list[MaintenanceWindow], end: datetime) -> list[dict[str, Any]]:
    applied = applied_for(spec, windows, end - spec.window, end) if windows else ()
    return [{"id": a.window_id, "active": a.start <= end < a.end} for a in applied]


def firing_alerts(statuses: list[SLOStatus]) -> list[Alert]:
    return [a for s in statuses for g in s.groups for a in g.alerts]


def place_alerts(statuses: list[SLOStatus], alerts: list[Alert]) -> list[SLOStatus]:
    """The statuses with each group's alerts replaced by `alerts` (`slo.alert_history`): an
    alert belongs to the group of its SLO whose labels it carries."""
    groups: dict[str, list[GroupStatus]] = {}
    for status in statuses:
        for group in status.groups:
            group.alerts = []
            groups.setdefault(status.spec.name, []).append(group)
    for alert in alerts:
        for group in groups.get(alert.labels.get("slo", ""), []):
            if all(alert.labels.get(k) == v for k, v in group.labels.items()):
                group.alerts.append(alert)
                break
    return statuses
