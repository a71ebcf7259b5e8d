"""The cost watch: every evaluator interval, compare cost per successful turn with the
previous window and hand regressions (with their drivers) to the alert router as tickets.

Config (`cost:` in asrwatch.yaml): `group_by` (default: the whole fleet), `window_hours` (2),
`min_relative_increase` (0.3), `min_sessions` (200), `enabled` (true).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field
from sqlalchemy.engine import Engine

from asrwatch.jobs import Job
from asrwatch.settings import Settings
from collector.store import cost_by_group
from slo.alert import Alert
from slo.cost_regression import cost_alerts
from slo.watch_config import WatchConfig, watch_job

if TYPE_CHECKING:
    from asrwatch.services import Services



class CostWatchConfig(WatchConfig):
    section: ClassVar[str] = "cost"

    window_hours: float = Field(2.0, gt=0)
    min_relative_increase: float = Field(0.3, gt=0)
    min_sessions: int = Field(200, ge=1)


def check(engine: Engine, settings: Settings, config: CostWatchConfig, at: datetime) -> list[Alert]:
    rows = cost_by_group(engine, config.group_by, at - timedelta(hours=config.window_hours), at, {},
                         settings.price_per_gpu_hour, api_per_minute=settings.api_price_per_minute)
    return cost_alerts(rows, config.group_by, at, min_relative_increase=config.min_relative_increase,
                       min_sessions=config.min_sessions, runbook_base_url=settings.runbook_base)


def cost_job(services: Services) -> Job | None:
    return watch_job(services, CostWatchConfig, check)
