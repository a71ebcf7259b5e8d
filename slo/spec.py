"""SLO specs: parse and validate `settings.slos`, so a bad spec fails with the SLO and field named.

Durations are `<number><unit>` terms (`30d`, `1h30m`, `90s`), units s m h d w.
Settings read here besides `slos`: `slo_min_events` (low-traffic guard default, 10).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from asrwatch.settings import Settings
from collector.store import ROLLUP_DIMENSIONS

SLIKind = Literal[
    "availability", "latency", "first_partial_latency", "queue_latency", "quality", "decode_errors",
    "entity_recall", "hallucination", "diarization", "cache_hit", "fallback",
]
SLI_KINDS: tuple[str, ...] = SLIKind.__args__  # type: ignore[attr-defined]
LATENCY_KINDS = ("latency", "first_partial_latency", "queue_latency")
# Dimensions a filter or group_by may use: the fixed slice dimensions, and the configured ones
# (`dimensions:`), which `parse_slo` passes in the validation context.
DIMENSIONS = ROLLUP_DIMENSIONS


def _dimensions(info: ValidationInfo) -> tuple[str, ...]:
    return (*DIMENSIONS, *((info.context or {}).get("dimensions") or ()))
# Dimensions /metrics always labels in full (collector.api.metrics.LABELS); the others become labels
# only when an SLO uses them, and fold into `__other__` past metrics_label_values_max values.
ALWAYS_LABELLED = ("model_version", "region", "channel")
DEFAULT_MIN_EVENTS = 10
DEFAULT_ALERT_NAME = "SLOErrorBudgetBurn"
DEFAULT_SERVICE = "asrwatch"  # Sloth's `service`: the sloth_service label and the first half of sloth_id
SEVERITIES = ("page", "ticket")
# Labels asrwatch sets itself: spec `labels` may not overwrite them (the slice dimensions would
# clobber the alert's group; alertname, slo, severity and the Sloth identity are routing keys).
RESERVED_LABELS = frozenset({"alertname", "slo", "severity", "le", "status", "sloth_id", "sloth_service",
                             "sloth_slo", "sloth_severity", "sloth_window"})
# Annotations the engines write themselves (the rules' summary and runbook_url; the in-process
# evidence). `description` and `runbook_url` are spec fields of their own.
RESERVED_ANNOTATIONS = frozenset({"summary", "runbook_url", "burn_long", "burn_short",
                                  "error_budget_remaining", "low_traffic"})
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ALERT_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")  # Prometheus: an alert name is a metric name
# The only template both engines render alike: `{{ $labels.<name> }}` (Prometheus renders annotations
# as Go templates; asrwatch substitutes the alert's labels).
_LABEL_TEMPLATE = re.compile(r"\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")

MAX_DURATION_S = 366 * 86400
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TERM = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


class SLOSpecError(ValueError):
    """A spec that cannot be used; the message names the SLO and the field."""


def percent_to_fraction(percent: float) -> float:
    """99.9 -> 0.999 exactly (in floats 99.9 / 100 is 0.9990000000000001): Sloth's and OpenSLO's
    percent objectives read as asrwatch's fractions."""
    return float(Decimal(repr(float(percent))) / 100)


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """`30d`, `1h30m`, `5m` -> timedelta. A number (not a string) is seconds; a string needs units."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        raw = str(text).strip().lower()
        if not raw or _TERM.sub("", raw) != "":
            raise ValueError(f"cannot parse duration {text!r}: use e.g. 5m, 1h, 7d, 28d, 30d")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _TERM.findall(raw))
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    if seconds > MAX_DURATION_S:  # timedelta overflows past ~2.7 million years; nothing needs a year
        raise ValueError(f"duration {text!r} is longer than {MAX_DURATION_S // 86400}d")
    return timedelta(seconds=seconds)


@functools.lru_cache(maxsize=1024)
def format_duration(value: timedelta) -> str:
    """Shortest exact `1d6h` style form (also a valid Prometheus range)."""
    seconds = int(value.total_seconds())
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out) or "0s"


def _check_labels(value: dict[str, str], where: str = "") -> dict[str, str]:
    for key, label in value.items():
        if not _LABEL_NAME.match(key) or key.startswith("__"):
            raise ValueError(f"{where}{key!r} is not a Prometheus label name")
        if key in RESERVED_LABELS or key in DIMENSIONS:
            raise ValueError(f"{where}{key!r} is set by asrwatch (reserved: alertname, slo, severity, the sloth_* "
                             f"labels and the slice dimensions); use another name, e.g. {key}_key")
        if not isinstance(label, str) or not label:
            raise ValueError(f"{where}{key}: a label value must be a non-empty string")
    return value


def _check_annotations(value: dict[str, str], where: str = "") -> dict[str, str]:
    for key, text in value.items():
        if not _LABEL_NAME.match(key):
            raise ValueError(f"{where}{key!r} is not a Prometheus annotation name")
        if key in RESERVED_ANNOTATIONS:
            raise ValueError(f"{where}{key!r} is written by asrwatch (use the SLO's description or runbook_url)")
        if "{{" in _LABEL_TEMPLATE.sub("", text) or "}}" in _LABEL_TEMPLATE.sub("", text):
            raise ValueError(f"{where}{key}: the only template allowed is {{{{ $labels.<name> }}}}, "
                             "so Prometheus and asrwatch render it alike")
    return value


def render_annotation(text: str, labels: dict[str, str]) -> str:
    """`{{ $labels.x }}` replaced by the alert's label x (empty when it has none), as Prometheus does."""
    return _LABEL_TEMPLATE.sub(lambda m: labels.get(m.group(1), ""), text)


