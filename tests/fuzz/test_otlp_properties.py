"""Hypothesis properties of OTLP/HTTP trace decoding (collector/api/otlp.py).

Arbitrary JSON, bytes and encodings never fail with anything but OTLPDecodeError (the route's
400), and a generated valid ExportTraceServiceRequest, sent as OTLP/JSON or protobuf, maps to
the session records DESIGN.md describes: root span `asr.*` attributes as fields, session_id
defaulting to the trace id, ts to the span start, final_latency_ms to the root's duration,
other `asr.*` keys kept as attributes, and child spans as stages only.
"""

from __future__ import annotations

import base64
import gzip
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from google.protobuf import json_format
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pydantic import ValidationError

from collector.api import otlp
from collector.store.schemas import MAX_MEASURE, MAX_PARTIAL_REWRITES, SessionIn

PROFILE = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow])
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
STAGES = ("ingest", "preprocess", "features", "inference", "decode", "postprocess")

text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text
# OTLP-shaped keys make the garbage reach past the first level of ParseDict.
otlp_keys = st.sampled_from(["resourceSpans", "resource", "attributes", "scopeSpans", "scope", "spans", "traceId",
                             "spanId", "parentSpanId", "name", "startTimeUnixNano", "endTimeUnixNano", "key", "value",
                             "stringValue", "intValue", "doubleValue", "boolValue", "arrayValue", "kvlistValue",
                             "bytesValue", "values", "kind", "status", "events", "links"]) | text
otlp_json = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(otlp_keys, inner,
                                                                                                   max_size=4),
                         max_leaves=20)


def _pipeline(body: bytes, content_type: str, encoding: str | None = None) -> list[SessionIn]:
    """What POST /v1/traces does up to storage; OTLPDecodeError is its 400."""
    spans = otlp.flatten(otlp.decode_request(otlp.decompress(body, encoding), content_type))
    records = []
    for span in spans:
        otlp.stage_row(span)
        if otlp.is_session_root(span):
            try:
                records.append(SessionIn.model_validate(otlp.session_record(span)))
            except ValidationError:
                pass  # reported to the sender as partial success
    return records


@PROFILE
@given(otlp_json)
@example({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab" * 16, "attributes": [
    {"key": "asr.status", "value": {"intValue": "1"}}]}]}]}]})
@example(None)
def test_arbitrary_json_never_fails_but_as_a_decode_error(value):
    try:
        _pipeline(orjson.dumps(value), "application/json")
    except otlp.OTLPDecodeError as exc:
        assert str(exc).split(":")[0] in ("body", "traceId", "spanId", "parentSpanId", "trace_id", "span_id",
                                          "parent_span_id"), exc


@PROFILE
@given(st.binary(max_size=400), st.sampled_from(["application/x-protobuf", "application/json", ""]),
       st.sampled_from([None, "", "identity", "gzip", "deflate", "br", "GZIP"]))
@example(b'{"a":' * 1000 + b"1" + b"}" * 1000, "application/json", None)
def test_arbitrary_bytes_and_encodings_never_fail_but_as_a_decode_error(body, content_type, encoding):
    try:
        _pipeline(body, content_type, encoding)
    except otlp.OTLPDecodeError:
        pass


# -- valid requests --------------------------------------------------------------------------------

measure = st.floats(0, MAX_MEASURE, allow_nan=False)
FIELDS: dict[str, st.SearchStrategy] = {
    "session_id": st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                          max_size=128),
    "model_version": st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True),
    "region": st.sampled_from(["eu-west", "us-east", "ap-south"]), "tenant": st.just("acme"),
    "channel": st.sampled_from(["telephony", "web", "mobile", "far_field"]), "language": st.just("en"),
    "pool": st.just("h100"), "audio_seconds": measure, "first_partial_ms": measure, "final_latency_ms": measure,
    "queue_ms": measure, "partial_rewrites": st.integers(0, MAX_PARTIAL_REWRITES), "confidence": st.floats(0, 1),
    "snr_db": st.floats(-100, 200), "gpu_seconds": measure, "turn_success": st.booleans(), "shadow": st.booleans(),
    "retries": st.integers(0, 1000), "hypothesis": text,
}
FLOAT_FIELDS = {"audio_seconds", "first_partial_ms", "final_latency_ms", "queue_ms", "confidence", "snr_db",
                "gpu_seconds"}


def _set_value(any_value, value: Any, as_double: bool) -> None:
    if isinstance(value, bool):
        any_value.bool_value = value
    elif isinstance(value, str):
        any_value.string_value = value
    elif as_double:
        any_value.double_value = float(value)
    else:
        any_value.int_value = value


