"""Pydantic v2 schemas of what the API accepts and returns."""

from __future__ import annotations

from collections.abc import Callable
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from typing_extensions import NotRequired, TypedDict

from collector.measures import diarization
from collector.store.clock import EARLIEST, LATEST

MAX_TRANSCRIPT_CHARS = 20_000
# Large enough for any real duration or latency, small enough that sums over billions of
# sessions stay finite (a 1e308 would turn a whole group's rollup into infinity).
MAX_MEASURE = 1e9
MAX_PARTIAL_REWRITES = 100_000  # rollups sum these in 32-bit integer columns


# PostgreSQL text cannot hold NUL: without this check the whole batch failed as a "database
# unavailable" 503 that senders retried forever. Constraints, not Python validators, so that
# pydantic checks them in its compiled core (ingest validates every field of every record).
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=NO_NUL)]
Status = Literal["ok", "partial", "decode_error", "dropped", "timeout"]
# Which path served a session, for fleets that mix self-hosted ASR with a paid API: `api` is the
# fallback (the circuit breaker sends traffic there when the self-hosted path fails).
Backend = Literal["self_hosted", "api"]
BACKENDS: tuple[str, ...] = Backend.__args__  # type: ignore[attr-defined]
FALLBACK_BACKEND = "api"
MAX_CONCURRENT_STREAMS = 100_000  # streams one node serves at once: far above any GPU's
Dimension = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
NonNegative = Annotated[float, Field(ge=0, le=MAX_MEASURE, allow_inf_nan=False)]


def _storable_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        dumped = orjson.dumps(value)
    except TypeError as exc:  # integers past 64 bits, nesting past 254 levels
        raise ValueError(f"cannot be stored as JSON: {exc}") from None
    # PostgreSQL's json refuses \u0000 (its text cannot hold NUL): the whole batch failed there
    # while SQLite stored it. orjson writes NUL as \u0000, so only such values are walked.
    if b"\\u0000" in dumped and _holds_nul(value):
        raise ValueError("must not contain NUL (\\u0000) characters, in a key or a string")
    return value


def _known_attributes(value: dict[str, Any]) -> dict[str, Any]:
    """Attributes asrwatch reads itself must hold what it reads: `no_speech_prob` (the audio's
    probability of holding no speech, as Whisper reports it) a number from 0 to 1; the
    hallucination check (`collector.measures.hallucination`) reads it."""
    if "no_speech_prob" in value:
        prob = value["no_speech_prob"]
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
            # The value itself is not echoed: attributes carry the caller's details.
            raise ValueError("no_speech_prob: must be a number from 0 to 1")
    return value


def _holds_nul(node: Any) -> bool:
    if isinstance(node, str):
        return "\x00" in node
    if isinstance(node, dict):
        return any("\x00" in key or _holds_nul(item) for key, item in node.items())
    if isinstance(node, list):
        return any(_holds_nul(item) for item in node)
    return False


class SessionIn(BaseModel):
    """One session record, as in DESIGN.md. Unknown fields are rejected so typos surface."""

    model_config = ConfigDict(strict=True, extra="forbid")

    session_id: Annotated[Text, StringConstraints(min_length=1, max_length=128)]
    # Query windows take times in the same range; outside it, reaching back a window overflows.
    ts: Annotated[AwareDatetime, Field(strict=False, ge=EARLIEST, lt=LATEST)]
    model_version: Annotated[Text, StringConstraints(min_length=1, max_length=128)]
    region: Dimension | None = None
    tenant: Dimension | None = None
    channel: Dimension | None = None
    language: Dimension | None = None
    pool: Dimension | None = None
    audio_seconds: NonNegative | None = None
    first_partial_ms: NonNegative | None = None
    final_latency_ms: NonNegative | None = None
    queue_ms: NonNegative | None = None
    partial_rewrites: Annotated[int, Field(ge=0, le=MAX_PARTIAL_REWRITES)] | None = None
    status: Status
    confidence: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    snr_db: Annotated[float, Field(ge=-100, le=200, allow_inf_nan=False)] | None = None
    gpu_seconds: NonNegative | None = None
    turn_success: bool | None = None
    shadow: bool = False
    retries: Annotated[int, Field(ge=0, le=1000)] = 0
    hypothesis: Annotated[Text, StringConstraints(max_length=MAX_TRANSCRIPT_CHARS)] | None = None
    trace_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
    cache_hit: bool | None = None
    backend: Backend | None = None
    node: Dimension | None = None
    concurrent_streams: Annotated[int, Field(ge=0, le=MAX_CONCURRENT_STREAMS)] | None = None
    gpu_utilization: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    attributes: Annotated[dict[str, Any], AfterValidator(_storable_json), AfterValidator(_known_attributes)] | None = None


