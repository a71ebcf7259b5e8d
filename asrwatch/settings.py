"""The one settings object: `asrwatch.yaml`, overridable per key by `ASRWATCH_<KEY>` env vars.

Nested keys use a double underscore (`ASRWATCH_AUTH__INGEST='["tok"]'`, or `=tok1,tok2`); lists
and mappings are given as JSON. Env wins over the file, the file wins over defaults.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import math
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from asrwatch import links

if TYPE_CHECKING:
    from collector.store import StorePolicy

DEFAULT_DATA_DIR = Path("./asrwatch-data")
DEFAULT_DATABASE_URL = "sqlite:///./asrwatch-data/asrwatch.db"


SCOPES = ("ingest", "read", "admin")
TOKEN_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def closest(key: str, valid: Iterable[str]) -> str | None:
    """The valid key closest to a misspelt one, or None when none is close: difflib's
    `get_close_matches` at its default cutoff (0.6), as click (under typer, so our own CLI)
    suggests a misspelt option in `click.exceptions.NoSuchOption`."""
    close = difflib.get_close_matches(str(key), sorted(valid), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(key: str, valid: Iterable[str]) -> str:
    """` (did you mean 'slos'?)`, or nothing when no valid key is close."""
    match = closest(key, valid)
    return f" (did you mean {match!r}?)" if match else ""


def unknown_key(where: str, key: Any, valid: Iterable[str]) -> str:
    """The one wording of an unknown config key: `slo: unknown key (did you mean 'slos'?)`."""
    path = f"{where}.{key}" if where else str(key)
    return f"{path}: unknown key{did_you_mean(str(key), valid)}"


def model_keys(model: type[BaseModel]) -> list[str]:
    """The keys a model accepts: its field names and their aliases."""
    return [k for name, f in model.model_fields.items() for k in (name, f.alias) if k]


def _models_in(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [a for arg in typing.get_args(annotation) for a in _models_in(arg)]
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    return [annotation]


def model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model a validation error's location (less its last part) points into, or None when a
    part of it is free-form (a dict key, a union pydantic named by its member)."""
    current: list[Any] = [model]
    for part in loc:
        following: list[Any] = []
        for tp in current:
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                field = next((f for name, f in tp.model_fields.items() if part in (name, f.alias)), None)
                if field is not None:
                    following += _models_in(field.annotation)
                continue
            origin, args = typing.get_origin(tp), typing.get_args(tp)
            if origin in (list, tuple, set, frozenset) and isinstance(part, int) and args:
                following += _models_in(args[0])
            elif origin in (dict, Mapping) and isinstance(part, str) and len(args) == 2:
                following += _models_in(args[1])
        current = following
    models = [tp for tp in current if isinstance(tp, type) and issubclass(tp, BaseModel)]
    return models[0] if len(models) == 1 else None


def validation_problems(exc: ValidationError, model: type[BaseModel], prefix: str = "",
                        root: str | None = None) -> list[str]:
    """`<prefix.path>: <message>` per error (`root`, default the prefix, for an error about the
    whole model), an unknown key named with the closest valid one. Messages only: the offending
    values (tokens, passwords, transcripts) are never echoed."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join([prefix] * bool(prefix) + [str(p) for p in loc]) if loc else (root or prefix or "config")
        if err["type"] == "extra_forbidden" and loc:
            parent = model_at(model, loc[:-1])
            valid = model_keys(parent) if parent is not None else []
            problems.append(f"{where}: unknown key{did_you_mean(str(loc[-1]), valid)}")
        else:
            problems.append(f"{where}: {err['msg']}")
    return problems


def refuse_unknown_keys(value: Any, model: type[BaseModel]) -> Any:
    """A `mode="before"` check for models nested in Settings: an unknown key fails naming the
    closest valid one, in the model's own error (so its location names the parent key)."""
    if isinstance(value, Mapping):
        valid = model_keys(model)
        for key in value:
            if key not in valid:
                raise ValueError(f"unknown key {key!r}{did_you_mean(str(key), valid)}")
    return value


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

    model_config = ConfigDict(extra="forbid")

    ingest: list[str] | str = Field(default_factory=list)
    read: list[str] | str = Field(default_factory=list)
    admin: list[str] | str = Field(default_factory=list)
    ingest_file: str | None = None
    read_file: str | None = None
    admin_file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, value: Any) -> Any:
        return refuse_unknown_keys(value, cls)

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

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(gt=0)
    burst: float | None = Field(None, ge=1)  # default: one second's worth, at least 1

    @model_validator(mode="before")
    @classmethod
    def _bare_rate(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"rate": value}
        return refuse_unknown_keys(value, cls)

    @property
    def capacity(self) -> float:
        return self.burst if self.burst is not None else max(1.0, self.rate)


