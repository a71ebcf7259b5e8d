"""The cost watch: every evaluator interval, compare cost per successful turn with the
previous window and hand regressions (with their drivers) to the alert router as tickets.

Config (`cost:` in asrwatch.yaml): `group_by` (default: the whole fleet), `window_hours` (2),
`min_relative_increase` (0.3), `min_sessions` (200), `enabled` (true).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Engine

from asrwatch.jobs import Job
from asrwatch.settings import Settings, validation_problems
from collector.store import cost_by_group
from slo.alert import Alert
from slo.cost_regression import cost_alerts

if TYPE_CHECKING:
    from asrwatch.services import Services

log = logging.getLogger("asrwatch.cost")


class CostWatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    group_by: list[str] = Field(default_factory=list)
    window_hours: float = Field(2.0, gt=0)
    min_relative_increase: float = Field(0.3, gt=0)
    min_sessions: int = Field(200, ge=1)

    @classmethod
    def from_settings(cls, settings: Settings | Mapping[str, Any]) -> "CostWatchConfig":
        raw = (settings.get("cost") if isinstance(settings, Mapping) else settings.cost) or {}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:  # an unknown key is named with the closest valid one
            raise ValueError("invalid cost config: " + "; ".join(validation_problems(exc, cls, "cost"))) from None


def check(engine: Engine, settings: Settings, config: CostWatchConfig, at: datetime) -> list[Alert]:
    rows = cost_by_group(engine, config.group_by, at - timedelta(hours=config.window_hours), at, {},
                         settings.price_per_gpu_hour, api_per_minute=settings.api_price_per_minute)
    return cost_alerts(rows, config.group_by, at, min_relative_increase=config.min_relative_increase,
                       min_sessions=config.min_sessions, runbook_base_url=settings.runbook_base)


def cost_job(services: Services) -> Job | None:
    """Every evaluator interval (the first pass one interval after start, once data has come),
    hand cost regressions to the alert router as tickets; none when disabled."""
    settings = services.settings
    config = CostWatchConfig.from_settings(settings)  # a bad config fails startup
    if not config.enabled:
        return None

    def step(at: datetime) -> None:
        services.alert_router.sync("cost", check(services.engine, settings, config, at), at)

    return Job("cost watch", settings.evaluator_interval_s, step, first_wait_s=settings.evaluator_interval_s, log=log)
