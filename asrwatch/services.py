"""The parts of a running collector, in one typed object.

`asrwatch.server.create_app` builds one `Services` and every route reaches it through
`collector.api.dependencies.get_services`: no part looks another up by name on `app.state`,
and the order in which parts are built is the order of the code in `create_app`, not a comment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from starlette.requests import Request

from asrwatch.settings import Settings

if TYPE_CHECKING:  # the types only: importing the parts here would make every route import them all
    from collector.api import CollectorMetrics, RateLimiter
    from collector.store import LeaderLock
    from drift import DriftConfig, ReportCache, ScanReport
    from slo import AlertHook, AlertRouter, PrometheusAPI, SeriesCache

    DriftScan = Callable[[Engine, DriftConfig, datetime], ScanReport]


@dataclass
class Services:
    settings: Settings
    engine: Engine
    metrics: CollectorMetrics
    rate_limiter: RateLimiter | None
    alert_router: AlertRouter
    slo_series: SeriesCache
    drift_reports: ReportCache
    # The drift scan the live page and the drift job run (tests swap in one that counts or refuses).
    drift_scan: DriftScan
    rollout_leader: LeaderLock
    # `sli_source: prometheus`: the client the SLO engine reads its SLIs through (None: local).
    prometheus: PrometheusAPI | None = None
    # Called by the SLO evaluator with each pass's transitions (the alert router's hook first).
    alert_hooks: list[AlertHook] = field(default_factory=list)


def services_of(request: Request) -> Services:
    """The running collector's parts (`asrwatch.server.create_app` put them there)."""
    services: Services = request.app.state.services
    return services
