"""The one settings object: `asrwatch.yaml`, overridable per key by `ASRWATCH_<KEY>` env vars.

Nested keys use a double underscore (`ASRWATCH_AUTH__INGEST='["tok"]'`, or `=tok1,tok2`); lists
and mappings are given as JSON. Env wins over the file, the file wins over defaults.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from asrwatch import links

DEFAULT_DATA_DIR = Path("./asrwatch-data")
DEFAULT_DATABASE_URL = "sqlite:///./asrwatch-data/asrwatch.db"


SCOPES = ("ingest", "read", "admin")
TOKEN_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def hash_token(token: str) -> str:
    """The form a token takes in config files, in memory and in comparisons: `sha256:<hex>`."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def _read_secret_file(path: str, key: str) -> list[str]:
    # One token (plain or hashed) per line, as Docker/Kubernetes secrets mount them; # comments.
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ValueError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _as_hash(entry: str, key: str) -> str:
    entry = entry.strip()
    if not entry:
        raise ValueError(f"{key}: empty token")
    if entry[:7].lower() == "sha256:":
        if not TOKEN_HASH.fullmatch(entry.lower()):
            raise ValueError(f"{key}: a hashed token is sha256: followed by 64 hex digits "
                             "(make one with `asrwatch token hash`)")
        return entry.lower()
    return hash_token(entry)