class StoreSettings(BaseModel):
    """`store:` (`collector.store.sampling`): which sessions are stored. Every session counts in
    the rollups and on /metrics whatever this says."""

    model_config = ConfigDict(extra="forbid")

    sessions: Literal["all", "sample"] = "all"
    sample_rate: float = Field(1.0, gt=0, le=1)  # the stored share of the sessions not in `always`
    always: list[Literal["failures", "labeled", "canary", "probe"]] = Field(
        default_factory=lambda: ["failures", "labeled", "canary", "probe"])
    # How long the ids of sessions not stored are kept, so a retried batch is counted once.
    dedupe_hours: float = Field(48.0, gt=0)
    # Whole sessions older than this many days (event time) are removed; rollups keep their counts.
    # PostgreSQL drops whole day partitions (`collector.store.partitions`). None: kept.
    session_days: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, value: Any) -> Any:
        return refuse_unknown_keys(value, cls)

    @model_validator(mode="after")
    def _rate_only_when_sampling(self) -> "StoreSettings":
        if self.sessions == "all" and self.sample_rate != 1.0:
            raise ValueError("sample_rate: only with sessions: sample (sessions: all stores every session)")
        return self

    def policy(self) -> "StorePolicy":
        """As the store applies it: what `serve` and the CLI configure the engine with
        (`collector.store.configure_sampling`), so both read a sample alike."""
        from collector.store import StorePolicy

        return StorePolicy(self.sessions, self.sample_rate, tuple(self.always), self.dedupe_hours)


class PrometheusSettings(BaseModel):
    """`prometheus:` the Prometheus HTTP API (Prometheus, Thanos Query, Mimir's Prometheus API)
    that `sli_source: prometheus` reads the SLIs from (`slo.prometheus_source`). `url` is the base
    before `/api/v1/query` (for Mimir, with its `/prometheus` prefix); `headers` go with every query
    (a bearer token, Mimir's `X-Scope-OrgID`) and are never logged."""

    model_config = ConfigDict(extra="forbid")

    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(10.0, gt=0, le=300)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, value: Any) -> Any:
        return refuse_unknown_keys(value, cls)

    @field_validator("url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an absolute http(s) URL such as http://prometheus:9090, got {value!r}")
        if "@" in value.split("://", 1)[1].split("/", 1)[0]:
            # The URL is named in errors and logs; credentials belong in `headers`, which never are.
            raise ValueError("must not hold credentials (user:password@): put them in prometheus.headers "
                             "(e.g. Authorization)")
        return value


# Variables with the ASRWATCH_ prefix that belong to other asrwatch commands or to the tests,
# not to this settings object: the unknown-variable check leaves them alone.
OTHER_ENV_VARS = frozenset({
    "ASRWATCH_TOKEN", "ASRWATCH_INGEST_TOKEN", "ASRWATCH_ADMIN_TOKEN",  # clients, runbooks
    "ASRWATCH_CONSOLE_TOKEN", "ASRWATCH_CONSOLE_API", "ASRWATCH_CONSOLE_NORMALIZER",  # asrwatch console
    "ASRWATCH_CACHE_DIR", "ASRWATCH_PROBE_SERVE_TOKEN", "ASRWATCH_ENDPOINT_TOKEN",  # asrwatch probe
    "ASRWATCH_UPDATE_GOLDEN", "ASRWATCH_README_SCREENSHOT",  # the test suite
})
OTHER_ENV_PREFIXES = ("ASRWATCH_TEST_",)  # the test suite (ASRWATCH_TEST_POSTGRES, ..._CRASH_AT)
# Kubernetes injects these into every pod of a namespace that has a Service named `asrwatch`
# (docker link-style variables: <NAME>_SERVICE_HOST, <NAME>_PORT_8080_TCP_ADDR, ...; see
# kubernetes/pkg/kubelet/envvars/envvars.go): they are not ours, and must not stop `serve`.
KUBERNETES_SERVICE_VARS = re.compile(r"ASRWATCH_(SERVICE_[A-Z0-9_]+|PORT_\d+_(TCP|UDP|SCTP)(_[A-Z]+)?)")
KUBERNETES_SERVICE_LINK_VALUE = re.compile(r"^(tcp|udp|sctp)://", re.IGNORECASE)
ENV_PREFIX = "ASRWATCH_"
API_PRICE_KEY = "api_per_minute"  # in `pricing`: the paid API's USD per audio minute