@st.composite
def traced_sessions(draw) -> tuple[ExportTraceServiceRequest, list[SessionIn], int]:
    """A request with 1-3 sessions (a root span each, with 0-4 child stages), the session records
    it must map to, and the number of spans in it."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attr = resource_spans.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", "asr-server"
    spans = resource_spans.scope_spans.add().spans
    expected, span_count = [], 0
    trace_ids = draw(st.lists(st.binary(min_size=16, max_size=16).filter(any), min_size=1, max_size=3, unique=True))
    for trace_id in trace_ids:
        fields = draw(st.fixed_dictionaries({"model_version": FIELDS["model_version"]},
                                            optional={k: v for k, v in FIELDS.items() if k != "model_version"}))
        fields["status"] = draw(st.sampled_from(["ok", "partial", "decode_error", "dropped", "timeout"]))
        extras = draw(st.dictionaries(st.from_regex(r"x_[a-z]{1,8}", fullmatch=True), text, max_size=2))
        start = draw(st.integers(0, 2**64 - 1))
        # Durations up to MAX_MEASURE ms (11 days), some negative (clock skew: duration 0).
        end = min(max(start + draw(st.integers(-(10**12), 10**15)), 0), 2**64 - 1)
        root = spans.add()
        root.trace_id, root.name = trace_id, "session"
        root.span_id = draw(st.binary(min_size=8, max_size=8).filter(any))
        root.start_time_unix_nano, root.end_time_unix_nano = start, end
        for name, value in {**fields, **extras}.items():
            kv = root.attributes.add()
            kv.key = otlp.PREFIX + name
            if name in FLOAT_FIELDS:
                # A whole number may come as an int, as SDKs send `180` for 180 ms.
                send_int = float(value).is_integer() and draw(st.booleans())
                _set_value(kv.value, int(value) if send_int else value, as_double=not send_int)
            else:
                _set_value(kv.value, value, as_double=False)
        for stage in draw(st.lists(st.sampled_from(STAGES), max_size=4)):
            child = spans.add()
            child.trace_id, child.parent_span_id, child.name = trace_id, root.span_id, stage
            child.span_id = draw(st.binary(min_size=8, max_size=8).filter(lambda b: any(b) and b != root.span_id))
            child.start_time_unix_nano, child.end_time_unix_nano = start, end
            kv = child.attributes.add()
            kv.key, kv.value.string_value = "asr.not_a_root", "children never become sessions"
            span_count += 1
        record = {"session_id": trace_id.hex(), "trace_id": trace_id.hex(),
                  "final_latency_ms": max(end - start, 0) / 1e6, **fields,
                  "ts": EPOCH + timedelta(microseconds=start // 1000)}
        if extras:
            record["attributes"] = extras
        expected.append(SessionIn.model_validate(record))
        span_count += 1
    return request, expected, span_count


def _otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON as SDKs send it: protobuf's JSON mapping with ids as hex, not base64."""
    data = json_format.MessageToDict(request)
    for resource_spans in data.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return orjson.dumps(data)


@PROFILE
@given(traced_sessions(), st.sampled_from(["json", "protobuf", "protobuf+gzip", "json+deflate"]))
def test_a_valid_request_maps_to_the_designed_sessions(generated, wire):
    request, expected, span_count = generated
    body = _otlp_json(request) if wire.startswith("json") else request.SerializeToString()
    content_type = "application/json" if wire.startswith("json") else "application/x-protobuf"
    encoding = wire.partition("+")[2] or None
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "deflate":
        body = zlib.compress(body)
    spans = otlp.flatten(otlp.decode_request(otlp.decompress(body, encoding), content_type))
    assert len(spans) == span_count
    assert _pipeline(body, content_type, encoding) == expected
    stages = [otlp.stage_row(s) for s in spans]
    assert all(not any(k.startswith(otlp.PREFIX) for k in (row["attributes"] or {})) for row in stages)
    assert {row["trace_id"] for row in stages} == {m.trace_id for m in expected}


@PROFILE
@given(traced_sessions())
def test_json_and_protobuf_encodings_decode_to_the_same_spans(generated):
    request, _, _ = generated
    from_json = otlp.flatten(otlp.decode_request(_otlp_json(request), "application/json"))
    from_protobuf = otlp.flatten(otlp.decode_request(request.SerializeToString(), "application/x-protobuf"))
    assert from_json == from_protobuf
