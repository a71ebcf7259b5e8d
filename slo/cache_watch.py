"""The cache watch: every evaluator interval, compare each slice's cache hit rate with a
baseline and hand significant drops to the alert router as tickets (`slo.cache_regression`).

The baseline is the same window `baseline_hours` earlier (a day: caches follow the day's
traffic), so a cache that stays cold keeps its ticket until it is warm again; a slice without
enough lookups then (a new deployment, a new slice) is compared with the window just before.

Config (`cache:` in asrwatch.yaml): `group_by` (default: the whole fleet), `window_hours` (1),
`baseline_hours` (24), `min_drop` (0.1: ten points of hit rate), `min_lookups` (200 in each
window), `alpha` (0.01), `enabled` (true). Fleets whose senders never set `cache_hit` have no
lookups: nothing fires.
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
from slo.cache_regression import baselines, cache_alerts
from slo.watch_config import WatchConfig, watch_job

if TYPE_CHECKING:
    from asrwatch.services import Services



class CacheWatchConfig(WatchConfig):
    section: ClassVar[str] = "cache"

    window_hours: float = Field(1.0, gt=0)
    baseline_hours: float = Field(24.0, gt=0)
    min_drop: float = Field(0.1, gt=0, le=1)
    min_lookups: int = Field(200, ge=1)
    alpha: float = Field(0.01, gt=0, lt=1)


def check(engine: Engine, settings: Settings, config: CacheWatchConfig, at: datetime) -> list[Alert]:
    window, back = timedelta(hours=config.window_hours), timedelta(hours=config.baseline_hours)
    current = queries.status_by_group(engine, config.group_by, at - window, at, {})
    earlier = queries.status_by_group(engine, config.group_by, at - back - window, at - back, {})
    previous = queries.status_by_group(engine, config.group_by, at - 2 * window, at - window, {})
    before = baselines(earlier, previous, config.group_by, config.min_lookups)
    return cache_alerts(current, before, config.group_by, at, min_drop=config.min_drop,
                        min_lookups=config.min_lookups, alpha=config.alpha, runbook_base_url=settings.runbook_base)


def cache_job(services: Services) -> Job | None:
    return watch_job(services, CacheWatchConfig, check)
