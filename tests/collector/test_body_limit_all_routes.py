"""Every route with a body obeys `max_body_bytes` and refuses a Content-Encoding it cannot decode,
not only the ingest routes (a read token can post to Flagger's webhook; an admin to silences)."""

from __future__ import annotations

import gzip
import json

from fastapi.testclient import TestClient

from asrwatch.server import create_app
from asrwatch.settings import load_settings

LIMIT = 4096


def _client(tmp_path) -> TestClient:
    settings = load_settings(None, database_url=f"sqlite:///{tmp_path / 'a.db'}", max_body_bytes=LIMIT)
    return TestClient(create_app(settings, run_background=False))


def test_a_declared_body_over_the_limit_is_413_on_every_route(tmp_path):
    big = json.dumps({"comment": "x" * (2 * LIMIT), "matchers": ["a=b"]})
    with _client(tmp_path) as client:
        for path in ("/api/v1/silences", "/api/v1/rollouts", "/api/v1/flagger/canary",
                     "/api/v1/flagger/canary/rollback"):
            r = client.post(path, content=big, headers={"content-type": "application/json"})
            assert r.status_code == 413, (path, r.status_code, r.text)
            assert f"limit of {LIMIT} bytes" in r.json()["detail"] and "max_body_bytes" in r.json()["detail"]
        small = client.post("/api/v1/silences", json={"matchers": ["a=b"], "comment": "ok", "duration": "1h"})
        assert small.status_code == 201, small.text  # under the limit the route answers as before


def test_a_streamed_body_without_length_is_cut_at_the_limit(tmp_path):
    chunks = (b'{"comment": "' + b"x" * 1024 for _ in range(16))  # chunked: no Content-Length
    with _client(tmp_path) as client:
        r = client.post("/api/v1/flagger/canary/rollback", content=chunks, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text


def test_content_encoding_on_a_route_that_does_not_decode_is_415(tmp_path):
    body = gzip.compress(json.dumps({"matchers": ["a=b"], "comment": "c", "duration": "1h"}).encode())
    with _client(tmp_path) as client:
        r = client.post("/api/v1/silences", content=body,
                        headers={"content-type": "application/json", "content-encoding": "gzip"})
        assert r.status_code == 415 and "Content-Encoding" in r.json()["detail"], r.text
        # ... while the ingest routes decode it
        r = client.post("/api/v1/sessions", content=gzip.compress(b"[]"),
                        headers={"content-type": "application/json", "content-encoding": "gzip"})
        assert r.status_code != 415, r.text
