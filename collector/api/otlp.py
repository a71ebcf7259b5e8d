"""OTLP/HTTP traces -> session records and stages.

A root span (no parent) carrying `asr.*` attributes becomes a session record; every span,
root included, is kept as a stage of its trace for the waterfall. `asr.session_id` defaults
to the trace id, `ts` to the span start and `final_latency_ms` to the root span's duration.
Children usually arrive before their root (the SDK exports spans as they end), so stages are
keyed by trace id, not by session.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from fastapi import HTTPException
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.api.body import IDENTITY
from collector.api.body import decompress as bounded_decompress
from collector.store import SessionIn

PREFIX = "asr."
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
SESSION_FIELDS = set(SessionIn.model_fields) - {"attributes"}
DEFAULT_LIMIT = 16 * 1024 * 1024  # Settings.max_body_bytes' default


class OTLPDecodeError(ValueError):
    pass


@dataclass
class FlatSpan:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def start(self) -> datetime:
        # Integer microseconds: through a float, times in this century lose the last microsecond.
        return EPOCH + timedelta(microseconds=self.start_ns // 1000)

    @property
    def duration_ms(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e6


def decompress(body: bytes, encoding: str | None, limit: int = DEFAULT_LIMIT) -> bytes:
    """What the route's `read_body` does with a Content-Encoding, for callers outside a request:
    incremental, never past `limit` bytes of output; OTLPDecodeError for anything wrong."""
    encoding = (encoding or "").strip().lower()
    if encoding in IDENTITY:
        return body
    try:
        return bounded_decompress(body, encoding, limit)
    except HTTPException as exc:
        raise OTLPDecodeError(exc.detail) from None


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping expects base64."""
    if isinstance(node, dict):
        for key in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"):
            value = node.get(key)
            if isinstance(value, str) and value:
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError as exc:
                    raise OTLPDecodeError(f"{key}: not a hex id: {value[:40]!r}") from exc
        for value in node.values():
            _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


def decode_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if "json" in content_type:
        try:
            data = orjson.loads(body)
            if not isinstance(data, dict):  # ParseDict fails with TypeError on null or a number
                raise OTLPDecodeError(f"body: OTLP JSON must be an ExportTraceServiceRequest object, "
                                      f"got {type(data).__name__}")
            _hex_ids_to_base64(data)
            json_format.ParseDict(data, request, ignore_unknown_fields=True)
        except (orjson.JSONDecodeError, json_format.ParseError) as exc:
            raise OTLPDecodeError(f"body: invalid OTLP JSON: {exc}") from exc
        except RecursionError:  # orjson parses up to 1024 levels; walking them takes more stack
            raise OTLPDecodeError("body: OTLP JSON nested too deeply") from None
    else:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise OTLPDecodeError(f"body: invalid OTLP protobuf: {exc}") from exc
    return request


def any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def flatten(request: ExportTraceServiceRequest) -> list[FlatSpan]:
    spans = []
    for resource_spans in request.resource_spans:
        resource_attrs = {kv.key: any_value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attrs = dict(resource_attrs)
                attrs.update({kv.key: any_value(kv.value) for kv in span.attributes})
                spans.append(FlatSpan(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex() or None,
                    name=span.name,
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    attributes=attrs,
                ))
    return spans


def session_record(span: FlatSpan, dimensions: Collection[str] = ()) -> dict[str, Any]:
    """The session record a root span describes (validated later like any posted record). The
    configured `dimensions` go to `attributes` from `asr.<name>`, or else from a plain `<name>`
    span or resource attribute (the span's wins: `flatten`)."""
    record: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in span.attributes.items():
        if key.startswith(PREFIX) and key[len(PREFIX):] in SESSION_FIELDS:
            record[key[len(PREFIX):]] = value
        elif key.startswith(PREFIX):
            extra[key[len(PREFIX):]] = value
    for name in dimensions:
        if name not in extra and name in span.attributes:
            extra[name] = span.attributes[name]
    record.setdefault("session_id", span.trace_id)
    record.setdefault("ts", span.start.isoformat())
    record.setdefault("final_latency_ms", span.duration_ms)
    record.setdefault("trace_id", span.trace_id)
    for name in ("audio_seconds", "first_partial_ms", "final_latency_ms", "queue_ms", "confidence",
                 "snr_db", "gpu_seconds"):
        if isinstance(record.get(name), int) and not isinstance(record.get(name), bool):
            record[name] = float(record[name])
    if extra:
        record["attributes"] = extra
    return record


def is_session_root(span: FlatSpan) -> bool:
    return span.parent_span_id is None and any(k.startswith(PREFIX) for k in span.attributes)


def span_problem(span: FlatSpan) -> str | None:
    """Why a span cannot be stored alike on every engine, naming the field; None when it can.

    PostgreSQL text cannot hold NUL (SQLite can), and JSON has no NaN or Infinity (a double
    attribute may carry one). The route rejects such a span by itself, on both engines.
    """
    if "\x00" in span.name:
        return "name: must not contain NUL (\\u0000) characters"
    return _value_problem(span.attributes, "attributes")


def _value_problem(node: Any, path: str) -> str | None:
    if isinstance(node, str):
        return f"{path}: must not contain NUL (\\u0000) characters" if "\x00" in node else None
    if isinstance(node, float):
        return None if math.isfinite(node) else f"{path}: {node} is not a number JSON can hold"
    if isinstance(node, dict):
        for key, value in node.items():
            if "\x00" in key:
                return f"{path}: a key must not contain NUL (\\u0000) characters"
            problem = _value_problem(value, f"{path}.{key}")
            if problem:
                return problem
    elif isinstance(node, list):
        for index, value in enumerate(node):
            problem = _value_problem(value, f"{path}[{index}]")
            if problem:
                return problem
    return None


def stage_row(span: FlatSpan) -> dict[str, Any]:
    attrs = {k: v for k, v in span.attributes.items() if not k.startswith(PREFIX)}
    return {
        "trace_id": span.trace_id, "span_id": span.span_id, "parent_span_id": span.parent_span_id,
        # Whole: `store_stages` redacts the name, then cuts it to its column.
        "name": span.name, "start": span.start, "duration_ms": span.duration_ms,
        "attributes": attrs or None,
    }


def encode_response(rejected_spans: int, message: str, content_type: str) -> tuple[bytes, str]:
    response = ExportTraceServiceResponse()
    if rejected_spans:
        response.partial_success.rejected_spans = rejected_spans
        response.partial_success.error_message = message
    if "json" in content_type:
        return json_format.MessageToJson(response).encode(), "application/json"
    return response.SerializeToString(), "application/x-protobuf"
