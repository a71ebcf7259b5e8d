"""An SLO's status as of `at`, whichever source counted it (`slo.snapshot` from the rollups,
`slo.prometheus_source` from Prometheus), and what the API says about its tiers and windows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from slo.alerting import policy
from slo.burn_rate import REPORT_WINDOWS
from slo.evaluation import DEFAULT_RUNBOOK_BASE, GroupStatus
from slo.spec import SLOSpec, format_duration

if TYPE_CHECKING:
    from asrwatch.settings import Settings


@dataclass
class SLOStatus:
    spec: SLOSpec
    groups: list[GroupStatus]
    # The maintenance windows that dropped events from its SLO window, and whether each covers `at`.
    maintenance: list[dict[str, Any]] = field(default_factory=list)
    # Where the counts came from (`sli_source`): the rollups, or Prometheus' recordings.
    source: Literal["local", "prometheus"] = "local"
    # Why the source could not judge it (Prometheus without this SLO's rules, or with stale ones).
    problem: str | None = None

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
            "sli_source": self.source,
            "source_problem": self.problem,
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
