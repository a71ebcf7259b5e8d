"""The cost watch: every evaluator interval, compare cost per successful turn with the
previous window and hand regressions (with their drivers) to the alert router as tickets.

Config (`cost:` in asrwatch.yaml): `group_by` (default: the whole fleet), `window_hours` (2),
`min_relative_increase` (0.3), `min_sessions` (200), `enabled` (true).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from collector.store.clock import evaluation_time
from slo.cost_regression import cost_alerts
from collector.store.queries import cost_by_group

log = logging.getLogger("asrwatch.cost")


class CostWatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    group_by: list[str] = Field(default_factory=list)
    window_hours: float = Field(2.0, gt=0)
    min_relative_increase: float = Field(0.3, gt=0)
    min_sessions: int = Field(200, ge=1)

    @classmethod
    def from_settings(cls, settings: Any) -> "CostWatchConfig":
        raw = (settings.model_extra or {}).get("cost") or {}
        try:
            return cls.model_validate(raw)
        except Exception as exc:
            raise ValueError(f"cost: {exc}") from exc


def check(engine, settings, config: CostWatchConfig, at) -> list:
    rows = cost_by_group(engine, config.group_by, at - timedelta(hours=config.window_hours), at, {},
                         settings.price_per_gpu_hour)
    return cost_alerts(rows, config.group_by, at, min_relative_increase=config.min_relative_increase,
                       min_sessions=config.min_sessions, runbook_base_url=settings.runbook_base)


async def cost_loop(app: Any) -> None:
    settings = app.state.settings
    config = CostWatchConfig.from_settings(settings)
    while True:
        await asyncio.sleep(settings.evaluator_interval_s)
        router = getattr(app.state, "alert_router", None)
        if router is None:
            continue
        try:
            at = await asyncio.to_thread(evaluation_time, app.state.engine, settings.evaluator_clock)
            alerts = await asyncio.to_thread(check, app.state.engine, settings, config, at)
            await asyncio.to_thread(router.sync, "cost", alerts, at)
        except Exception:
            log.exception("cost watch pass failed")


def setup(app: Any) -> None:
    config = CostWatchConfig.from_settings(app.state.settings)  # a bad config fails startup
    if config.enabled and app.state.settings.evaluator_enabled:
        app.state.background.append(cost_loop)
