"""schemathesis against the collector's own OpenAPI spec: every operation, with an admin token.

The app runs in-process (ASGI) on a fresh SQLite database seeded through its own API with
sessions, samples, an OTLP trace, a rollout and a silence, so queries serialise real rows.
Each response must not be a 5xx and must match what the spec documents for it: status code,
content type and JSON schema. Hypothesis is derandomized so CI sees the same cases each run.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from prerequisites import need_module
from starlette.testclient import TestClient

schemathesis = need_module("schemathesis")

from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from asrwatch.server import create_app  # noqa: E402
from asrwatch.settings import Settings  # noqa: E402
from collector.store.database import migrate  # noqa: E402

SEEDED = 40  # sessions seed-0 ... seed-39
TOKENS = {"ingest": "fuzz-ingest-token", "read": "fuzz-read-token", "admin": "fuzz-admin-token"}
ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}"}


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx, value):
    # The spec types an NDJSON body as a string: send its text as is (lone surrogates included,
    # as bytes that are not UTF-8), or one JSON document per line when given structured data.
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    items = value if isinstance(value, list) else [value]
    return b"\n".join(json.dumps(item).encode("utf-8", "surrogatepass") for item in items)


SLOS = [
    {"name": "final-latency", "sli": "latency", "threshold_ms": 2000, "objective": 0.99, "window": "1d",
     "group_by": ["model_version"]},
    {"name": "availability", "sli": "availability", "objective": 0.995, "window": "1d"},
    {"name": "quality", "sli": "quality", "max_wer": 0.2, "objective": 0.9, "window": "1d"},
]


def _seed(client: TestClient, now: datetime) -> None:
    sessions = []
    for i in range(SEEDED):
        sessions.append({
            "session_id": f"seed-{i}", "ts": (now - timedelta(minutes=5 * i)).isoformat(),
            "model_version": "v2" if i % 3 else "v1", "region": ("eu", "us")[i % 2],
            "channel": ("telephony", "web", "far_field")[i % 3], "tenant": "acme", "language": "en",
            "pool": "h100", "audio_seconds": 3.0 + i % 5, "first_partial_ms": 150.0 + i,
            "final_latency_ms": 400.0 + 60 * i, "queue_ms": float(i), "partial_rewrites": i % 4,
            # One confidence for all, as engines that report a fixed one do: the drift scan's
            # label-free calibration once failed on it with a 500.
            "status": ("ok", "ok", "ok", "timeout", "decode_error")[i % 5], "confidence": 0.9,
            "snr_db": 20.0 - i % 7, "gpu_seconds": 0.4, "turn_success": i % 4 != 0, "shadow": False,
            "retries": i % 2, "hypothesis": "call me at noon", "trace_id": f"{i:032x}",
        })
    r = client.post("/api/v1/sessions", json=sessions, headers=ADMIN)
    assert r.status_code == 200 and r.json()["accepted"] == len(sessions), r.text
    samples = [{"session_id": f"seed-{i}", "reference": "call me at noon today", "hypothesis": "call me at noon",
                "source": "human"} for i in range(0, SEEDED, 2)]
    r = client.post("/api/v1/samples", json=samples, headers=ADMIN)
    assert r.status_code == 200 and not r.json()["rejected"], r.text
    start = int((now - timedelta(minutes=1)).timestamp() * 1e9)
    trace = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "asr"}}]},
             "scopeSpans": [{"spans": [
                 {"traceId": "ab" * 16, "spanId": "01" * 8, "name": "session", "startTimeUnixNano": str(start),
                  "endTimeUnixNano": str(start + 900_000_000), "attributes": [
                      {"key": "asr.model_version", "value": {"stringValue": "v2"}},
                      {"key": "asr.status", "value": {"stringValue": "ok"}}]},
                 {"traceId": "ab" * 16, "spanId": "02" * 8, "parentSpanId": "01" * 8, "name": "inference",
                  "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 500_000_000)}]}]}]}
    r = client.post("/v1/traces", json=trace, headers=ADMIN)
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/rollouts", headers=ADMIN, json={
        "name": "canary-v2", "baseline_version": "v1", "canary_version": "v2", "min_utterances": 5})
    assert r.status_code in (200, 201), r.text
    r = client.post("/api/v1/silences", headers=ADMIN, json={
        "matchers": ["alertname=SLOBurn"], "duration": "1h", "comment": "fuzz seed"})
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def collector_schema(tmp_path_factory):
    from schemathesis.python import asgi

    tmp = tmp_path_factory.mktemp("fuzz")
    config = Settings(
        database_url=f"sqlite:///{tmp / 'asrwatch.db'}",
        auth={scope: [token] for scope, token in TOKENS.items()},
        slos=SLOS,
        pricing={"default": 2.5, "h100": 4.0},
        max_body_bytes=200_000,
        # The background loops (evaluator, rollout, drift, cost) run once at start and then
        # sleep, so the fuzzed requests are the writers that matter.
        evaluator_interval_s=3600,
    )
    app = create_app(config, run_background=False)
    migrate(app.state.services.engine)
    _seed(TestClient(app), datetime.now(timezone.utc))  # no lifespan here: schemathesis starts it
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    asgi.shutdown_lifespans()  # schemathesis would keep the app (and its loops) until exit


schema = schemathesis.pytest.from_fixture("collector_schema")


# "name: reason" ("since: not an RFC 3339 time", "line 3: invalid JSON"), or FastAPI's own
# wording for a body it cannot decode at all.
_NAMED = re.compile(r"^[\w.\[\]-]+( \w+)?: |^There was an error parsing the body$")


def _error_messages(body) -> list[str]:
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return [body["detail"]]
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        # FastAPI's validation errors: `loc` is the field's path, e.g. ["query", "limit"].
        return ["loc: " + str(item.get("msg")) if item.get("loc") else str(item) for item in body["detail"]]
    if isinstance(body, dict) and isinstance(body.get("rejected"), list):
        # Per-record errors name the client's own keys, whatever characters those hold.
        return ["record: " + str(r.get("error")) if ": " in str(r.get("error")) else str(r) for r in body["rejected"]]
    return []


@schemathesis.check
def errors_name_the_field(ctx, response, case):
    """A rejected request (400/413/422) says which field or part of the body was wrong."""
    if response.status_code not in (400, 413, 422):
        return
    messages = _error_messages(response.json())
    if not messages:
        raise AssertionError(f"{response.status_code} without an error message: {response.text[:200]}")
    unnamed = [m for m in messages if not _NAMED.search(m)]
    if unnamed:
        raise AssertionError(f"{response.status_code} error names no field: {unnamed[0][:200]}")


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          errors_name_the_field]
FUZZ_SETTINGS = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_keeps_its_contract(case):
    case.call_and_validate(headers=ADMIN, checks=CHECKS)


def _for_seeded_sessions(case):
    """A sample is valid only for a stored session, which the spec cannot say: generated JSON
    samples name the seeded sessions, everything else in them as generated."""
    if isinstance(case.body, list):
        case.body = [{**item, "session_id": f"seed-{i % SEEDED}"} if isinstance(item, dict) else item
                     for i, item in enumerate(case.body)]
    return case


@pytest.mark.parametrize("label", ["POST /api/v1/sessions", "POST /api/v1/samples", "POST /v1/traces",
                                   "GET /api/v1/sessions", "GET /api/v1/wer", "GET /api/v1/drift"])
def test_fuzzing_reached_the_success_path_not_only_rejections(collector_schema, label):
    """Generated valid requests are answered 2xx (bodies stored, queries served), so fuzzing
    exercises more than validation. Its own cases, so it holds whatever ran before it."""
    method, path = label.split(" ", 1)
    operation = collector_schema[path][method]
    cases = operation.as_strategy()  # positive: requests the spec calls valid
    if label == "POST /api/v1/samples":
        cases = cases.map(_for_seeded_sessions)
    statuses: set[int] = set()

    @given(case=cases)
    @FUZZ_SETTINGS
    def call(case):
        statuses.add(case.call(headers=ADMIN).status_code)

    call()
    assert any(200 <= code < 300 for code in statuses), (label, sorted(statuses))


def test_the_spec_has_no_dangling_references(collector_schema):
    """A $ref to a missing component made schemathesis (and any client generator) drop the
    JSON body of POST /api/v1/sessions and /samples without a word."""
    raw = collector_schema.raw_schema
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(raw)))
    assert refs and refs <= set(raw["components"]["schemas"])
    # A nested model's local `#/$defs/...` reference (SampleIn's speaker segments) dangles too.
    assert "#/$defs/" not in json.dumps(raw)
    bodies = raw["paths"]["/api/v1/sessions"]["post"]["requestBody"]["content"]
    assert bodies["application/json"]["schema"]["items"]["required"] == ["session_id", "ts", "model_version", "status"]
