"""Request bodies at their edges, against a live collector: compression bombs, Content-Encoding on
every ingest route, clients that go away mid-body, NaN and Infinity literals, NUL in OTLP spans."""

import gzip
import os
import socket
import threading
import time
import zlib

import httpx
import orjson
import psutil
import pytest
from fastapi import HTTPException
from live_collector import running_collector
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from polling import wait_for

from collector.api.body import decompress

GIB = 1 << 30
MB = 1_000_000
LIVE_LIMIT = 1_000_000  # the `live` fixture's max_body_bytes (tests/collector/conftest.py)
INGEST_ROUTES = ("/api/v1/sessions", "/api/v1/samples", "/v1/traces")


def session(uid, i, **fields):
    record = {"session_id": f"{uid}-{i}", "ts": f"2026-11-01T10:{i % 60:02d}:00Z",
              "model_version": f"mv-{uid}", "status": "ok"}
    record.update(fields)
    return record


def content_type(route):
    return "application/x-protobuf" if route == "/v1/traces" else "application/json"


@pytest.fixture(scope="module")
def bomb():
    """A single gzip stream, about 1 MB on the wire, that expands to 1 GiB of zeros."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    body = b"".join([packer.compress(zeros) for _ in range(GIB // len(zeros))] + [packer.flush()])
    assert 0.9 * MB < len(body) < 1.2 * MB
    return body


def test_a_gzip_bomb_is_refused_with_bounded_memory_while_healthz_answers(tmp_path, bomb):
    # The default max_body_bytes (16 MiB): the bomb's 1 MB passes the wire limit, so only the
    # limit on the decompressed size can stop it.
    with running_collector(tmp_path) as live:
        limit = 16 * 1024 * 1024
        process = psutil.Process(live.process.pid)
        headers = {"Authorization": f"Bearer {live.tokens['ingest']}", "Content-Encoding": "gzip"}
        with httpx.Client(base_url=live.url, headers=headers, timeout=120) as http:
            # Warm up every route's path (imports, the thread pool, the database) with a small
            # compressed body before taking the baseline.
            for route in INGEST_ROUTES:
                http.post(route, content=gzip.compress(b"[]"), headers={"Content-Type": content_type(route)})
            baseline = process.memory_info().rss
            peak = [baseline]
            bombs_done = threading.Event()

            def sample_rss():
                while not bombs_done.is_set():
                    peak[0] = max(peak[0], process.memory_info().rss)
                    time.sleep(0.002)

            bomb_spans, health_spans, answers = [], [], []

            def send_bombs():
                try:
                    for _ in range(4):
                        for route in INGEST_ROUTES:
                            start = time.monotonic()
                            r = http.post(route, content=bomb, headers={"Content-Type": content_type(route)})
                            bomb_spans.append((start, time.monotonic()))
                            answers.append((route, r.status_code, r.json()["detail"]))
                finally:
                    bombs_done.set()

            def poll_health():
                with httpx.Client(base_url=live.url, timeout=120) as probe:
                    while not bombs_done.is_set():
                        start = time.monotonic()
                        status = probe.get("/healthz").status_code
                        health_spans.append((start, time.monotonic(), status))

            threads = [threading.Thread(target=f) for f in (sample_rss, send_bombs, poll_health)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(300)
        assert len(answers) == 4 * len(INGEST_ROUTES)
        for route, status, detail in answers:
            assert status == 413, (route, status, detail)
            assert f"limit of {limit} bytes" in detail and "max_body_bytes" in detail and "decompressed" in detail
        growth = peak[0] - baseline
        assert growth < 50 * MB, f"collector RSS grew {growth / MB:.0f} MB over its baseline while refusing bombs"
        assert health_spans and all(status == 200 for _, _, status in health_spans)
        # The event loop kept answering while bombs were in flight: some /healthz was sent and
        # answered entirely within a bomb's request.
        inside = [h for h in health_spans if any(b0 < h[0] and h[1] < b1 for b0, b1 in bomb_spans)]
        assert inside, "no /healthz was answered while a bomb was being processed"
        assert "Traceback" not in live.log()


def test_compressed_bodies_on_every_ingest_route(live, uid):
    records = [session(uid, i, hypothesis="turn on the lights") for i in range(3)]
    request = trace_request(uid, "gz", children=[("decode", {})])
    with live.client("ingest") as http:
        r = http.post("/api/v1/sessions", content=gzip.compress(orjson.dumps(records[:2])),
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
        r = http.post("/api/v1/sessions", content=zlib.compress(orjson.dumps(records[2:])),
                      headers={"Content-Type": "application/json", "Content-Encoding": "deflate"})
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        samples = [{"session_id": f"{uid}-0", "reference": "turn on the lights"}]
        r = http.post("/api/v1/samples", content=gzip.compress(orjson.dumps(samples)),
                      headers={"Content-Type": "application/json", "Content-Encoding": "x-gzip"})
        assert r.status_code == 200 and r.json()["results"][0]["wer"] == 0.0, r.text
        r = http.post("/v1/traces", content=gzip.compress(request.SerializeToString()),
                      headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
        assert r.status_code == 200, r.text
        for route in INGEST_ROUTES:
            r = http.post(route, content=b"[]", headers={"Content-Type": content_type(route), "Content-Encoding": "br"})
            assert r.status_code == 415, (route, r.text)
            assert "Content-Encoding" in r.json()["detail"] and "'br'" in r.json()["detail"]
            # Small on the wire, over the limit (1 MB here) once decompressed: 413 naming the limit.
            r = http.post(route, content=gzip.compress(bytes(2 * MB)),
                          headers={"Content-Type": content_type(route), "Content-Encoding": "gzip"})
            assert r.status_code == 413, (route, r.text)
            assert f"limit of {LIVE_LIMIT} bytes" in r.json()["detail"]
            r = http.post(route, content=gzip.compress(orjson.dumps(records))[:-6],
                          headers={"Content-Type": content_type(route), "Content-Encoding": "gzip"})
            assert r.status_code == 400 and "truncated" in r.json()["detail"], (route, r.text)
    with live.client("read") as http:
        assert http.get(f"/api/v1/sessions/{uid}-2").status_code == 200
        stored = http.get(f"/api/v1/sessions/{uid}-gz").json()
    assert sorted(s["name"] for s in stored["stages"]) == ["decode", "session"]


def test_a_client_that_disconnects_mid_body_is_one_log_line(live, uid):
    body = orjson.dumps([session(uid, i) for i in range(50)])
    before = live.log_path.read_text(errors="replace")
    port = int(live.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Authorization: Bearer " + live.tokens["ingest"].encode() + b"\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:len(body) // 2])
        time.sleep(0.2)  # let the collector start reading the body before the client goes away

    def new_lines():
        text = live.log_path.read_text(errors="replace")
        assert text.startswith(before)
        # The module's collector also logs its background jobs; these are the lines about requests.
        return [line for line in text[len(before):].splitlines()
                if any(word in line for word in ("/api/v1/sessions", "Traceback", "Exception", "Error", "  File "))]

    lines = wait_for(new_lines, what="the collector logged the disconnect")
    time.sleep(1)  # anything more it was going to log (a traceback) has been written by now
    lines = new_lines()
    assert len(lines) == 1, lines
    assert "disconnected mid-body" in lines[0] and "POST /api/v1/sessions" in lines[0]
    assert "Traceback" not in live.log_path.read_text(errors="replace")[len(before):]
    with live.client("read") as http:  # nothing of the half body was stored; the collector serves on
        assert http.get(f"/api/v1/sessions/{uid}-0").status_code == 404


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_nan_or_infinity_literal_rejects_its_record_alone(live, uid, literal):
    tag = f"{uid}-{literal.strip('-')}{'n' if literal.startswith('-') else ''}"
    good = [orjson.dumps(session(tag, i)).decode() for i in (0, 2, 3)]
    in_measure = orjson.dumps(session(tag, 1)).decode()[:-1] + f',"final_latency_ms":{literal}}}'
    in_attribute = orjson.dumps(session(tag, 4)).decode()[:-1] + f',"attributes":{{"snr":[1,{literal}]}}}}'
    array = "[" + ",".join([good[0], in_measure, good[1], in_attribute, good[2]]) + "]"
    ndjson = "\n".join([good[0], in_measure, good[1]])
    with live.client("ingest") as http:
        r = http.post("/api/v1/sessions", content=array, headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["accepted"] == 3
        assert [x["index"] for x in result["rejected"]] == [1, 3]
        assert result["rejected"][0]["error"].startswith(f"final_latency_ms: {literal} ")
        assert result["rejected"][1]["error"].startswith(f"attributes.snr[1]: {literal} ")
        # The same record in NDJSON, rejected by its line.
        r = http.post("/api/v1/sessions", content=ndjson, headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
        assert r.json()["duplicates"] == 2 and r.json()["rejected"][0]["index"] == 1
        assert r.json()["rejected"][0]["error"].startswith(f"final_latency_ms: {literal} ")
        # A single object, not an array: its one record is rejected, naming the field.
        r = http.post("/api/v1/sessions", content=in_measure, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text
        assert r.json()["rejected"][0]["index"] == 0
        assert r.json()["rejected"][0]["error"].startswith(f"final_latency_ms: {literal} ")
    with live.client("read") as http:
        for i in (0, 2, 3):
            assert http.get(f"/api/v1/sessions/{tag}-{i}").status_code == 200
        for i in (1, 4):
            assert http.get(f"/api/v1/sessions/{tag}-{i}").status_code == 404


def test_a_broken_array_is_still_one_400(live):
    with live.client("ingest") as http:
        r = http.post("/api/v1/sessions", content=b'[{"session_id": "x"}, {oops', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "invalid JSON" in r.json()["detail"]


def trace_request(uid, name, children):
    """An OTLP protobuf request: a root span that is a session, and children of (name, attributes)."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    kv = resource_spans.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "asr-server"
    spans = resource_spans.scope_spans.add().spans
    trace_id = os.urandom(16)
    root = spans.add(trace_id=trace_id, span_id=b"\x01" * 8, name="session",
                     start_time_unix_nano=1_793_527_200_000_000_000, end_time_unix_nano=1_793_527_201_000_000_000)
    for key, value in {"asr.model_version": f"mv-{uid}", "asr.status": "ok", "asr.session_id": f"{uid}-{name}"}.items():
        kv = root.attributes.add()
        kv.key, kv.value.string_value = key, value
    for i, (child_name, attrs) in enumerate(children):
        child = spans.add(trace_id=trace_id, span_id=bytes([2 + i]) * 8, parent_span_id=b"\x01" * 8, name=child_name,
                          start_time_unix_nano=1_793_527_200_000_000_000 + i * 1_000_000,
                          end_time_unix_nano=1_793_527_200_500_000_000)
        for key, value in attrs.items():
            kv = child.attributes.add()
            kv.key = key
            if isinstance(value, float):
                kv.value.double_value = value
            else:
                kv.value.string_value = value
    return request