class Settings(BaseSettings):
    """Every key asrwatch.yaml takes is a field here; any other key, in the file, in keyword
    arguments or as an `ASRWATCH_<KEY>` environment variable, is an error naming it and the
    closest valid key. Sub-configs owned by other parts (the router, drift, cost, rollout
    actuators) are declared here and validated by those parts' own models, which forbid
    unknown keys too."""

    # Errors name the key but never echo its value: values may be tokens or a database password.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", hide_input_in_errors=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    auth: AuthSettings = Field(default_factory=AuthSettings)
    # USD per GPU-hour per pool ("default" for the rest), and `api_per_minute`: USD per audio minute
    # of the paid API that sessions with `backend: api` fall back to.
    pricing: dict[str, float] = Field(default_factory=lambda: {"default": 2.50})
    # Text normalization before WER/CER: "language" picks by each session's language (Whisper's
    # English normalizer for en and sessions without one, its basic one otherwise:
    # `collector.measures.wer.normalizer_for`); a normalizer's name applies it to every language.
    normalizer: Literal["language", "whisper_en", "basic", "none"] = "language"
    # Entity terms per domain, for entity recall: a session's `attributes.domain` picks its list
    # (`collector.measures.entity_recall`); terms are normalized like the text they are found in.
    entities: dict[Annotated[str, Field(min_length=1, max_length=64)],
                   list[Annotated[str, Field(min_length=1, max_length=200)]]] = Field(default_factory=dict)
    # Seconds around each reference speaker boundary left out of DER (pyannote.metrics' `collar`;
    # NIST's evaluations used 0.25): 0 scores every boundary exactly.
    diarization_collar_s: float = Field(0.0, ge=0, le=10)
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
    # Maintenance windows (`slo.maintenance.WindowSpec` validates each: name, reason, starts_at,
    # ends_at, slos, labels): their events count in no SLO's budget nor alert.
    maintenance_windows: list[dict[str, Any]] = Field(default_factory=list)
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
    # The cardinality budget: each slice dimension (model_version, region, channel, tenant,
    # language, pool) keeps at most this many distinct values in the rollups and as /metrics labels
    # (values SLO filters name are always kept); later values read `__other__`
    # (`collector.store.dimension_budget`: the admitted set is stored, the same on every replica).
    metrics_label_values_max: int = Field(1000, ge=1)
    # Dimensions besides the fixed six (`collector.store.dimensions`): names read from each session's
    # `attributes` (over OTLP, the `asr.<name>` or `<name>` span or resource attribute), sliced by
    # everywhere the fixed ones are (query filters and group_by, SLOs, drift, the judge, /metrics),
    # within the same budget. At most 8 over a deployment's life; sessions stored before read `unknown`.
    dimensions: list[str] | str = Field(default_factory=list)  # env: comma-separated or a JSON list
    # Sampled session storage (`collector.store.sampling`): {sessions: all | sample, sample_rate,
    # always: [failures, labeled, canary, probe], dedupe_hours}.
    store: StoreSettings = Field(default_factory=StoreSettings)
    # Where the SLO engine reads its SLIs (`slo.prometheus_source`): "local" from the rollups;
    # "prometheus" through PromQL over the rules `asrwatch slo rules` exports, loaded into the
    # Prometheus-compatible engine `prometheus:` names, which scrapes every replica's /metrics.
    sli_source: Literal["local", "prometheus"] = "local"
    prometheus: PrometheusSettings | None = None
    traffic_router_file: str | None = None
    # Per-token request limits by the scope an endpoint needs, e.g. {ingest: 50, read: {rate: 20,
    # burst: 40}}; over it: 429 with Retry-After. Empty: no limit.
    rate_limits: dict[Literal["ingest", "read", "admin"], RateLimit] = Field(default_factory=dict)
    # Browser origins allowed to call the API (CORS); empty: no cross-origin access at all.
    cors_origins: list[str] | str = Field(default_factory=list)

    # The alert router (`slo.router.config.RouterConfig` validates these, Alertmanager's shape);
    # None: the router's own default.
    receivers: list[dict[str, Any]] | None = None
    routes: dict[str, Any] | None = None
    owners: dict[str, Any] | None = None
    inhibit_rules: list[dict[str, Any]] | None = None
    group_by: list[str] | None = None
    group_wait: str | float | None = None
    group_interval: str | float | None = None
    repeat_interval: str | float | None = None
    fallback_receiver: str | None = None
    # The drift scan (`drift.config.DriftConfig`), the cost watch (`slo.cost_watch.CostWatchConfig`)
    # and the cache watch (`slo.cache_watch.CacheWatchConfig`).
    drift: dict[str, Any] = Field(default_factory=dict)
    cost: dict[str, Any] = Field(default_factory=dict)
    cache: dict[str, Any] = Field(default_factory=dict)
    # Rollback actuators besides traffic_router_file (`slo.rollout.actuators.from_settings`):
    # [{kind: webhook, url, headers}, {kind: traffic_file, path}]; dry run: say, change nothing.
    rollout_actuators: list[dict[str, Any]] = Field(default_factory=list)
    rollout_dry_run: bool = False

    def __init__(self, **values: Any) -> None:
        # pydantic-settings reads only the ASRWATCH_ variables that name a field and ignores the
        # rest, so a misspelt one would be dropped without a word: refuse it here, by name.
        unknown_env_vars(os.environ)
        for key in values:
            if key not in type(self).model_fields and key not in _BASE_SETTINGS_ARGS:
                raise ValueError(unknown_key("", key, type(self).model_fields))
        super().__init__(**values)

    @model_validator(mode="after")
    def _sli_source_has_its_engine(self) -> "Settings":
        if self.sli_source == "prometheus":
            if self.prometheus is None:
                raise ValueError("prometheus: sli_source: prometheus needs prometheus: {url: http://...}")
            if self.evaluator_clock == "watermark":
                # Prometheus counts sessions when it scrapes them, not at their event time, so it
                # cannot judge a replay as of its own minutes.
                raise ValueError("evaluator_clock: watermark needs sli_source: local (Prometheus counts "
                                 "sessions at scrape time, not at their event time)")
        return self

    @field_validator("dimensions", mode="before")
    @classmethod
    def _dimension_names(cls, value: Any) -> Any:
        from collector.store import (
            check_dimension_names,  # the rules live with the slots they fill
        )

        if isinstance(value, str):  # ASRWATCH_DIMENSIONS=accent,mic_path
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"must be a list of names, got {type(value).__name__}")
        return list(check_dimension_names(list(value)))

    @field_validator("cors_origins", "openslo", mode="before")
    @classmethod
    def _comma_separated_list(cls, value: Any) -> Any:
        # A bare env value (`ASRWATCH_CORS_ORIGINS=a,b`) is not JSON: split it here.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("entities")
    @classmethod
    def _entities_are_words(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from collector.measures import normalizer

        for domain, terms in value.items():
            for i, term in enumerate(terms):
                # A term that normalizes to nothing (only punctuation) could never be found.
                if not all(any(c.isalnum() for c in normalizer(name)(term)) for name in ("whisper_en", "basic")):
                    raise ValueError(f"entities.{domain}[{i}]: the term has no words after normalization")
        return value

    @field_validator("pricing")
    @classmethod
    def _pricing_has_default(cls, value: dict[str, float]) -> dict[str, float]:
        for pool, price in value.items():
            # NaN passes `< 0` (every comparison with it is false) and would make every cost and
            # cost-per-turn NaN; infinity would make them infinite. Neither is a price.
            unit = "USD per audio minute" if pool == API_PRICE_KEY else "USD per GPU-hour"
            if not math.isfinite(price):
                raise ValueError(f"pricing.{pool}: price must be a finite number of {unit}, got {price}")
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
        if pool == API_PRICE_KEY:  # the paid API's price per audio minute, not a pool's
            return self.pricing["default"]
        return self.pricing.get(pool or "default", self.pricing["default"])

    @property
    def api_price_per_minute(self) -> float | None:
        """`pricing.api_per_minute`: what the paid API (sessions with `backend: api`) costs per
        audio minute; None when not configured (its cost is then reported as unknown)."""
        return self.pricing.get(API_PRICE_KEY)

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
        return _WithoutServiceLinks(env_settings), init_settings, file_secret_settings


class _WithoutServiceLinks(PydanticBaseSettingsSource):
    """The environment, less Kubernetes' ASRWATCH_PORT=tcp://<cluster ip>:<port>: a Service named
    `asrwatch` sets it in every pod of its namespace (kubernetes pkg/kubelet/envvars/envvars.go).
    It is the Service's address, not the port to bind; read as ours it stopped `serve` with an
    int error, or would override the file's `port`. A plain number is still ours."""

    def __init__(self, inner: PydanticBaseSettingsSource) -> None:
        super().__init__(inner.settings_cls)
        self.inner = inner

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        values = self.inner()
        port = values.get("port")
        if isinstance(port, str) and KUBERNETES_SERVICE_LINK_VALUE.match(port):
            values = {key: value for key, value in values.items() if key != "port"}
        return values


# Keyword arguments BaseSettings itself takes (`_env_file`, `_secrets_dir`...): not config keys.
_BASE_SETTINGS_ARGS = frozenset(inspect.signature(BaseSettings.__init__).parameters) - {"values"}


def _field_model(annotation: Any) -> type[BaseModel] | None:
    models = [m for m in _models_in(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    return models[0] if len(models) == 1 else None


def unknown_env_vars(environ: Mapping[str, str]) -> None:
    """Raise naming the first `ASRWATCH_*` variable that is no setting (nor another command's),
    with the closest valid variable. Case-insensitive, as pydantic-settings reads them; nested
    keys (a misspelt ASRWATCH_AUTH__REED) are checked where the field is a model."""
    fields = Settings.model_fields
    for name in sorted(environ):
        upper = name.upper()
        if (not upper.startswith(ENV_PREFIX) or upper in OTHER_ENV_VARS or upper.startswith(OTHER_ENV_PREFIXES)
                or KUBERNETES_SERVICE_VARS.fullmatch(upper)):
            continue
        parts = upper[len(ENV_PREFIX):].lower().split("__")
        field = fields.get(parts[0])
        valid: list[str] = list(fields)
        known = field is not None
        if known and len(parts) > 1:
            model = _field_model(field.annotation)
            if model is not None:
                valid = [f"{parts[0]}__{k}" for k in model_keys(model)]
                known = parts[1] in model_keys(model)
        if not known:
            match = closest("__".join(parts[:2]) if field is not None else parts[0], valid)
            hint = f" (did you mean {ENV_PREFIX + match.upper()}?)" if match else ""
            raise ValueError(f"{name}: unknown environment variable{hint}; asrwatch reads "
                             f"{ENV_PREFIX}<KEY> for each key of asrwatch.yaml")


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
        for key in loaded:  # named with the file, before any value is looked at
            if key not in Settings.model_fields:
                raise ValueError(f"{path}: {unknown_key('', key, Settings.model_fields)}")
        refuse_plain_tokens(loaded, str(path))
        if isinstance(loaded.get("openslo"), (list, str)):  # as Prometheus' rule_files: beside the config
            paths = [loaded["openslo"]] if isinstance(loaded["openslo"], str) else loaded["openslo"]
            loaded["openslo"] = [str(Path(path).parent / p) if isinstance(p, str) else p for p in paths]
        data.update(loaded)
    data.update(overrides)
    return Settings(**data)


def is_loopback(host: str) -> bool:
    return host in {"localhost", "::1"} or host.startswith("127.")
