"""What both watches share (`cost:` for `slo.cost_watch`, `cache:` for `slo.cache_watch`): a
config section read from the settings (unknown keys named with the closest valid one, `group_by`
checked against the slice dimensions at start, not on every pass), and a job that hands each
pass's tickets to the alert router."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from sqlalchemy.engine import Engine

from asrwatch.jobs import Job
from asrwatch.settings import Settings, validation_problems
from collector.store import ROLLUP_DIMENSIONS
from slo.alert import Alert

if TYPE_CHECKING:
    from asrwatch.services import Services


class WatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    section: ClassVar[str]  # the settings key the section lives under

    enabled: bool = True
    group_by: list[str] = Field(default_factory=list)

    @field_validator("group_by")
    @classmethod
    def _known_dimensions(cls, value: list[str], info: ValidationInfo) -> list[str]:
        known = (*ROLLUP_DIMENSIONS, *(info.context or {}).get("dimensions", ()))  # and the configured ones
        for dim in value:
            if dim not in known:
                raise ValueError(f"unknown dimension {dim!r} (one of {', '.join(known)})")
        return value

    @classmethod
    def from_settings(cls, settings: Settings | Mapping[str, Any]) -> Self:
        raw = (settings.get(cls.section) if isinstance(settings, Mapping) else getattr(settings, cls.section)) or {}
        try:
            dimensions = () if isinstance(settings, Mapping) else tuple(settings.dimensions)
            return cls.model_validate(raw, context={"dimensions": dimensions})
        except ValidationError as exc:  # an unknown key is named with the closest valid one
            problems = "; ".join(validation_problems(exc, cls, cls.section))
            raise ValueError(f"invalid {cls.section} config: {problems}") from None


def watch_job(services: Services, config_type: type[WatchConfig],
              check: Callable[[Engine, Settings, Any, datetime], list[Alert]]) -> Job | None:
    """Every evaluator interval (the first pass one interval after start, once data has come),
    hand the watch's tickets to the alert router as the source its section names; none when
    disabled. A bad config fails startup."""
    settings = services.settings
    config = config_type.from_settings(settings)
    if not config.enabled:
        return None
    source = config_type.section

    def step(at: datetime) -> None:
        services.alert_router.sync(source, check(services.engine, settings, config, at), at)

    return Job(f"{source} watch", settings.evaluator_interval_s, step, first_wait_s=settings.evaluator_interval_s,
               log=logging.getLogger(f"asrwatch.{source}"))

