"""The traffic-router state file and the OTLP traces the simulator builds."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from collector.api.otlp import decode_request, flatten, is_session_root, session_record
from collector.store.schemas import SessionIn
from simulator.fleet import FleetConfig
from simulator.generate import generate
from simulator.post import STAGE_ORDER, build_trace_request
from simulator.run import scenario_set
from simulator.traffic_router import RouterStateError, load_router_state, parse_router_state, write_router_state

AT = datetime(2026, 11, 21, 22, 5, tzinfo=timezone.utc)
CANARY = "whisper-large-v3@2026-11-15"


def test_router_state_round_trips_through_an_atomic_write(tmp_path):
    path = tmp_path / "router" / "state.json"
    assert load_router_state(path).weights == {}  # no file yet: no overrides
    write_router_state(path, {CANARY: 0.0}, at=AT, updated_by="rollout-judge", reasons={CANARY: "far_field +8%"})
    doc = json.loads(path.read_text())
    assert doc == {
        "routes": {CANARY: {"weight": 0.0, "reason": "far_field +8%"}},
        "updated_at": "2026-11-21T22:05:00+00:00",
        "updated_by": "rollout-judge",
    }
    state = load_router_state(path)
    assert state.weight_for(CANARY) == 0.0 and state.weight_for("other") is None
    assert state.updated_at == AT and state.updated_by == "rollout-judge"
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temp file left behind


@pytest.mark.parametrize(
    "document, field",
    [
        ([], "JSON object"),
        ({"routes": []}, "routes"),
        ({"routes": {CANARY: {}}}, f"routes.{CANARY}"),
        ({"routes": {CANARY: {"weight": 1.5}}}, f"routes.{CANARY}.weight"),
        ({"routes": {CANARY: {"weight": "0"}}}, f"routes.{CANARY}.weight"),
        ({"routes": {}, "updated_at": "yesterday"}, "updated_at"),
        ({"routes": {}, "updated_at": "2026-11-21T22:05:00"}, "updated_at"),
    ],
)
def test_malformed_router_state_names_the_field(document, field):
    with pytest.raises(RouterStateError, match=field.replace(".", r"\.").replace("@", "@")):
        parse_router_state(document)


def test_invalid_json_and_bad_writes_are_refused(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(RouterStateError, match="not valid JSON"):
        load_router_state(path)
    with pytest.raises(RouterStateError, match="weight"):
        write_router_state(tmp_path / "x.json", {CANARY: -0.1}, at=AT)
    with pytest.raises(ValueError, match="at"):
        write_router_state(tmp_path / "x.json", {CANARY: 0.1}, at=AT.replace(tzinfo=None))


def test_router_state_can_be_served_over_http():
    body = json.dumps({"routes": {CANARY: {"weight": 0.0}}}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        state = load_router_state(f"http://127.0.0.1:{server.server_address[1]}/router")
    finally:
        server.shutdown()
    assert state.weight_for(CANARY) == 0.0


def test_traces_decode_to_the_same_session_records_with_stage_spans():
    start = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)
    batches = list(generate(scenario_set("steady", start, 0.1), start, 0.1, 100, 4,
                            fleet=FleetConfig(label_fraction=0.3), otlp_fraction=0.5))
    traced = [t for b in batches for t in b.traced]
    assert 0.35 < len(traced) / sum(b.session_count for b in batches) < 0.65
    request = build_trace_request(traced)
    spans = flatten(decode_request(request.SerializeToString(), "application/x-protobuf"))
    roots = [s for s in spans if is_session_root(s)]
    assert len(roots) == len(traced) and len(spans) == len(traced) * (1 + len(STAGE_ORDER))
    for root, item in zip(roots, traced):
        decoded = SessionIn.model_validate(session_record(root)).model_dump(exclude_none=True)
        sent = SessionIn.model_validate(item.record).model_dump(exclude_none=True)
        assert decoded == sent
        children = sorted((s for s in spans if s.parent_span_id == root.span_id), key=lambda s: s.start_ns)
        assert [c.name for c in children] == list(STAGE_ORDER)
        assert children[0].start_ns == root.start_ns
        for before, after in zip(children, children[1:]):
            assert after.start_ns == before.end_ns  # stages laid end to end in event time
        assert sum(c.duration_ms for c in children) == pytest.approx(root.duration_ms, rel=0.01, abs=0.5)
