"""The shape both watches' config sections share (`cost:` for `slo.cost_watch`, `cache:` for
`slo.cache_watch`): read from the settings, unknown keys named with the closest valid one, and
`group_by` checked against the slice dimensions at start, not on every pass."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from asrwatch.settings import Settings, validation_problems
from collector.store import ROLLUP_DIMENSIONS


class WatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    section: ClassVar[str]  # the settings key the section lives under

    enabled: bool = True
    group_by: list[str] = Field(default_factory=list)

    @field_validator("group_by")
    @classmethod
    def _known_dimensions(cls, value: list[str]) -> list[str]:
        for dim in value:
            if dim not in ROLLUP_DIMENSIONS:
                raise ValueError(f"unknown dimension {dim!r} (one of {', '.join(ROLLUP_DIMENSIONS)})")
        return value

    @classmethod
    def from_settings(cls, settings: Settings | Mapping[str, Any]) -> Self:
        raw = (settings.get(cls.section) if isinstance(settings, Mapping) else getattr(settings, cls.section)) or {}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:  # an unknown key is named with the closest valid one
            problems = "; ".join(validation_problems(exc, cls, cls.section))
            raise ValueError(f"invalid {cls.section} config: {problems}") from None
