"""The one settings object: `asrwatch.yaml`, overridable per key by `ASRWATCH_<KEY>` env vars.

Nested keys use a double underscore (`ASRWATCH_AUTH__INGEST='["tok"]'`); lists and mappings
are given as JSON. Env wins over the file, the file wins over defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_DATA_DIR = Path("./asrwatch-data")
DEFAULT_DATABASE_URL = "sqlite:///./asrwatch-data/asrwatch.db"


class AuthSettings(BaseModel):
    """Bearer tokens per scope. Admin implies read and ingest."""

    ingest: list[str] = Field(default_factory=list)
    read: list[str] = Field(default_factory=list)
    admin: list[str] = Field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return bool(self.ingest or self.read or self.admin)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ASRWATCH_", env_nested_delimiter="__", extra="allow"
    )

    database_url: str = DEFAULT_DATABASE_URL
    auth: AuthSettings = Field(default_factory=AuthSettings)
    pricing: dict[str, float] = Field(default_factory=lambda: {"default": 2.50})
    normalizer: Literal["whisper_en", "basic", "none"] = "whisper_en"
    retention_days: float | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    host: str = "127.0.0.1"
    port: int = 8080
    # Raw SLO specs; `slo.spec` parses and validates them so errors name the SLO and field.
    slos: list[dict[str, Any]] = Field(default_factory=list)
    evaluator_interval_s: float = 15.0
    # "wall" for live fleets; "watermark" judges at the newest ingested event minute (replays, demo).
    evaluator_clock: Literal["wall", "watermark"] = "wall"
    runbook_base_url: str = "/runbooks"
    evaluator_enabled: bool = True
    slo_min_events: int = 10  # below this many events in a tier's long window, no page (low traffic)
    # With > 0, a tier also needs enough events that crossing its threshold takes this many bad
    # ones (a 1x ticket on a 99% SLO needs 100 events per bad event): no start-up noise tickets.
    slo_min_bad_events: float = 0.0
    traffic_router_file: str | None = None

    @field_validator("pricing")
    @classmethod
    def _pricing_has_default(cls, value: dict[str, float]) -> dict[str, float]:
        for pool, price in value.items():
            if price < 0:
                raise ValueError(f"pricing.{pool}: price must be >= 0, got {price}")
        value.setdefault("default", 2.50)
        return value

    def price_per_gpu_hour(self, pool: str | None) -> float:
        return self.pricing.get(pool or "default", self.pricing["default"])

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Env beats the YAML file (passed as init kwargs), as the design promises.
        return env_settings, init_settings, file_secret_settings


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read the YAML config (if any) and apply env overrides on top."""
    data: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text()
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the config must be a mapping of keys, got {type(loaded).__name__}")
        data.update(loaded)
    data.update(overrides)
    return Settings(**data)


def is_loopback(host: str) -> bool:
    return host in {"localhost", "::1"} or host.startswith("127.")
