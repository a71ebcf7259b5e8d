"""The cache watch: every evaluator interval, compare each slice's cache hit rate with the
previous window and hand significant drops to the alert router as tickets
(`slo.cache_regression`).

Config (`cache:` in asrwatch.yaml): `group_by` (default: the whole fleet), `window_hours` (1),
`min_drop` (0.1: ten points of hit rate), `min_lookups` (200 in each window), `alpha` (0.01),
`enabled` (true). Fleets whose senders never set `cache_hit` have no lookups: nothing fires.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field
from sqlalchemy.engine import Engine

from asrwatch.jobs import Job
from asrwatch.settings import Settings
from collector.store import queries
from slo.alert import Alert
from slo.cache_regression import cache_alerts
from slo.watch_config import WatchConfig, watch_job

if TYPE_CHECKING:
    from asrwatch.services import Services



class CacheWatchConfig(WatchConfig):
    section: ClassVar[str] = "cache"

    window_hours: float = Field(1.0, gt=0)
    min_drop: float = Field(0.1, gt=0, le=1)
    min_lookups: int = Field(200, ge=1)
    alpha: float = Field(0.01, gt=0, lt=1)


def check(engine: Engine, settings: Settings, config: CacheWatchConfig, at: datetime) -> list[Alert]:
    window = timedelta(hours=config.window_hours)
    current = queries.status_by_group(engine, config.group_by, at - window, at, {})
    previous = queries.status_by_group(engine, config.group_by, at - 2 * window, at - window, {})
    return cache_alerts(current, previous, config.group_by, at, min_drop=config.min_drop,
                        min_lookups=config.min_lookups, alpha=config.alpha, runbook_base_url=settings.runbook_base)


def cache_job(services: Services) -> Job | None:
    return watch_job(services, CacheWatchConfig, check)
