"""`sessions_without_nul`, ingest's fast validation of a clean JSON batch: it leaves the NUL
pattern and the `attributes` validators out of the per-record schema and checks them once for
the batch. It must accept exactly what the full schema accepts, as the full schema reads it, and
give way (None) whenever the full schema could refuse a record."""

from __future__ import annotations

import orjson
import pytest
from pydantic import TypeAdapter, ValidationError

from collector.store.schemas import SessionFields, sessions_without_nul

FULL = TypeAdapter(list[SessionFields])
BASE = {"session_id": "s-1", "ts": "2026-11-02T10:00:00Z", "model_version": "m", "status": "ok"}


def _fast(body: bytes):
    try:
        return sessions_without_nul(body)
    except ValidationError:  # the fast schema refused it: so must the full one
        assert _full(body) is None
        return None


def _full(body: bytes):
    try:
        return FULL.validate_json(body)
    except ValidationError:
        return None


@pytest.mark.parametrize("body", [
    orjson.dumps([BASE, {**BASE, "session_id": "s-2", "hypothesis": "hello there", "region": "eu",
                         "attributes": {"accent": "welsh", "no_speech_prob": 0.2, "n": [1, 2.5, {"k": None}]}}]),
    orjson.dumps([{**BASE, "hypothesis": 'say "quoted" \\ back\tslash', "attributes": {"k": "a\\b"}}]),
    orjson.dumps([{**BASE, "hypothesis": "caf\u00e9 \u4f60\u597d"}]),
], ids=["clean", "escapes-without-nul", "unicode"])
def test_a_clean_batch_reads_as_the_full_schema_reads_it(body):
    fast = _fast(body)
    assert fast is not None
    assert fast == _full(body)


@pytest.mark.parametrize("record", [
    {**BASE, "hypothesis": "a\u0000b"},                    # NUL in a text: the pattern refuses it
    {**BASE, "region": "e\u0000u"},
    {**BASE, "attributes": {"k\u0000": 1}},                # NUL in an attributes key
    {**BASE, "attributes": {"k": ["x\u0000"]}},
    {**BASE, "attributes": {"no_speech_prob": 1.5}},       # `_known_attributes`
    {**BASE, "attributes": {"no_speech_prob": True}},
], ids=["hypothesis", "region", "attr-key", "attr-nested", "no-speech-range", "no-speech-bool"])
def test_a_batch_the_full_schema_refuses_is_left_to_it(record):
    body = orjson.dumps([BASE, record])
    assert _full(body) is None  # the record is one the full schema refuses...
    assert _fast(body) is None  # ...so the fast path gives way, and ingest names it


def test_big_integers_and_raw_nul_bytes_are_left_to_the_full_schema():
    big = b'[{"session_id":"s","ts":"2026-11-02T10:00:00Z","model_version":"m","status":"ok","attributes":{"n":' \
          + b"9" * 30 + b"}}]"
    assert _full(big) is None and _fast(big) is None  # not storable as JSON (past 64 bits)
    raw = orjson.dumps([BASE]).replace(b'"s-1"', b'"s\x00-1"')
    assert _fast(raw) is None
    # The text `\u0000` itself (backslash, u, zeros: no NUL) gives way too; the full schema stores it.
    text = orjson.dumps([{**BASE, "hypothesis": "a\\u0000b"}])
    assert _fast(text) is None and _full(text)[0]["hypothesis"] == "a\\u0000b"


def test_a_batch_the_fast_schema_refuses_is_refused_by_the_full_one_too():
    body = orjson.dumps([BASE, {**BASE, "session_id": "s-2", "status": "maybe"}, {**BASE, "regoin": "eu"}])
    with pytest.raises(ValidationError):
        sessions_without_nul(body)
    assert _full(body) is None