def test_nul_in_an_otlp_child_span_rejects_that_span_alone(live, uid):
    # PostgreSQL text cannot hold NUL and JSON has no NaN: each such span is refused by itself,
    # on both engines alike, and the rest of the request is stored.
    request = trace_request(uid, "nul", children=[
        ("preprocess", {"stage.kind": "cpu"}),
        ("deco\x00de", {}),
        ("features", {"model.path": "/m/a\x00b"}),
        ("inference", {"gpu.util": float("nan")}),
        ("post\x00", {"x": "y"}),
        ("decode", {}),
    ])
    with live.client("ingest") as http:
        r = http.post("/v1/traces", content=request.SerializeToString(),
                      headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200, r.text
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 4
    message = answer.partial_success.error_message
    assert f"span {'03' * 8}: name: must not contain NUL" in message
    assert f"span {'04' * 8}: attributes.model.path: must not contain NUL" in message
    assert f"span {'05' * 8}: attributes.gpu.util: nan" in message
    assert f"span {'06' * 8}: name: must not contain NUL" in message
    with live.client("read") as http:
        stored = http.get(f"/api/v1/sessions/{uid}-nul")
    assert stored.status_code == 200, stored.text
    assert sorted(s["name"] for s in stored.json()["stages"]) == ["decode", "preprocess", "session"]


def test_decompress_matches_gzip_and_bounds_its_output():
    data = os.urandom(200_000) + bytes(600_000)
    members = gzip.compress(data) + gzip.compress(b"second member")
    assert decompress(members, "gzip", 10 * MB) == gzip.decompress(members)
    assert decompress(gzip.compress(data) + bytes(70_000), "gzip", 10 * MB) == data  # zero padding
    assert decompress(zlib.compress(data), "deflate", 10 * MB) == data
    assert decompress(b"", "gzip", 10) == b""
    with pytest.raises(HTTPException) as refused:
        decompress(gzip.compress(data), "gzip", len(data) - 1)
    assert refused.value.status_code == 413 and f"limit of {len(data) - 1} bytes" in refused.value.detail
    assert decompress(gzip.compress(data), "gzip", len(data)) == data  # exactly at the limit
    for broken in (gzip.compress(data)[:-8], gzip.compress(data) + b"junk", b"not gzip at all"):
        with pytest.raises(HTTPException) as bad:
            decompress(broken, "gzip", 10 * MB)
        assert bad.value.status_code == 400 and "cannot decompress gzip" in bad.value.detail


def test_nul_in_session_attributes_rejects_that_record_alone(live, uid):
    # On PostgreSQL this failed the whole batch (json cannot hold \u0000) while SQLite stored it.
    records = [session(uid, 0, attributes={"k": "ok"}), session(uid, 1, attributes={"k": "a\x00b"}),
               session(uid, 2, attributes={"nested": [{"a\x00": 1}]}), session(uid, 3)]
    with live.client("ingest") as http:
        r = http.post("/api/v1/sessions", json=records)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    assert [(x["index"], x["error"].split(":")[0]) for x in r.json()["rejected"]] == [(1, "attributes"), (2, "attributes")]
    assert all("NUL" in x["error"] for x in r.json()["rejected"])
    with live.client("read") as http:
        assert [http.get(f"/api/v1/sessions/{uid}-{i}").status_code for i in range(4)] == [200, 404, 404, 200]

