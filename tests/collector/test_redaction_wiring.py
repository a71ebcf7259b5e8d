"""Where redaction is applied (issue #19, items 2 and 4), on SQLite and PostgreSQL through the API:

- text is redacted wherever it enters: a session's hypothesis and every string in its
  `attributes`, a sample's reference and hypothesis, OTLP span names, span and resource
  attributes (span events are not kept at all), and the raw PII is nowhere in the database;
- every read that returns such text writes a `transcript.read` audit row;
- WER is computed on the texts as sent, so redaction never changes a score.

The patterns themselves are tested in test_redaction.py; here only texts every version of them
redacts (emails, Luhn-valid cards, NANP phone numbers, runs of spoken digits).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select

from asrwatch.server import create_app
from asrwatch.settings import Settings
from collector.measures import redact_strings, redact_values
from collector.store.audit import sessions_with_text
from collector.store.database import make_engine

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
PHONE = "4155550199"
SPOKEN = "five five five zero one nine nine"
RAW = ("jane.doe", "example.com", "4111", "5550199", "five five five")  # none may be stored


def _now_minus(minutes: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).isoformat()


def _session(sid: str, **fields) -> dict:
    return {"session_id": sid, "ts": _now_minus(5), "model_version": "wiring-v1", "status": "ok",
            "final_latency_ms": 300.0, **fields}


@pytest.fixture
def client(database_url):
    app = create_app(Settings(database_url=database_url, evaluator_enabled=False), run_background=False)
    with TestClient(app) as http:
        yield http


def _database_text(database_url: str) -> str:
    """Every row of every table, as text: what anyone with the database would see."""
    engine = make_engine(database_url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return "\n".join(str(row) for table in meta.sorted_tables for row in conn.execute(select(table)))
    finally:
        engine.dispose()


def _transcript_reads(client) -> list[dict]:
    r = client.get("/api/v1/audit", params={"action": "transcript.read", "limit": 5000})
    assert r.status_code == 200, r.text
    return r.json()


# -- pure ------------------------------------------------------------------------------------


def test_redact_strings_reaches_every_nested_string_and_keeps_keys_and_numbers():
    value = {"caller": {"email": EMAIL, "phones": [PHONE, {"home": f"call {PHONE}"}]}, "n": 4111111111111111,
             "ok": True, "none": None, "plain": "mobile-sdk-7.4.0", f"note {EMAIL}": 1}
    out = redact_strings(value)
    assert out == {"caller": {"email": "[EMAIL]", "phones": ["[PHONE]", {"home": "call [PHONE]"}]},
                   "n": 4111111111111111, "ok": True, "none": None, "plain": "mobile-sdk-7.4.0",
                   f"note {EMAIL}": 1}  # keys are field names: kept, as the OTel redaction processor does
    assert value["caller"]["email"] == EMAIL  # the input is not changed in place
    # Repeats of clean values are remembered (ingest's hot path); PII never is, and stays redacted.
    assert redact_strings(value) == out
    assert "mobile-sdk-7.4.0" in redact_values._CLEAN
    assert not [text for text in redact_values._CLEAN if EMAIL in text or PHONE in text]


def test_attributes_and_stages_count_as_text_for_the_audit():
    rows = [{"session_id": "bare", "hypothesis": None, "attributes": None, "stages": [], "samples": []},
            {"session_id": "attrs", "hypothesis": None, "attributes": {"k": "v"}},
            {"session_id": "stages", "hypothesis": None, "stages": [{"name": "inference", "attributes": None}]},
            {"session_id": "empty-attrs", "attributes": {}}]
    assert sessions_with_text(rows) == ["attrs", "stages"]


# -- sessions and samples through the API ------------------------------------------------------


def test_session_hypothesis_and_nested_attributes_are_stored_redacted(client, database_url):
    attributes = {"caller": {"email": EMAIL, "numbers": [PHONE, f"card {CARD}"]}, "client_version": "7.4.0",
                  "retries": 2}
    r = client.post("/api/v1/sessions", json=[_session("w-attrs", hypothesis=f"mail {EMAIL} or call {PHONE}",
                                                       attributes=attributes)])
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    stored = client.get("/api/v1/sessions/w-attrs").json()
    assert stored["hypothesis"] == "mail [EMAIL] or call [PHONE]"
    assert stored["attributes"] == {"caller": {"email": "[EMAIL]", "numbers": ["[PHONE]", "card [CARD]"]},
                                    "client_version": "7.4.0", "retries": 2}
    dump = _database_text(database_url)
    assert "client_version" in dump  # the dump does hold the sessions' attributes...
    assert not [raw for raw in RAW if raw in dump]  # ...but none of the PII


def test_reads_of_attributes_or_stages_are_audited(client):
    sent = client.post("/api/v1/sessions", json=[
        _session("w-only-attrs", attributes={"note": "vip caller"}),
        _session("w-nothing"),
    ])
    assert sent.json()["accepted"] == 2, sent.text
    before = len(_transcript_reads(client))
    assert client.get("/api/v1/sessions/w-only-attrs").json()["attributes"] == {"note": "vip caller"}
    assert client.get("/api/v1/sessions/w-nothing").json()["attributes"] is None
    listed = client.get("/api/v1/sessions", params={"model_version": "wiring-v1"}).json()
    assert {"w-only-attrs", "w-nothing"} <= {s["session_id"] for s in listed}
    rows = _transcript_reads(client)
    new = rows[: len(rows) - before]
    assert len(new) == 2, new  # the attribute-bearing read and the listing; not the bare session
    by_endpoint = {e["evidence"]["endpoint"]: e for e in new}
    assert by_endpoint["GET /api/v1/sessions/{session_id}"]["target"] == "w-only-attrs"
    assert by_endpoint["GET /api/v1/sessions"]["evidence"]["session_ids"] == ["w-only-attrs"]
    assert "vip caller" not in str(rows)


def test_redaction_never_changes_wer_and_only_redacted_text_is_stored(client, database_url):
    """The issue's example: a correct transcript of a spoken phone number scores 0."""
    reference, hypothesis = f"my number is {SPOKEN}", "my number is 5550199"
    client.post("/api/v1/sessions", json=[_session("w-wer", hypothesis=hypothesis)])
    r = client.post("/api/v1/samples", json=[{"session_id": "w-wer", "reference": reference,
                                              "hypothesis": hypothesis}])
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["wer"] == 0.0
    (scored,) = [s for s in client.get("/api/v1/samples", params={"model_version": "wiring-v1"}).json()
                 if s["session_id"] == "w-wer"]
    assert (scored["wer"], scored["substitutions"], scored["deletions"], scored["insertions"]) == (0.0, 0, 0, 0)
    assert scored["ref_words"] == 4  # "my number is 5550199" after the whisper_en normalizer
    (sample,) = client.get("/api/v1/sessions/w-wer").json()["samples"]
    assert sample["reference"] == "my number is [PHONE]"  # stored redacted...
    assert sample["hypothesis"] == hypothesis  # ...(an ordinary 7-digit number is no PII pattern)
    assert SPOKEN not in _database_text(database_url)


