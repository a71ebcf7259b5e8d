"""Ingest: sessions (JSON array or NDJSON), labeled samples, OTLP/HTTP traces."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from collections.abc import Iterable
from typing import Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter, ValidationError

from asrwatch.services import services_of
from collector.api import otlp
from collector.api.body import parse_records, read_body
from collector.api.dependencies import require_ingest
from collector.store import (
    API_ERRORS,
    DiarizationScore,
    ErrorOut,
    IngestResult,
    Rejected,
    SampleIn,
    SampleResult,
    SampleScore,
    SessionFields,
    SessionIn,
    attribute_problem,
    attribute_problems,
    describe_error,
    dimensions_of,
    error_responses,
    ingest_turn,
    score_and_store_samples,
    sessions_without_nul,
    store_sessions,
    store_stages,
    write_transaction,
)

router = APIRouter()


def _array_body(model: type) -> dict[str, Any]:
    # Inlined: the body is read by hand (JSON or NDJSON), so FastAPI never adds the model to
    # components and a $ref to it would dangle.
    schema = {"type": "array", "items": _inlined(model.model_json_schema())}
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": schema},
        "application/x-ndjson": {"schema": {"type": "string"}},
    }}}


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its nested models (`$defs`, e.g. SampleIn's SpeakerSegment) written in place:
    a `#/$defs/...` reference would resolve against the OpenAPI document, which has no `$defs`."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


_UNSUPPORTED_ENCODING = {415: {"model": ErrorOut, "description": "a Content-Encoding other than gzip, deflate "
                                                                  "or identity; the detail names the header"}}


def _ingest_errors(result: type, what: str) -> dict[int | str, dict[str, Any]]:
    # 422 carries the per-record result when records were parsed but none was valid, and a
    # plain detail when there was nothing to parse (an empty body).
    return {**API_ERRORS, **error_responses(400, 413, 507), **_UNSUPPORTED_ENCODING,
            422: {"model": result | ErrorOut, "description": f"no valid {what}: each is named in `rejected`"}}


# A clean batch is validated in one call. Sessions go into plain dicts (`SessionFields`), not a
# model instance each: a sender posts thousands a second.
_BATCH_ADAPTERS = {SessionIn: TypeAdapter(list[SessionFields]), SampleIn: TypeAdapter(list[SampleIn])}


def _validate(items: list[tuple[int, Any]], model: type) -> tuple[list[tuple[int, Any]], list[Rejected]]:
    # Fast path: one validation call for a clean batch; on any error fall back to one call per
    # record so that each rejection names its index and field.
    try:
        if not any(isinstance(item, Exception) for _, item in items):
            records = _BATCH_ADAPTERS[model].validate_python([item for _, item in items])
            return [(index, record) for (index, _), record in zip(items, records)], []
    except ValidationError:
        pass
    valid, rejected = [], []
    for index, item in items:
        if isinstance(item, Exception):
            rejected.append(Rejected(index=index, error=str(item)))
            continue
        if not isinstance(item, dict):
            rejected.append(Rejected(index=index, error=f"record: expected an object, got {type(item).__name__}"))
            continue
        try:
            valid.append((index, model.model_validate(item)))
        except ValidationError as exc:
            rejected.append(Rejected(index=index, error=describe_error(exc)))
    return valid, rejected


def _records(body: bytes, content_type: str, model: type) -> tuple[list[tuple[int, Any]], list[Rejected]]:
    # Fastest path: a clean JSON array validates straight from the bytes, with no Python
    # objects in between; anything else is parsed first so each rejection names its record.
    if "ndjson" not in content_type and body.lstrip()[:1] == b"[":
        if model is SessionIn:
            try:
                records = sessions_without_nul(body)
            except ValidationError:  # refused by the full schema too: straight to record by record
                return _validate(parse_records(body, content_type), model)
            if records and not any(_non_finite(r.get("attributes")) for r in records):
                return list(enumerate(records)), []
        try:
            records = _BATCH_ADAPTERS[model].validate_json(body)
            # pydantic's JSON parser takes NaN, Infinity and 1e400 (as inf), which only the
            # free-form `attributes` could then hold: such a batch goes the strict way, where
            # the record holding one is rejected by its index and its neighbours are stored.
            if records and not any(_non_finite(r.get("attributes")) for r in records if isinstance(r, dict)):
                return list(enumerate(records)), []
        except ValidationError:
            pass
    return _validate(parse_records(body, content_type), model)


def _dimension_values(valid: list[tuple[int, Any]], rejected: list[Rejected], names: Iterable[str]
                      ) -> tuple[list[tuple[int, Any]], list[Rejected]]:
    """Records whose configured dimensions (`dimensions:`, in `attributes`) have values a slice can
    take; the others rejected by index, naming `attributes.<name>`."""
    names = list(names)
    if not names:
        return valid, rejected
    problems = attribute_problems(
        [record.attributes if isinstance(record, SessionIn) else record.get("attributes") for _, record in valid], names)
    kept = [item for i, item in enumerate(valid) if i not in problems]
    refused = [Rejected(index=valid[i][0], error=problem) for i, problem in problems.items()]
    return kept, sorted(rejected + refused, key=lambda r: r.index)


def _non_finite(node: Any) -> bool:
    # Every record's attributes are walked: strings and whole numbers, nearly all of them, are
    # passed over by their type alone.
    kind = type(node)
    if kind is float:
        return not math.isfinite(node)
    if kind is dict:
        node = node.values()
    elif kind is not list:
        return False
    for item in node:
        if type(item) in _SKIPPED:
            continue
        if _non_finite(item):
            return True
    return False


_SKIPPED = frozenset({str, int, bool, type(None)})


async def _count_queued(metrics) -> None:  # a coroutine: run on the event loop, no thread hop
    metrics.count_queued()


def _now() -> datetime:
    return datetime.now(timezone.utc)


@router.post("/api/v1/sessions", response_model=IngestResult, dependencies=[Depends(require_ingest)],
             openapi_extra=_array_body(SessionIn), tags=["ingest"],
             responses=_ingest_errors(IngestResult, "record"))
async def post_sessions(request: Request, background: BackgroundTasks) -> Response:
    body = await read_body(request)
    engine, content_type = services_of(request).engine, request.headers.get("content-type", "")

    def validate_and_store():  # off the event loop: a batch takes milliseconds of CPU
        with ingest_turn(engine):
            valid, rejected = _records(body, content_type, SessionIn)
            valid, rejected = _dimension_values(valid, rejected, dimensions_of(engine).custom)
            if not valid:
                return None, rejected
            return store_sessions(engine, [r for _, r in valid], _now()), rejected

    stored, rejected = await run_in_threadpool(validate_and_store)
    metrics = services_of(request).metrics
    metrics.inc("asrwatch_rejected_records", ("session",), len(rejected))
    if stored is None:
        return _ingest_result(0, 0, rejected, status_code=422)
    # Counted into /metrics with other batches, before the next scrape or, when enough are queued,
    # once this answer is sent: the sender waits only for what makes its sessions durable.
    if metrics.queue_sessions(stored.accepted):
        background.add_task(_count_queued, metrics)
    metrics.inc("asrwatch_duplicate_sessions", (), stored.duplicates)
    return _ingest_result(len(stored.accepted), stored.duplicates, rejected)


def _ingest_result(accepted: int, duplicates: int, rejected: list[Rejected], status_code: int = 200) -> Response:
    """`IngestResult` as JSON, encoded here: returned as a model, FastAPI would validate it
    against `response_model` and then serialize it, on the event loop, for every batch
    (`fastapi.routing.serialize_response`). `response_model` stays for the OpenAPI document."""
    body = {"accepted": accepted, "duplicates": duplicates,
            "rejected": [{"index": r.index, "error": r.error} for r in rejected]}
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


@router.post("/api/v1/samples", response_model=SampleResult, dependencies=[Depends(require_ingest)],
             openapi_extra=_array_body(SampleIn), tags=["ingest"],
             responses=_ingest_errors(SampleResult, "sample"))
async def post_samples(request: Request, response: Response) -> SampleResult:
    body = await read_body(request)
    content_type = request.headers.get("content-type", "")
    settings = services_of(request).settings
    engine = services_of(request).engine

    def score_and_store():  # off the event loop, parsing included: a body may be megabytes
        with ingest_turn(engine):
            valid, rejected = _records(body, content_type, SampleIn)
            return score_and_store_samples(engine, valid, settings.normalizer, _now(), settings.entities,
                                           collar=settings.diarization_collar_s), rejected

    (scored, refused), rejected = await run_in_threadpool(score_and_store)
    rejected += [Rejected(index=i, error=e) for i, e in refused]
    rejected.sort(key=lambda r: r.index)
    services_of(request).metrics.observe_samples(
        (item.session_row, item.errors) for _, item in scored if not item.duplicate)
    services_of(request).metrics.observe_diarization(
        (item.session_row, item.diarization.errors) for _, item in scored
        if not item.duplicate and item.diarization is not None)
    services_of(request).metrics.inc("asrwatch_rejected_records", ("sample",), len(rejected))
    results = [
        SampleScore(session_id=item.session_row["session_id"], wer=item.errors.wer,
                    substitutions=item.errors.substitutions, deletions=item.errors.deletions,
                    insertions=item.errors.insertions, ref_words=item.errors.ref_words, cer=item.errors.cer,
                    char_errors=item.errors.char_errors, ref_chars=item.errors.ref_chars,
                    entity_occurrences=item.errors.entity_occurrences, entities_found=item.errors.entities_found,
                    diarization=_diarization_score(item.diarization), duplicate=item.duplicate)
        for _, item in sorted(scored, key=lambda pair: pair[0])
    ]
    if not results:
        response.status_code = 422
    return SampleResult(results=results, rejected=rejected)


def _diarization_score(diarized) -> DiarizationScore | None:
    if diarized is None:
        return None
    e = diarized.errors
    return DiarizationScore(der=e.der, missed_s=e.missed_s, false_alarm_s=e.false_alarm_s, confusion_s=e.confusion_s,
                            speech_s=e.speech_s, ref_speakers=e.ref_speakers, hyp_speakers=e.hyp_speakers,
                            speaker_count_error=e.speaker_count_error)


@router.post("/v1/traces", dependencies=[Depends(require_ingest)], tags=["ingest"],
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                 "application/json": {"schema": {"type": "object"}}}}},
             responses={200: {"description": "OTLP ExportTraceServiceResponse, in the request's encoding", "content": {
                 "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                 "application/json": {"schema": {"type": "object"}}}},
                 **error_responses(400, 401, 403, 413, 503), **_UNSUPPORTED_ENCODING})
async def post_traces(request: Request) -> Response:
    content_type = request.headers.get("content-type", "application/x-protobuf")
    body = await read_body(request)  # decompressed, within max_body_bytes
    engine = services_of(request).engine
    names = tuple(dimensions_of(engine).custom)  # read from `asr.<name>` or `<name>` attributes

    def store() -> tuple[Any, list[str]]:  # off the event loop: decoding a big body takes a while
        with ingest_turn(engine):
            try:
                spans = otlp.flatten(otlp.decode_request(body, content_type))
            except otlp.OTLPDecodeError as exc:
                raise HTTPException(400, str(exc)) from exc
            kept, records, errors = [], [], []
            for span in spans:
                # A span one engine cannot store (a NUL in its name or an attribute, a NaN) is
                # rejected by itself, on every engine alike, and reported as partial success
                # (https://opentelemetry.io/docs/specs/otlp/#partial-success: the server MUST set
                # rejected_spans); the rest of the request is stored.
                problem = otlp.span_problem(span)
                if problem is not None:
                    errors.append(f"span {span.span_id}: {problem}")
                    continue
                kept.append(span)
                if not otlp.is_session_root(span):
                    continue
                try:
                    record = SessionIn.model_validate(otlp.session_record(span, names))
                except ValidationError as exc:
                    errors.append(f"span {span.span_id}: {describe_error(exc)} (as asr.* attributes)")
                    continue
                problem = attribute_problem(record.attributes, names)
                if problem is not None:
                    errors.append(f"span {span.span_id}: {problem}")
                    continue
                records.append(record)
            with write_transaction(engine) as conn:
                store_stages(conn, [otlp.stage_row(s) for s in kept])
            return (store_sessions(engine, records, _now()) if records else None), errors

    stored, errors = await run_in_threadpool(store)
    if stored is not None:
        services_of(request).metrics.observe_sessions(stored.accepted)
    payload, media_type = otlp.encode_response(len(errors), "; ".join(errors)[:2000], content_type)
    return Response(payload, media_type=media_type)
