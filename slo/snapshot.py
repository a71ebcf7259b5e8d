"""Every SLO's status as of `at`, read from the rollups (or, with `sli_source: prometheus`, from
Prometheus: `slo.prometheus_source`): what the API and the evaluator share."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from slo.alert import Alert
from slo.evaluation import GroupStatus, evaluate_slo, series_span
from slo.maintenance import MaintenanceWindow, applied_for, config_windows
from slo.maintenance_store import windows_between
from slo.prometheus_source import PrometheusAPI, prometheus_client, prometheus_statuses
from slo.series import floor_minute
from slo.series_cache import SeriesCache
from slo.sli_source import family_key, snapshot_connection, tiered_family
from slo.spec import SLOSpec, min_events_for, slos_from_settings
from slo.status import SLOStatus, runbook_base

if TYPE_CHECKING:
    from asrwatch.settings import Settings

__all__ = ["SLOStatus", "firing_alerts", "place_alerts", "runbook_base", "slo_statuses"]


def slo_statuses(engine: Engine, settings: Settings, at: datetime, cache: SeriesCache | None = None,
                 prometheus: PrometheusAPI | None = None) -> list[SLOStatus]:
    """Per SLO, in config order, from the configured `sli_source` (Prometheus through `prometheus`,
    or a client made for this call). From the rollups: SLOs of one family (same SLI, filters and groups) are read in one
    pass, and SLOs that count the same events share one two-resolution series
    (`slo.sli_source.tiered_family`); one series is alive at a time, so memory follows the groups
    and the tiers' windows, not the number of SLOs. Every SLO is read in one snapshot (minutes read
    on demand for a starts_at replay included), so all statuses count the same events. Without a
    cache a fresh one serves this call."""
    if settings.sli_source == "prometheus":
        with prometheus_client(settings, prometheus) as api:
            return prometheus_statuses(api, settings, at)
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