def test_a_pii_span_in_both_texts_scores_as_sent(client, database_url):
    reference = "please call four one five five five five zero one nine nine today"
    hypothesis = f"please call {PHONE} today"
    client.post("/api/v1/sessions", json=[_session("w-both")])
    r = client.post("/api/v1/samples", json=[{"session_id": "w-both", "reference": reference,
                                              "hypothesis": hypothesis}])
    assert r.json()["results"][0]["wer"] == 0.0, r.text
    (sample,) = client.get("/api/v1/sessions/w-both").json()["samples"]
    assert (sample["reference"], sample["hypothesis"]) == ("please call [PHONE] today", "please call [PHONE] today")
    assert PHONE not in _database_text(database_url)


@pytest.mark.parametrize("session_hypothesis, reference, stored_hypothesis", [
    # Redaction left the session's hypothesis as sent: scored on it exactly.
    ("my number is 5550199", f"my number is {SPOKEN}", "my number is 5550199"),
    # It replaced a phone number: the reference is redacted alike, placeholder against placeholder.
    (f"call me at {PHONE}", "call me at four one five five five five zero one nine nine", "call me at [PHONE]"),
])
def test_a_sample_without_hypothesis_takes_the_sessions_stored_one(client, session_hypothesis, reference,
                                                                   stored_hypothesis):
    client.post("/api/v1/sessions", json=[_session("w-fallback", hypothesis=session_hypothesis)])
    r = client.post("/api/v1/samples", json=[{"session_id": "w-fallback", "reference": reference}])
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["wer"] == 0.0
    (sample,) = client.get("/api/v1/sessions/w-fallback").json()["samples"]
    assert sample["hypothesis"] == stored_hypothesis
    assert "[PHONE]" in sample["reference"] and "five five" not in sample["reference"]


# -- OTLP -------------------------------------------------------------------------------------

TRACE = "5b8efff798038103d269b633813fc60c"
ROOT, CHILD = "eee19b7ec3c1b174", "eee19b7ec3c1b175"
T0 = int((datetime.now(timezone.utc) - timedelta(minutes=5)).timestamp()) * 10**9


