"""The real OpenTelemetry SDK OTLP/HTTP exporter creates sessions with stages."""

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

STAGES = ("ingest", "preprocess", "features", "inference", "decode", "postprocess")


def export_session(live, uid, index, **attrs):
    provider = TracerProvider(resource=Resource.create({"service.name": "asr-server"}))
    exporter = OTLPSpanExporter(endpoint=f"{live.url}/v1/traces",
                                headers={"Authorization": f"Bearer {live.tokens['ingest']}"})
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("asr")
    start = 1_793_527_200_000_000_000 + index * 1_000_000_000  # 2026-11-01T10:00:00Z + index s, in ns
    root = tracer.start_span("session", start_time=start, attributes={
        "asr.model_version": f"mv-{uid}", "asr.status": "ok", "asr.region": "eu", "asr.channel": "telephony",
        "asr.audio_seconds": 4.0, "asr.confidence": 0.91, "asr.snr_db": 18.5, "asr.gpu_seconds": 0.2,
        "asr.first_partial_ms": 180, "asr.client_version": "7.1.0", **attrs})
    from opentelemetry import trace

    ctx = trace.set_span_in_context(root)
    t = start
    for i, name in enumerate(STAGES):
        span = tracer.start_span(name, context=ctx, start_time=t)
        t += (i + 1) * 20_000_000
        span.end(end_time=t)
    root.end(end_time=start + 1_250_000_000)
    provider.shutdown()
    return root.get_span_context().trace_id


def test_sdk_exporter_creates_session_with_stages(live, uid):
    trace_id = export_session(live, uid, 0)
    trace_hex = f"{trace_id:032x}"
    with live.client("read") as http:
        stored = http.get(f"/api/v1/sessions/{trace_hex}").json()  # session_id defaults to the trace id
    assert stored["model_version"] == f"mv-{uid}"
    assert stored["ts"] == "2026-11-01T10:00:00Z"
    assert abs(stored["final_latency_ms"] - 1250.0) < 1e-6  # the root span's duration
    assert stored["first_partial_ms"] == 180.0
    assert stored["attributes"] == {"client_version": "7.1.0"}
    names = [s["name"] for s in stored["stages"]]
    assert set(STAGES) <= set(names) and "session" in names
    inference = next(s for s in stored["stages"] if s["name"] == "inference")
    assert abs(inference["duration_ms"] - 80.0) < 1e-6


def test_explicit_session_id_and_partial_success(live, uid):
    export_session(live, uid, 1, **{"asr.session_id": f"{uid}-explicit"})
    # An invalid root (confidence out of range) is reported as a rejected span, not stored.
    export_session(live, uid, 2, **{"asr.session_id": f"{uid}-bad", "asr.confidence": 3.0})
    with live.client("read") as http:
        assert http.get(f"/api/v1/sessions/{uid}-explicit").status_code == 200
        assert http.get(f"/api/v1/sessions/{uid}-bad").status_code == 404


def test_otlp_json_with_hex_ids(live, uid):
    trace_id = "5b8efff798038103d269b633813fc60c"
    body = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [
        {"traceId": trace_id, "spanId": "eee19b7ec3c1b174", "name": "session",
         "startTimeUnixNano": "1793527200000000000", "endTimeUnixNano": "1793527200900000000",
         "attributes": [{"key": "asr.model_version", "value": {"stringValue": f"mv-{uid}"}},
                        {"key": "asr.status", "value": {"stringValue": "timeout"}},
                        {"key": "asr.session_id", "value": {"stringValue": f"{uid}-json"}},
                        {"key": "asr.retries", "value": {"intValue": "2"}}]},
        {"traceId": trace_id, "spanId": "eee19b7ec3c1b175", "parentSpanId": "eee19b7ec3c1b174",
         "name": "decode", "startTimeUnixNano": "1793527200100000000", "endTimeUnixNano": "1793527200400000000"},
    ]}]}]}
    r = httpx.post(f"{live.url}/v1/traces", json=body, headers={"Authorization": f"Bearer {live.tokens['ingest']}"})
    assert r.status_code == 200, r.text
    with live.client("read") as http:
        stored = http.get(f"/api/v1/sessions/{uid}-json").json()
    assert stored["status"] == "timeout" and stored["retries"] == 2 and stored["trace_id"] == trace_id
    assert abs(stored["final_latency_ms"] - 900.0) < 1e-6
    assert [s["name"] for s in stored["stages"]] == ["session", "decode"]


def test_garbage_protobuf_is_400(live):
    r = httpx.post(f"{live.url}/v1/traces", content=b"\xff\xff\xff not protobuf",
                   headers={"Authorization": f"Bearer {live.tokens['ingest']}",
                            "content-type": "application/x-protobuf"})
    assert r.status_code == 400 and "protobuf" in r.json()["detail"]
    assert httpx.get(f"{live.url}/healthz").status_code == 200  # and it keeps serving
