"""Drift scan settings (`drift:` in asrwatch.yaml) and the reference/current windows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from asrwatch.settings import Settings, validation_problems
from collector.store import ROLLUP_DIMENSIONS
from drift.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, SLICE_DIMENSIONS


class DriftConfig(BaseModel):
    """Every threshold of the scan. Defaults follow Evidently where it has one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Bounded so that `at` minus the windows stays a valid datetime (no overflow, no 500).
    current_hours: float = Field(24.0, gt=0, le=24 * 366)
    reference_days: float = Field(7.0, gt=0, le=3660)
    # Slices: any fixed dimension, or one the config's `dimensions:` names (`from_settings` passes
    # those in; they are the default's tail when this is not set).
    dimensions: tuple[str, ...] = SLICE_DIMENSIONS
    pairs: bool = True
    min_reference: int = Field(200, ge=2)  # below: "insufficient data", not a verdict
    min_current: int = Field(100, ge=2)
    alpha: float = Field(0.05, gt=0, lt=1)  # false discovery rate (Benjamini-Hochberg)
    numeric_floor: float = Field(0.1, gt=0)  # normalized Wasserstein (Evidently's threshold)
    categorical_floor: float = Field(0.1, gt=0)  # Jensen-Shannon distance (Evidently's threshold)
    explained_ratio: float = Field(1.5, ge=1)  # a slice no worse than this x its parent is the parent's
    examples: int = Field(5, ge=0)
    chart_bins: int = Field(20, ge=2)
    wer_min_utterances: int = Field(50, ge=2)
    wer_relative_floor: float = Field(0.10, gt=0)
    wer_absolute_floor: float = Field(0.01, ge=0)
    wer_page_relative: float = Field(0.5, gt=0)  # fleet-wide, lower bound of the interval
    bootstrap_rounds: int = Field(500, ge=50)
    trend_weeks: int = Field(8, ge=1)
    calibration_days: float = Field(30.0, gt=0, le=3660)
    label_max_age_days: float = Field(7.0, gt=0)
    min_labeled: int = Field(50, ge=2)
    label_free_rounds: int = Field(100, ge=10)
    # Calibration health (drift.calibration_health): the label-free WER estimate is withheld
    # when its calibration, on `min_labeled` or more labelled utterances, is shown at 95% to have
    # a reliability slope outside [calibration_slope_min, calibration_slope_max] (its interval
    # entirely outside), an |intercept| (mean correctness minus mean prediction, in word
    # accuracy) over calibration_max_intercept (its interval entirely beyond), or an ECE over
    # calibration_bins equal-width bins above calibration_max_ece beyond its sampling noise.
    calibration_slope_min: float = Field(0.8, gt=0, lt=1)
    calibration_slope_max: float = Field(1.2, gt=1)
    calibration_max_intercept: float = Field(0.03, gt=0, lt=1)
    calibration_max_ece: float = Field(0.05, gt=0, lt=1)
    calibration_bins: int = Field(10, ge=2, le=100)
    # ... and withheld when this share of the traffic's words (or, with few labels, the larger
    # share the labels' own distribution can show outside their range) has confidence outside the
    # range the labels cover (it would extrapolate), or when one of these features drifts at ticket
    # level for the version (errors at a given confidence need not stay as labelled). A shift of
    # confidence inside the labelled range is what the estimate models: a warning only.
    label_free_max_out_of_range: float = Field(0.05, ge=0, le=1)
    label_free_max_shift: float = Field(0.1, gt=0)
    label_free_drift_features: tuple[str, ...] = ("snr_db", "channel", "language")
    vocabulary_min_count: int = Field(5, ge=1)
    vocabulary_min_sessions: int = Field(3, ge=1)
    vocabulary_min_labeled: int = Field(3, ge=1)
    max_hypotheses: int = Field(50_000, ge=0)  # per window, a deterministic sample for vocabulary
    teams: dict[str, str] = Field(default_factory=dict)  # model_version -> owning team
    interval_s: float = Field(3600.0, ge=0)  # the server's scan-and-route period; 0 turns it off
    seed: int = 0

    @field_validator("label_free_drift_features")
    @classmethod
    def _known_features(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = NUMERIC_FEATURES + CATEGORICAL_FEATURES
        unknown = [f for f in value if f not in known]
        if unknown:
            raise ValueError(f"unknown drift feature(s) {unknown}; known: {list(known)}")
        return value

    @field_validator("dimensions")
    @classmethod
    def _known_dimensions(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        # Without a context (built in code, not from settings) only the fixed ones are known.
        known = (*ROLLUP_DIMENSIONS, *((info.context or {}).get("dimensions") or ()))
        unknown = [d for d in value if d not in known]
        if unknown:
            raise ValueError(f"unknown dimension(s) {unknown}; known: {list(known)}")
        if len(set(value)) != len(value):
            raise ValueError(f"a dimension is listed twice: {list(value)}")
        return value

    @classmethod
    def from_settings(cls, settings: Settings | Mapping[str, Any], **overrides: Any) -> "DriftConfig":
        raw = settings.get("drift") if isinstance(settings, Mapping) else settings.drift
        configured = _configured(settings.get("dimensions") if isinstance(settings, Mapping) else settings.dimensions)
        data = dict(raw or {})
        data.update({k: v for k, v in overrides.items() if v is not None})
        if configured and "dimensions" not in data:  # a configured dimension is sliced by unless told otherwise
            data["dimensions"] = SLICE_DIMENSIONS + configured
        try:
            return cls.model_validate(data, context={"dimensions": configured})
        except ValidationError as exc:  # an unknown key is named with the closest valid one
            raise ValueError("invalid drift config: " + "; ".join(validation_problems(exc, cls, "drift"))) from None


def _configured(names: Sequence[str] | None) -> tuple[str, ...]:
    """The config's custom dimension names (a bare mapping's may be anything: kept only if a list)."""
    return tuple(names) if isinstance(names, (list, tuple)) else ()


@dataclass(frozen=True)
class Windows:
    """Reference [reference_start, current_start) and current [current_start, at)."""

    at: datetime
    current_start: datetime
    reference_start: datetime

    @classmethod
    def ending_at(cls, at: datetime, config: DriftConfig) -> "Windows":
        if at.tzinfo is None:
            raise ValueError("at: must be timezone-aware")
        current_start = at - timedelta(hours=config.current_hours)
        return cls(at, current_start, current_start - timedelta(days=config.reference_days))

    def to_dict(self) -> dict[str, str]:
        return {
            "reference_start": self.reference_start.isoformat(),
            "reference_end": self.current_start.isoformat(),
            "current_start": self.current_start.isoformat(),
            "current_end": self.at.isoformat(),
        }