def _kv(key: str, value) -> dict:
    if isinstance(value, dict):
        return {"key": key, "value": {"kvlistValue": {"values": [_kv(k, v) for k, v in value.items()]}}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def _otlp_body() -> dict:
    long_name = "x" * 120 + f" {EMAIL}"  # PII across the 128-character cut of the stage name
    root = {"traceId": TRACE, "spanId": ROOT, "name": f"session for {EMAIL}", "kind": 2,
            "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T0 + 900_000_000),
            "attributes": [_kv("asr.model_version", "wiring-otlp"), _kv("asr.status", "ok"),
                           _kv("asr.hypothesis", f"my card is {CARD}"),
                           _kv("asr.caller", {"email": EMAIL, "phones": [PHONE]}),
                           _kv("http.user_agent", f"app/1.0 ({EMAIL})")],
            "events": [{"timeUnixNano": str(T0 + 1000), "name": f"transfer to {PHONE}",
                        "attributes": [_kv("spoken", f"number {SPOKEN}")]}]}
    child = {"traceId": TRACE, "spanId": CHILD, "parentSpanId": ROOT, "name": long_name,
             "startTimeUnixNano": str(T0 + 1000), "endTimeUnixNano": str(T0 + 50_000_000),
             "attributes": [_kv("decode.note", {"said": f"call {PHONE}", "n": 3.0})],
             "events": [{"timeUnixNano": str(T0 + 2000), "name": f"mail {EMAIL}", "attributes": []}]}
    resource = {"attributes": [_kv("service.name", "asr-server"), _kv("deployment.owner", EMAIL)]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "asr"},
                                                                    "spans": [root, child]}]}]}


def test_otlp_names_events_span_and_resource_attributes_are_redacted(client, database_url):
    r = client.post("/v1/traces", json=_otlp_body())
    assert r.status_code == 200, r.text
    stored = client.get(f"/api/v1/sessions/{TRACE}").json()
    assert stored["model_version"] == "wiring-otlp"
    assert stored["hypothesis"] == "my card is [CARD]"
    assert stored["attributes"] == {"caller": {"email": "[EMAIL]", "phones": ["[PHONE]"]}}
    stages = {s["span_id"]: s for s in stored["stages"]}
    root, child = stages[ROOT], stages[CHILD]
    assert root["name"] == "session for [EMAIL]"
    assert root["attributes"] == {"http.user_agent": "app/1.0 ([EMAIL])", "service.name": "asr-server",
                                  "deployment.owner": "[EMAIL]"}  # the resource's attributes too
    assert child["name"] == "x" * 120 + " [EMAIL]"  # redacted, then cut to 128 characters
    assert child["attributes"] == {"decode.note": {"said": "call [PHONE]", "n": 3.0},
                                   "service.name": "asr-server", "deployment.owner": "[EMAIL]"}
    dump = _database_text(database_url)
    assert "asr-server" in dump  # the stages are in the dump...
    assert not [raw for raw in RAW if raw in dump]  # ...with no PII: not from names, attributes or events
    # A read of the stages is audited, and the audit row holds no text.
    reads = [e for e in _transcript_reads(client) if e["target"] == TRACE]
    assert len(reads) == 1 and "asr-server" not in str(reads)


# -- the stall vector: one huge string ----------------------------------------------------------


def test_cap_text_cuts_at_a_token_boundary_and_drops_a_split_number():
    cap = redact_values.cap_text
    assert cap("short", 10) == "short"
    assert cap("ab cd ef", 5) == "ab cd"                         # the cut falls on a space
    assert cap("ab cdef gh", 5) == "ab "                          # a token split by the cut goes
    assert cap("call 415 555 0199 now", 14) == "call"             # a number read in groups goes whole
    assert cap("x" * 5000, 4096) == "x" * 4096                    # one huge token is cut where it is
    assert len(cap("1 " * 10_000)) <= redact_values.MAX_ATTRIBUTE_CHARS


def test_a_huge_attribute_string_and_span_name_are_capped_and_still_redacted(client, database_url):
    # 4 MB of text in one attribute (redaction costs about a microsecond per character, inside the
    # write turn): it is cut to MAX_ATTRIBUTE_CHARS first, then redacted. No timing is asserted.
    filler = "please call me back " * 209_716  # about 4 MB
    huge = f"my email is {EMAIL} and {filler}"
    assert len(huge) > 4_000_000
    r = client.post("/api/v1/sessions", json=[_session("w-huge", attributes={"note": huge, "n": 1})])
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    stored = client.get("/api/v1/sessions/w-huge").json()["attributes"]
    assert stored["n"] == 1
    assert len(stored["note"]) <= redact_values.MAX_ATTRIBUTE_CHARS
    assert stored["note"].startswith("my email is [EMAIL] and please call me back ")
    # The same through OTLP: a 4 MB span attribute and a 1 MB span name.
    body = _otlp_body()
    child = body["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    child["name"] = f"{EMAIL} " + "y" * 1_000_000
    child["attributes"].append(_kv("huge", f"call {PHONE} " + filler))
    r = client.post("/v1/traces", json=body)
    assert r.status_code == 200, r.text
    stages = {s["span_id"]: s for s in client.get(f"/api/v1/sessions/{TRACE}").json()["stages"]}
    assert stages[CHILD]["name"] == "[EMAIL] " + "y" * 120
    note = stages[CHILD]["attributes"]["huge"]
    assert note.startswith("call [PHONE] please call me back") and len(note) <= redact_values.MAX_ATTRIBUTE_CHARS
    dump = _database_text(database_url)
    assert not [raw for raw in RAW if raw in dump]