class AuthSettings(BaseModel):
    """Bearer tokens per scope, held only as `sha256:<hex>` hashes. Admin implies read and ingest.

    The config file takes hashes only (`load_settings` refuses a plain token there). Plain
    tokens come from the environment (`ASRWATCH_AUTH__READ=tok` or a JSON list) or from secret
    files (`read_file: /run/secrets/asrwatch-read`, one token per line); they are hashed here,
    on load, so no plain token stays in memory, in a settings dump or in an error message.
    """

    ingest: list[str] | str = Field(default_factory=list)
    read: list[str] | str = Field(default_factory=list)
    admin: list[str] | str = Field(default_factory=list)
    ingest_file: str | None = None
    read_file: str | None = None
    admin_file: str | None = None

    @field_validator("ingest", "read", "admin", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        # A bare env value (`ASRWATCH_AUTH__INGEST=tok1,tok2`) is not JSON: split it here.
        if isinstance(value, str):
            return [part for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _hash_every_token(self) -> "AuthSettings":
        for scope in SCOPES:
            entries = [(f"auth.{scope}[{i}]", e) for i, e in enumerate(getattr(self, scope))]
            path = getattr(self, f"{scope}_file")
            if path:
                entries += [(f"auth.{scope}_file entry {i + 1}", e)
                            for i, e in enumerate(_read_secret_file(path, f"auth.{scope}_file"))]
            setattr(self, scope, list(dict.fromkeys(_as_hash(e, key) for key, e in entries)))
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.ingest or self.read or self.admin)


class RateLimit(BaseModel):
    """A token bucket per token and scope: `rate` requests per second, bursts up to `burst`."""

    rate: float = Field(gt=0)
    burst: float | None = Field(None, ge=1)  # default: one second's worth, at least 1

    @model_validator(mode="before")
    @classmethod
    def _bare_rate(cls, value: Any) -> Any:
        return {"rate": value} if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @property
    def capacity(self) -> float:
        return self.burst if self.burst is not None else max(1.0, self.rate)


class Settings(BaseSettings):
    # Errors name the key but never echo its value: values may be tokens or a database password.
    model_config = SettingsConfigDict(
        env_prefix="ASRWATCH_", env_nested_delimiter="__", extra="allow", hide_input_in_errors=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    auth: AuthSettings = Field(default_factory=AuthSettings)
    pricing: dict[str, float] = Field(default_factory=lambda: {"default": 2.50})
    normalizer: Literal["whisper_en", "basic", "none"] = "whisper_en"
    retention_days: float | None = None
    # How often the retention pass runs (with retention_days set): text past the cutoff lives
    # at most this much longer.
    retention_interval_s: float = Field(3600.0, gt=0)
    max_body_bytes: int = 16 * 1024 * 1024
    host: str = "127.0.0.1"
    port: int = 8080
    # Raw SLO specs; `slo.spec` parses and validates them so errors name the SLO and field.
    slos: list[dict[str, Any]] = Field(default_factory=list)
    # OpenSLO files or directories whose SLOs are added to `slos` (`slo.openslo`); relative paths in
    # the config file are relative to its folder. Env: a JSON list or comma-separated paths.
    openslo: list[str] | str = Field(default_factory=list)
    evaluator_interval_s: float = 15.0
    # "wall" for live fleets; "watermark" judges at the newest ingested event minute (replays, demo).
    evaluator_clock: Literal["wall", "watermark"] = "wall"
    runbook_base_url: str = "/runbooks"
    # The collector's address as receivers outside it reach it (like Prometheus'
    # `--web.external-url`): relative runbook and console links in every external payload
    # (Alertmanager, PagerDuty, Slack, webhooks, exported rules) are made absolute on it.
    external_url: str | None = None
    evaluator_enabled: bool = True
    # How often closed hours' minute rollups are compacted into hourly rows (`collector.store.compaction`).
    compaction_interval_s: float = Field(60.0, gt=0)
    slo_min_events: int = 10  # below this many events in a tier's long window, no page (low traffic)
    # With > 0, a tier also needs enough events that crossing its threshold takes this many bad
    # ones (a 1x ticket on a 99% SLO needs 100 events per bad event): no start-up noise tickets.
    slo_min_bad_events: float = 0.0
    # /metrics labels every dimension an SLO filters or groups on; each holds at most this many
    # distinct values (values SLO filters name are always kept), the rest read `__other__`.
    metrics_label_values_max: int = Field(1000, ge=1)
    traffic_router_file: str | None = None
    # Per-token request limits by the scope an endpoint needs, e.g. {ingest: 50, read: {rate: 20,
    # burst: 40}}; over it: 429 with Retry-After. Empty: no limit.
    rate_limits: dict[Literal["ingest", "read", "admin"], RateLimit] = Field(default_factory=dict)
    # Browser origins allowed to call the API (CORS); empty: no cross-origin access at all.
    cors_origins: list[str] | str = Field(default_factory=list)

    @field_validator("cors_origins", "openslo", mode="before")
    @classmethod
    def _comma_separated_list(cls, value: Any) -> Any:
        # A bare env value (`ASRWATCH_CORS_ORIGINS=a,b`) is not JSON: split it here.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("pricing")
    @classmethod
    def _pricing_has_default(cls, value: dict[str, float]) -> dict[str, float]:
        for pool, price in value.items():
            # NaN passes `< 0` (every comparison with it is false) and would make every cost and
            # cost-per-turn NaN; infinity would make them infinite. Neither is a price.
            if not math.isfinite(price):
                raise ValueError(f"pricing.{pool}: price must be a finite number of USD per GPU-hour, got {price}")
            if price < 0:
                raise ValueError(f"pricing.{pool}: price must be >= 0, got {price}")
        value.setdefault("default", 2.50)
        return value

    @field_validator("external_url")
    @classmethod
    def _absolute_external_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an absolute http(s) URL such as https://asrwatch.example.com, got {value!r}")
        return value

    @property
    def runbook_base(self) -> str:
        """Where runbook links point: `runbook_base_url`, made absolute on `external_url` when it
        is relative and an external URL is set (receivers outside cannot follow `/runbooks/...`)."""
        return links.absolute_link(self.runbook_base_url.rstrip("/") or "/runbooks", self.external_url)

    def absolute_link(self, link: str) -> str:
        """A link as an outside receiver can follow it: relative links joined to `external_url`
        (`asrwatch.links`, the one rule; an empty link stays empty)."""
        return links.absolute_link(link, self.external_url)

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


def refuse_plain_tokens(loaded: dict[str, Any], source: str) -> None:
    """A config file is read by backups, diffs and people: it may hold token hashes only."""
    auth = loaded.get("auth")
    if not isinstance(auth, dict):
        return
    for scope in SCOPES:
        value = auth.get(scope)
        entries = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for i, entry in enumerate(entries):  # other types: AuthSettings names them
            if not (isinstance(entry, str) and entry.strip()[:7].lower() == "sha256:"):
                raise ValueError(
                    f"{source}: auth.{scope}[{i}] is a plain token; the config file takes only hashes "
                    f"(sha256:<hex>, from `asrwatch token hash`). Give plain tokens through "
                    f"ASRWATCH_AUTH__{scope.upper()} or a secret file (auth.{scope}_file).")


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read the YAML config (if any) and apply env overrides on top. Overrides (keyword
    arguments, from code such as tests or the demo) may carry plain tokens; the file may not."""
    data: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text()
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the config must be a mapping of keys, got {type(loaded).__name__}")
        odd = [key for key in loaded if not isinstance(key, str)]
        if odd:  # YAML allows `1: x`; keyword arguments do not
            raise ValueError(f"{path}: config keys must be strings, got {odd[0]!r}")
        refuse_plain_tokens(loaded, str(path))
        if isinstance(loaded.get("openslo"), (list, str)):  # as Prometheus' rule_files: beside the config
            paths = [loaded["openslo"]] if isinstance(loaded["openslo"], str) else loaded["openslo"]
            loaded["openslo"] = [str(Path(path).parent / p) if isinstance(p, str) else p for p in paths]
        data.update(loaded)
    data.update(overrides)
    return Settings(**data)


def is_loopback(host: str) -> bool:
    return host in {"localhost", "::1"} or host.startswith("127.")