def _fields_as_typed_dict(model: type[BaseModel], name: str | None = None,
                          annotation_of: Callable[[Any], Any] = lambda annotation: annotation) -> type:
    """A TypedDict with the model's fields, types, constraints and config. Ingest validates a
    clean batch with it, straight into plain dicts: no model instance (nor its fields-set) per
    record. Rejections are still described by the model, which checks exactly the same.
    `annotation_of` may change each field's annotation (`_without_batch_checks`)."""
    fields = {field: annotation_of(info.rebuild_annotation()) if info.is_required()
              else NotRequired[annotation_of(info.rebuild_annotation())]
              for field, info in model.model_fields.items()}
    typed = TypedDict(name or f"{model.__name__}Fields", fields)  # type: ignore[misc]
    typed.__pydantic_config__ = model.model_config  # type: ignore[attr-defined]
    return typed


SessionFields = _fields_as_typed_dict(SessionIn)


def _without_batch_checks(annotation: Any) -> Any:
    """`annotation` less the checks `sessions_without_nul` makes for a whole batch at once: the
    NUL pattern of every text and the two validators of `attributes`."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        kept = [m for m in metadata if m != _NO_NUL_CONSTRAINT
                and not (isinstance(m, AfterValidator) and m.func in (_storable_json, _known_attributes))]
        base = _without_batch_checks(base)
        return Annotated[(base, *kept)] if kept else base
    if get_origin(annotation) in (Union, UnionType):
        return Union[tuple(_without_batch_checks(a) for a in get_args(annotation))]
    return annotation


_NO_NUL_CONSTRAINT = StringConstraints(pattern=NO_NUL)
# SessionFields for a JSON body in which no string can hold NUL (`sessions_without_nul`): ingest
# validates a clean batch with it, then makes the checks it leaves out once for the batch, where
# per record they cost about a fifth of validation. Everything else is checked as in SessionIn.
SessionFieldsNoNul = _fields_as_typed_dict(SessionIn, "SessionFieldsNoNul", _without_batch_checks)
_NO_NUL_SESSIONS = TypeAdapter(list[SessionFieldsNoNul])


def sessions_without_nul(body: bytes) -> list[dict[str, Any]] | None:
    """A JSON array of sessions as `list[SessionFields]` validates it, when it holds no NUL, or
    None: then validate it that way, which names each rejection. Validated as
    `SessionFieldsNoNul`, then the checks that type leaves out made once for the batch: a body
    without `\\u0000` (JSON's only way to write NUL; a raw one is not JSON) has no NUL in any
    string; every `attributes` must be storable as JSON (`_storable_json`) and pass
    `_known_attributes`. Raises ValidationError when that type refuses the batch: the full one,
    stricter, refuses it too."""
    if b"\x00" in body or (b"\\" in body and b"\\u0000" in body):  # memchr first: most bodies escape nothing
        return None
    records = _NO_NUL_SESSIONS.validate_json(body)
    attributes = [r.get("attributes") for r in records]
    try:
        orjson.dumps(attributes)
        for value in attributes:
            if value and "no_speech_prob" in value:
                _known_attributes(value)
    except (TypeError, ValueError):
        return None
    return records


# What the model fills in for a field left out, which the TypedDict leaves out.
SESSION_DEFAULTS = {name: info.default for name, info in SessionIn.model_fields.items() if not info.is_required()}


# Speaker labels are the sender's own strings: bounded, printable (no C0/C1 control characters),
# and replaced by anonymous ids before scoring and storage (`collector.measures.diarization`).
SPEAKER_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
Seconds = Annotated[float, Field(ge=0, le=diarization.MAX_SECONDS, allow_inf_nan=False)]


class SpeakerSegment(BaseModel):
    """One speaker turn of a diarization, in seconds from the session's start."""

    model_config = ConfigDict(strict=True, extra="forbid")

    speaker: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=SPEAKER_PATTERN)]
    start: Seconds
    end: Seconds

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: float, info: ValidationInfo) -> float:
        start = info.data.get("start")
        if start is not None and not end > start:
            raise ValueError(f"must be greater than start ({start})")
        return end