class TierAlert(BaseModel):
    """Sloth's `page_alert` / `ticket_alert`, plus an alert name of the tier's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, pattern=_ALERT_NAME.pattern)
    disable: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    _labels = field_validator("labels")(classmethod(lambda cls, v: _check_labels(v)))
    _annotations = field_validator("annotations")(classmethod(lambda cls, v: _check_annotations(v)))


class Alerting(BaseModel):
    """Sloth's `alerting` block: the alert name, labels and annotations of both tiers, then
    per tier (`page_alert`, `ticket_alert`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, pattern=_ALERT_NAME.pattern)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    page_alert: TierAlert = Field(default_factory=TierAlert)
    ticket_alert: TierAlert = Field(default_factory=TierAlert)

    _labels = field_validator("labels")(classmethod(lambda cls, v: _check_labels(v)))
    _annotations = field_validator("annotations")(classmethod(lambda cls, v: _check_annotations(v)))


class SLOSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    sli: SLIKind
    objective: float
    window: timedelta = timedelta(days=30)
    threshold_ms: float | None = None
    max_wer: float | None = None
    max_der: float | None = None  # diarization: good = session DER at or under
    filters: dict[str, str | list[str]] = Field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    min_events: int | None = Field(default=None, ge=0)
    description: str = ""
    runbook_url: str | None = None
    service: str = Field(default=DEFAULT_SERVICE, min_length=1, max_length=128)
    labels: dict[str, str] = Field(default_factory=dict)  # on every recording and alert of this SLO
    annotations: dict[str, str] = Field(default_factory=dict)  # on its alerts
    alerting: Alerting = Field(default_factory=Alerting)

    @field_validator("objective", mode="before")
    @classmethod
    def _objective_fraction_or_percent(cls, value: Any) -> Any:
        # Sloth writes objectives in percent (99.9); asrwatch in fractions (0.999). Both are
        # unambiguous except 1 (100% of nothing, or 1%?), which is refused like 100.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return value
        if 0.0 < value < 1.0:
            return float(value)
        if 1.0 < value < 100.0:
            return percent_to_fraction(value)
        raise ValueError(f"must be a fraction strictly between 0 and 1 (0.999) or a percent strictly "
                         f"between 1 and 100 (99.9), got {value}")

    _labels = field_validator("labels")(classmethod(lambda cls, v: _check_labels(v)))
    _annotations = field_validator("annotations")(classmethod(lambda cls, v: _check_annotations(v)))

    @field_validator("window", mode="before")
    @classmethod
    def _parse_window(cls, value: Any) -> timedelta:
        window = parse_duration(value)
        if window.total_seconds() % 60:
            raise ValueError(f"must be a whole number of minutes, got {value!r}")
        return window

    @field_validator("filters")
    @classmethod
    def _known_filter_dimensions(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        known = _dimensions(info)
        for key, wanted in value.items():
            if key not in known:
                raise ValueError(f"unknown dimension {key!r} (use one of {', '.join(known)})")
            if isinstance(wanted, list) and not wanted:
                raise ValueError(f"{key}: an empty list matches nothing")
        return value

    @field_validator("group_by", mode="before")
    @classmethod
    def _known_group_dimensions(cls, value: Any, info: ValidationInfo) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if value is not None and not isinstance(value, (list, tuple)):  # tuple(5) would be a TypeError
            raise ValueError(f"must be a list of dimensions, got {type(value).__name__}")
        value = tuple(value or ())
        known = _dimensions(info)
        for key in value:
            if key not in known:
                raise ValueError(f"unknown dimension {key!r} (use one of {', '.join(known)})")
        if len(set(value)) != len(value):
            raise ValueError("a dimension is listed twice")
        return value

    @model_validator(mode="after")
    def _sli_parameters(self) -> "SLOSpec":
        if self.sli in LATENCY_KINDS:
            if self.threshold_ms is None or not self.threshold_ms > 0:
                raise ValueError(f"threshold_ms: required and > 0 for sli {self.sli}")
        elif self.threshold_ms is not None:
            raise ValueError(f"threshold_ms: only latency SLIs take it, not {self.sli}")
        if self.sli == "quality":
            if self.max_wer is None or not self.max_wer >= 0:
                raise ValueError("max_wer: required and >= 0 for sli quality")
        elif self.max_wer is not None:
            raise ValueError(f"max_wer: only the quality SLI takes it, not {self.sli}")
        if self.sli == "diarization":
            if self.max_der is None or not math.isfinite(self.max_der) or not self.max_der >= 0:
                raise ValueError("max_der: required, finite and >= 0 for sli diarization")
        elif self.max_der is not None:
            raise ValueError(f"max_der: only the diarization SLI takes it, not {self.sli}")
        return self

    @property
    def window_minutes(self) -> int:
        return int(self.window.total_seconds() // 60)

    def filter_values(self) -> dict[str, list[str]]:
        return {k: (list(v) if isinstance(v, list) else [v]) for k, v in self.filters.items()}

    @property
    def objective_percent(self) -> str:
        """The objective as Sloth writes it (`99.9`), for `sloth_slo_info{sloth_objective}`."""
        return format(Decimal(repr(self.objective)) * 100, "f").rstrip("0").rstrip(".")

    def sloth_labels(self) -> dict[str, str]:
        """Sloth's identity labels (its dashboards select on them): id = service-name, as Sloth."""
        return {"sloth_id": f"{self.service}-{self.name}", "sloth_service": self.service, "sloth_slo": self.name}

    @property
    def sloth_style(self) -> bool:
        """The spec names its `service`, as every Sloth spec does: its alerts carry Sloth's labels."""
        return "service" in self.model_fields_set

    def _tier(self, severity: str) -> TierAlert:
        return self.alerting.page_alert if severity == "page" else self.alerting.ticket_alert

    def alert_enabled(self, severity: str) -> bool:
        return not self._tier(severity).disable

    def alert_name(self, severity: str) -> str:
        """The tier's own name, else `alerting.name`, else SLOErrorBudgetBurn."""
        return self._tier(severity).name or self.alerting.name or DEFAULT_ALERT_NAME

    def alert_labels(self, severity: str) -> dict[str, str]:
        """Labels this SLO adds to its `severity` alerts (in both engines): `labels`, then
        `alerting.labels`, then the tier's; for a Sloth-style spec also the labels Sloth's alerts
        carry: the identity inherited from its recordings and `sloth_severity` page|ticket (slok/sloth
        internal/prometheus/alert_rules.go, defaultSLOAlertGenerator), so Alertmanager routes and
        inhibit rules and dashboards written for Sloth (`ALERTS{sloth_severity="page"}`) work."""
        sloth = {**self.sloth_labels(), "sloth_severity": severity} if self.sloth_style else {}
        return {**self.labels, **self.alerting.labels, **self._tier(severity).labels, **sloth}

    def alert_annotations(self, severity: str) -> dict[str, str]:
        return {**self.annotations, **self.alerting.annotations, **self._tier(severity).annotations}


def _describe(error: ValidationError, name: str) -> str:
    parts = []
    for item in error.errors():
        # No loc: a rule across fields (its message names them); an empty key is shown as ''.
        loc = ".".join(str(p) for p in item["loc"]) or ("''" if item["loc"] else "spec")
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown field"
        elif item["type"] == "literal_error" and item["loc"][:1] == ("sli",):
            msg = f"unknown SLI {item.get('input')!r} (use one of {', '.join(SLI_KINDS)})"
        parts.append(f"{loc}: {msg}")
    return f"SLO {name!r}: " + "; ".join(parts)


def parse_slo(raw: dict[str, Any], index: int | None = None, dimensions: Sequence[str] = ()) -> SLOSpec:
    """One raw spec -> SLOSpec, or SLOSpecError naming the SLO and field. `dimensions`: the
    configured ones (`Settings.dimensions`), which filters and group_by may use too."""
    label = raw.get("name") if isinstance(raw, dict) else None
    name = str(label) if label else f"slos[{index}]" if index is not None else "<unnamed>"
    if not isinstance(raw, dict):
        raise SLOSpecError(f"SLO {name!r}: must be a mapping, got {type(raw).__name__}")
    try:
        return SLOSpec.model_validate(raw, context={"dimensions": tuple(dimensions)})
    except ValidationError as exc:
        raise SLOSpecError(_describe(exc, name)) from None
    except ValueError as exc:  # raised by a validator outside pydantic's wrapping
        raise SLOSpecError(f"SLO {name!r}: {exc}") from None


def parse_slos(raws: list[dict[str, Any]], dimensions: Sequence[str] = ()) -> list[SLOSpec]:
    """All specs; every bad one is reported, not just the first."""
    specs, errors = [], []
    for i, raw in enumerate(raws or []):
        try:
            specs.append(parse_slo(raw, i, dimensions))
        except SLOSpecError as exc:
            errors.append(str(exc))
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            errors.append(f"SLO {spec.name!r}: name: used by more than one SLO")
        seen.add(spec.name)
    if errors:
        raise SLOSpecError("\n".join(errors))
    return specs


def slos_from_settings(settings: Settings) -> list[SLOSpec]:
    """`slos:` and the SLOs of the OpenSLO files in `openslo:`; a name may be used once across both."""
    specs = parse_slos(list(settings.slos), settings.dimensions)
    paths = list(settings.openslo)
    if not paths:
        return specs
    from slo.openslo import openslo_for_settings  # imports this module

    taken = {spec.name for spec in specs}
    imported = openslo_for_settings(settings, paths)
    clashes = [f"SLO {spec.name!r}: name: used by more than one SLO (slos: and openslo:)"
               for spec in imported if spec.name in taken]
    if clashes:
        raise SLOSpecError("\n".join(clashes))
    return specs + imported


def min_events_for(spec: SLOSpec, settings: Settings | None = None) -> int:
    """Low-traffic guard: the per-SLO value, else `slo_min_events` from settings, else 10."""
    if spec.min_events is not None:
        return spec.min_events
    return int(settings.slo_min_events or DEFAULT_MIN_EVENTS) if settings else DEFAULT_MIN_EVENTS


# Histograms the collector's /metrics must expose with these values as `le` edges, so the
# exported Prometheus rules can count "good" exactly.
HISTOGRAM_FOR_SLI = {
    "latency": "asrwatch_final_latency_ms",
    "first_partial_latency": "asrwatch_first_partial_ms",
    "queue_latency": "asrwatch_queue_ms",
    "quality": "asrwatch_utterance_wer",
    "diarization": "asrwatch_session_der",
}


# SLIs whose good and total events are two /metrics counters: (good, total).
COUNTERS_FOR_SLI = {
    "entity_recall": ("asrwatch_entities_found_total", "asrwatch_entity_occurrences_total"),
    "cache_hit": ("asrwatch_cache_hits_total", "asrwatch_cache_lookups_total"),
}
# SLIs whose bad and total events are two /metrics counters: (bad, total).
BAD_COUNTERS_FOR_SLI = {
    "hallucination": ("asrwatch_hallucination_flagged_total", "asrwatch_hallucination_checked_total"),
    "fallback": ("asrwatch_fallback_sessions_total", "asrwatch_backend_sessions_total"),
}


@dataclass(frozen=True)
class MetricsNeeds:
    """What /metrics must expose so that the exported rules can count every SLO's events."""

    latency_thresholds: dict[str, list[float]]  # SLI kind -> thresholds in ms: `le` edges of its histogram
    max_wers: list[float]  # the quality SLOs' max_wer: `le` edges of asrwatch_utterance_wer
    dimensions: list[str]  # filtered or grouped on besides model_version, region, channel: labels too
    pinned: dict[str, set[str]]  # per dimension, the values filters name: kept whatever the budget
    max_ders: list[float] = field(default_factory=list)  # diarization SLOs' max_der: `le` edges of asrwatch_session_der


def metrics_needs(specs: list[SLOSpec]) -> MetricsNeeds:
    """From the parsed SLOs (`slos_from_settings`: `slos:` and `openslo:` alike)."""
    thresholds: dict[str, set[float]] = {kind: set() for kind in LATENCY_KINDS}
    dims: dict[str, None] = {}
    pinned: dict[str, set[str]] = {}
    for spec in specs:
        if spec.sli in LATENCY_KINDS:
            thresholds[spec.sli].add(float(spec.threshold_ms))  # type: ignore[arg-type]
        for dim in (*spec.filters, *spec.group_by):
            if dim not in ALWAYS_LABELLED:
                dims[dim] = None
        for dim, values in spec.filter_values().items():
            pinned.setdefault(dim, set()).update(values)
    return MetricsNeeds(
        latency_thresholds={k: sorted(v) for k, v in thresholds.items()},
        max_wers=sorted({float(s.max_wer) for s in specs if s.sli == "quality"}),  # type: ignore[arg-type]
        dimensions=[*(d for d in DIMENSIONS if d in dims), *(d for d in dims if d not in DIMENSIONS)],  # configured last
        pinned=pinned,
        max_ders=sorted({float(s.max_der) for s in specs if s.sli == "diarization"}),  # type: ignore[arg-type]
    )
