"""Pydantic v2 schemas of what the API accepts and returns."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

Status = Literal["ok", "partial", "decode_error", "dropped", "timeout"]
Dimension = Annotated[str, StringConstraints(min_length=1, max_length=64)]
NonNegative = Annotated[float, Field(ge=0)]

MAX_TRANSCRIPT_CHARS = 20_000


class SessionIn(BaseModel):
    """One session record, as in DESIGN.md. Unknown fields are rejected so typos surface."""

    model_config = ConfigDict(strict=True, extra="forbid")

    session_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    ts: Annotated[AwareDatetime, Field(strict=False)]
    model_version: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    region: Dimension | None = None
    tenant: Dimension | None = None
    channel: Dimension | None = None
    language: Dimension | None = None
    pool: Dimension | None = None
    audio_seconds: NonNegative | None = None
    first_partial_ms: NonNegative | None = None
    final_latency_ms: NonNegative | None = None
    queue_ms: NonNegative | None = None
    partial_rewrites: Annotated[int, Field(ge=0)] | None = None
    status: Status
    confidence: Annotated[float, Field(ge=0, le=1)] | None = None
    snr_db: Annotated[float, Field(ge=-100, le=200)] | None = None
    gpu_seconds: NonNegative | None = None
    turn_success: bool | None = None
    shadow: bool = False
    retries: Annotated[int, Field(ge=0, le=1000)] = 0
    hypothesis: Annotated[str, StringConstraints(max_length=MAX_TRANSCRIPT_CHARS)] | None = None
    trace_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
    attributes: dict[str, Any] | None = None

    @field_validator(
        "audio_seconds", "first_partial_ms", "final_latency_ms", "queue_ms", "confidence", "snr_db", "gpu_seconds"
    )
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class SampleIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    session_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    reference: Annotated[str, StringConstraints(max_length=MAX_TRANSCRIPT_CHARS)]
    hypothesis: Annotated[str, StringConstraints(max_length=MAX_TRANSCRIPT_CHARS)] | None = None
    source: Literal["human", "probe"] = "human"


class Rejected(BaseModel):
    index: int
    error: str


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[Rejected]


class SampleScore(BaseModel):
    session_id: str
    wer: float
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int
    duplicate: bool = False


class SampleResult(BaseModel):
    results: list[SampleScore]
    rejected: list[Rejected]


def describe_error(error: ValidationError) -> str:
    """'confidence: Input should be less than or equal to 1' — field first, then the reason."""
    parts = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(p) for p in item["loc"]) or "record"
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown field"
        elif item["type"] == "missing":
            msg = "required field is missing"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
