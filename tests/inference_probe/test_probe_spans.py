"""Span export through the OpenTelemetry SDK to an OTLP/HTTP receiver on loopback:
preset trace ids, `asr.*` root attributes, no drops past the processor's queue, and the
protobuf spool + replay when the receiver refuses."""

from __future__ import annotations

import http.server
import threading
import time

import pytest
from prerequisites import need_module

need_module("opentelemetry.sdk")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from inference_probe.spans import PendingSession, SpanEmitter, replay_span_spool  # noqa: E402
from inference_probe.timing import StageRecord  # noqa: E402


@pytest.fixture
def receiver():
    state = {"status": 200, "spans": [], "auth": set()}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["auth"].add(self.headers.get("Authorization"))
            if state["status"] == 200:
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                state["spans"] += [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
            self.send_response(state["status"])
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()


def _sessions(emitter: SpanEmitter, n: int) -> list[int]:
    now = time.time_ns()
    ids = []
    for i in range(n):
        trace_id = emitter.new_trace_id()
        ids.append(trace_id)
        stages = [StageRecord(name, now + k * 1000, 1000) for k, name in
                  enumerate(("preprocess", "features", "inference", "decode"))]
        emitter.add(PendingSession(trace_id, {"asr.session_id": f"s{i}", "asr.model_version": "m",
                                              "asr.status": "ok"}, now, now + 4000, stages))
    return ids


def test_every_span_arrives_with_its_preset_trace_id(receiver):
    emitter = SpanEmitter(receiver["url"], "tok", None)
    ids = _sessions(emitter, 600)  # 3000 spans: more than the SDK's default queue of 2048
    assert emitter.export() == 600
    emitter.shutdown()
    spans = receiver["spans"]
    assert len(spans) == 3000 and receiver["auth"] == {"Bearer tok"}
    roots = [s for s in spans if not s.parent_span_id]
    assert {int.from_bytes(s.trace_id, "big") for s in roots} == set(ids)
    root = roots[0]
    attrs = {kv.key: kv.value.string_value for kv in root.attributes}
    assert root.name == "asr.session" and attrs["asr.model_version"] == "m"
    children = [s for s in spans if s.trace_id == root.trace_id and s.parent_span_id]
    assert sorted(s.name for s in children) == ["decode", "features", "inference", "preprocess"]
    assert all(s.parent_span_id == root.span_id for s in children)


def test_refused_spans_are_spooled_and_replayed(receiver, tmp_path):
    receiver["status"] = 400  # not retryable: the exporter gives up at once
    emitter = SpanEmitter(receiver["url"], "tok", tmp_path, timeout_s=2)
    _sessions(emitter, 3)
    emitter.export()
    emitter.shutdown()
    assert emitter.exporter.spooled_spans == 15 and len(list(tmp_path.glob("*-traces.pb"))) == 1
    assert replay_span_spool(receiver["url"], "tok", tmp_path) == 0  # still refused: kept
    assert len(list(tmp_path.glob("*-traces.pb"))) == 1
    receiver["status"] = 200
    assert replay_span_spool(receiver["url"], "tok", tmp_path) == 1
    assert len(receiver["spans"]) == 15 and not list(tmp_path.glob("*.pb"))
