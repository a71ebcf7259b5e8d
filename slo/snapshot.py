"""Every SLO's status as of `at`, read from the rollups: what the API and the evaluator share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from slo.alert import Alert
from slo.evaluation import DEFAULT_RUNBOOK_BASE, GroupStatus, evaluate_slo
from slo.series_cache import SeriesCache
from slo.sli_source import load_series
from slo.spec import SLOSpec, format_duration, min_events_for, slos_from_settings

if TYPE_CHECKING:
    from asrwatch.settings import Settings


@dataclass
class SLOStatus:
    spec: SLOSpec
    groups: list[GroupStatus]

    def to_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "name": spec.name,
            "sli": spec.sli,
            "objective": spec.objective,
            "window": format_duration(spec.window),
            "threshold_ms": spec.threshold_ms,
            "max_wer": spec.max_wer,
            "filters": dict(spec.filters),
            "group_by": list(spec.group_by),
            "groups": [g.to_dict() for g in self.groups],
        }


def runbook_base(settings: Settings | None) -> str:
    """Where SLO runbook links point in both engines: `Settings.runbook_base` (made absolute on
    `external_url`), or the default without settings."""
    return settings.runbook_base if settings is not None else DEFAULT_RUNBOOK_BASE


def slo_statuses(engine: Engine, settings: Any, at: datetime, cache: SeriesCache | None = None) -> list[SLOStatus]:
    out = []
    for spec in slos_from_settings(settings):
        series = load_series(engine, spec, at, cache)
        groups = evaluate_slo(spec, series, at, min_events=min_events_for(spec, settings),
                              runbook_base=runbook_base(settings),
                              min_bad_events=float(getattr(settings, "slo_min_bad_events", 0) or 0))
        out.append(SLOStatus(spec, groups))
    return out


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