Segments = Annotated[list[SpeakerSegment], Field(max_length=diarization.MAX_SEGMENTS)]


MAX_SAMPLE_ENTITIES = 100
EntityTerm = Annotated[Text, StringConstraints(min_length=1, max_length=200)]


class SampleIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    session_id: Annotated[Text, StringConstraints(min_length=1, max_length=128)]
    reference: Annotated[Text, StringConstraints(max_length=MAX_TRANSCRIPT_CHARS)]
    hypothesis: Annotated[Text, StringConstraints(max_length=MAX_TRANSCRIPT_CHARS)] | None = None
    source: Literal["human", "probe"] = "human"
    # Entity terms of this sample, scored besides its session's domain list (Settings.entities).
    entities: Annotated[list[EntityTerm], Field(max_length=MAX_SAMPLE_ENTITIES)] | None = None
    # Diarization (both or neither): scored for DER at ingest, stored with anonymous speakers.
    reference_segments: Segments | None = None
    hypothesis_segments: Segments | None = None


class Rejected(BaseModel):
    index: int
    error: str


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[Rejected]


class DiarizationScore(BaseModel):
    """A sample's DER and its components in seconds (pyannote.metrics), and its speaker counts."""

    der: float
    missed_s: float
    false_alarm_s: float
    confusion_s: float
    speech_s: float
    ref_speakers: int
    hyp_speakers: int
    speaker_count_error: int


class SampleScore(BaseModel):
    session_id: str
    wer: float
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int
    cer: float = 0.0
    char_errors: int = 0
    ref_chars: int = 0
    entity_occurrences: int = 0
    entities_found: int = 0
    diarization: DiarizationScore | None = None  # samples with segments
    duplicate: bool = False


class SampleResult(BaseModel):
    results: list[SampleScore]
    rejected: list[Rejected]


class ErrorOut(BaseModel):
    """Every error body: a message that names the field, or FastAPI's list of validation
    errors (each with `loc` naming the field)."""

    detail: str | list[dict[str, Any]]


_ERROR_DESCRIPTIONS = {
    400: "malformed body (not JSON, NDJSON or OTLP)",
    401: "missing or invalid bearer token",
    403: "the token lacks the scope",
    404: "not found",
    409: "conflicts with the current state",
    413: "body over max_body_bytes",
    422: "invalid parameter or body; the detail names the field",
    429: "over the token's rate limit; retry after Retry-After seconds",
    503: "database unavailable (or read-only); retry after Retry-After seconds",
    507: "storage full; retry after Retry-After seconds once space is freed",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the error statuses a route or router returns, so clients
    (and schemathesis) see every status and body shape the API can answer with."""
    return {code: {"model": ErrorOut, "description": _ERROR_DESCRIPTIONS[code]} for code in codes}


# What every token-protected API route may answer besides its own success.
API_ERRORS = error_responses(401, 403, 422, 429, 503)


def describe_error(error: ValidationError) -> str:
    """'confidence: Input should be less than or equal to 1' — field first, then the reason."""
    parts = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(p) for p in item["loc"]) or "record"
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown field"
        elif item["type"] == "string_pattern_mismatch" and item.get("ctx", {}).get("pattern") == NO_NUL:
            msg = "must not contain NUL (\\u0000) characters"
        elif item["type"] == "string_pattern_mismatch" and item.get("ctx", {}).get("pattern") == SPEAKER_PATTERN:
            msg = "must not contain control characters"
        elif item["type"] == "missing":
            msg = "required field is missing"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
