"""Hypothesis properties of the session-record parsers: SessionIn, the body splitter (JSON array,
single object, NDJSON) and the route's fast path, and storage round trips on SQLite and PostgreSQL.

Pure functions are called directly; no server is started. Runs are derandomized (see
`PROFILE`) so CI sees the same examples every time.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from fastapi import HTTPException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from postgres import create_database, drop_database
from pydantic import TypeAdapter, ValidationError

from collector.api.body import parse_records
from collector.api.routes.ingest import _records, _validate
from collector.measures import redact_strings
from collector.measures.redaction import redact
from collector.store.database import make_engine, migrate
from collector.store.ingest import store_sessions
from collector.store.queries import get_session
from collector.store.schemas import MAX_MEASURE, MAX_PARTIAL_REWRITES, SESSION_DEFAULTS, SessionFields, SessionIn

PROFILE = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# -- strategies ------------------------------------------------------------------------------

# JSON text: any character but NUL (PostgreSQL cannot store it) and lone surrogates (not JSON).
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
nonempty = lambda n: st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),  # noqa: E731
                             min_size=1, max_size=n)
measure = st.floats(min_value=0, max_value=MAX_MEASURE, allow_nan=False)
json_scalar = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False,
                                                                                          allow_infinity=False) | text
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner,
                                                                                                    max_size=3),
                          max_leaves=8)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
times = st.builds(lambda t, tz: t.replace(tzinfo=timezone.utc).astimezone(tz),
                  st.datetimes(datetime(1971, 1, 1), datetime(8999, 1, 1)), offsets)

OPTIONAL = {
    "region": nonempty(64), "tenant": nonempty(64), "channel": nonempty(64), "language": nonempty(64),
    "pool": nonempty(64), "audio_seconds": measure, "first_partial_ms": measure, "final_latency_ms": measure,
    "queue_ms": measure, "partial_rewrites": st.integers(0, MAX_PARTIAL_REWRITES),
    "confidence": st.floats(0, 1), "snr_db": st.floats(-100, 200), "gpu_seconds": measure,
    "turn_success": st.booleans(), "shadow": st.booleans(), "retries": st.integers(0, 1000),
    "hypothesis": st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300),
    "trace_id": st.text("0123456789abcdef", min_size=32, max_size=32),
    "attributes": st.dictionaries(text, json_value, max_size=4),
}


@st.composite
def session_records(draw) -> dict[str, Any]:
    """A valid session record as a client sends it (JSON types), with any subset of optional fields."""
    record = {
        "session_id": draw(nonempty(128)), "ts": draw(times).isoformat(), "model_version": draw(nonempty(128)),
        "status": draw(st.sampled_from(["ok", "partial", "decode_error", "dropped", "timeout"])),
    }
    for name in draw(st.sets(st.sampled_from(sorted(OPTIONAL)))):
        record[name] = draw(OPTIONAL[name])
    return record


INVALID = {
    "session_id": st.sampled_from(["", "x" * 129, 7, None, "a\x00b", ["a"]]),
    "ts": st.sampled_from(["2026-11-01T10:00:00", "yesterday", "", None, True, "0001-01-01T00:00:00+01:00",
                           "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z", "9000-01-01T00:00:00Z"]),
    "model_version": st.sampled_from(["", "m" * 129, 3, None, "v\x00"]),
    "region": st.sampled_from(["", "r" * 65, 5, "\x00", {}]),
    "channel": st.sampled_from(["", "c" * 65, 1.5, False]),
    "audio_seconds": st.sampled_from([-0.001, MAX_MEASURE * 2, "3.2", True, 1e308]),
    "final_latency_ms": st.sampled_from([-1.0, 1e10, "fast", []]),
    "gpu_seconds": st.sampled_from([-5.0, 1e300, "0"]),
    "partial_rewrites": st.sampled_from([-1, 1.5, MAX_PARTIAL_REWRITES + 1, 2**70, "3"]),
    "status": st.sampled_from(["exploded", "OK", None, 1, ""]),
    "confidence": st.sampled_from([-0.1, 1.1, "high", 2]),
    "snr_db": st.sampled_from([-101.0, 201.0, "loud"]),
    "turn_success": st.sampled_from(["yes", 1, 0, "true"]),
    "shadow": st.sampled_from(["no", 1]),
    "retries": st.sampled_from([-1, 1001, 1.0, "2"]),
    "hypothesis": st.sampled_from(["h" * 20_001, 5, "a\x00b", ["a"]]),
    "trace_id": st.sampled_from(["XYZ", "a" * 31, "A" * 32, "0" * 33, 12]),
    "attributes": st.sampled_from([[], "x", 3, {"n": 2**70}]),
}


# -- SessionIn --------------------------------------------------------------------------------

@PROFILE
@given(session_records())
def test_valid_records_validate_and_round_trip_through_json(record):
    model = SessionIn.model_validate(record)
    again = SessionIn.model_validate(orjson.loads(orjson.dumps(model.model_dump(mode="json", exclude_unset=True))))
    assert again == model
    assert set(model.model_fields_set) == set(record)


@PROFILE
@given(session_records(), st.sampled_from(sorted(INVALID)).flatmap(lambda f: st.tuples(st.just(f), INVALID[f])))
def test_one_invalid_field_is_rejected_naming_that_field_only(record, bad):
    field, value = bad
    record = {**record, field: value}
    valid, rejected = _validate([(0, record)], SessionIn)
    assert valid == [] and len(rejected) == 1
    error = rejected[0].error
    assert error.startswith(f"{field}:"), error
    assert all(part.split(":")[0] == field for part in error.split("; ")), error


@PROFILE
@given(session_records(), st.sampled_from(["session_id", "ts", "model_version", "status"]),
       st.from_regex(r"[a-z_]{3,12}", fullmatch=True))
def test_missing_required_and_unknown_fields_are_named(record, missing, unknown):
    _, rejected = _validate([(0, {k: v for k, v in record.items() if k != missing})], SessionIn)
    assert rejected[0].error == f"{missing}: required field is missing"
    if unknown not in SessionIn.model_fields:
        _, rejected = _validate([(0, {**record, unknown: 1})], SessionIn)
        assert rejected[0].error == f"{unknown}: unknown field"


FIELDS = TypeAdapter(list[SessionFields])


def _outcome(validate, value) -> Any:
    try:
        return validate(value)
    except ValidationError:
        return None


@PROFILE
@given(session_records(), st.none() | st.sampled_from(sorted(INVALID)).flatmap(
    lambda f: st.tuples(st.just(f), INVALID[f])))
def test_plain_dict_validation_takes_exactly_what_the_model_takes(record, bad):
    """Ingest validates clean batches into plain dicts (`SessionFields`), the rest with the model."""
    if bad is not None:
        record = {**record, bad[0]: bad[1]}
    model = _outcome(SessionIn.model_validate, record)
    fields = _outcome(FIELDS.validate_python, [record])
    assert (model is None) == (fields is None), (record, model)
    if model is not None:
        assert {**SESSION_DEFAULTS, **fields[0]} == model.__dict__
    try:
        body = orjson.dumps([record])
    except TypeError:  # an integer past 64 bits: not JSON a sender could post
        return
    model = _outcome(SessionIn.model_validate_json, body[1:-1])
    fields = _outcome(FIELDS.validate_json, body)
    assert (model is None) == (fields is None), (record, model)
    if model is not None:
        assert {**SESSION_DEFAULTS, **fields[0]} == model.__dict__


# -- bodies: JSON array, single object, NDJSON ---------------------------------------------------

content_types = st.sampled_from(["application/json", "application/x-ndjson", "", "text/plain",
                                 "application/json; charset=utf-8", "application/x-ndjson; charset=utf-8"])


def _parse_or_http_error(body: bytes, content_type: str) -> list | HTTPException:
    try:
        return parse_records(body, content_type)
    except HTTPException as exc:
        return exc


@PROFILE
@given(st.binary(max_size=300) | st.builds(lambda v: orjson.dumps(v), json_value), content_types)
def test_arbitrary_bytes_give_records_or_a_documented_4xx(body, content_type):
    out = _parse_or_http_error(body, content_type)
    if isinstance(out, HTTPException):
        assert out.status_code in (400, 422) and out.detail.startswith("body:"), out.detail
        return
    assert [index for index, _ in out] == list(range(len(out))) and out
    for _, item in out:
        if isinstance(item, ValueError):
            assert str(item).startswith("line "), item


@PROFILE
@given(st.binary(max_size=300) | st.builds(lambda v: orjson.dumps(v), st.lists(json_value, max_size=4)),
       content_types)
def test_the_routes_fast_path_never_raises_anything_but_http_4xx(body, content_type):
    try:
        valid, rejected = _records(body, content_type, SessionIn)
    except HTTPException as exc:
        assert exc.status_code in (400, 422), exc.detail
        return
    # Every record is either stored or named, never both, never dropped silently.
    indexes = sorted([i for i, _ in valid] + [r.index for r in rejected])
    assert indexes == list(range(len(indexes))) and indexes


@PROFILE
@given(st.lists(session_records(), min_size=1, max_size=5), st.sampled_from([b"\n", b"\r\n"]),
       st.lists(st.sampled_from([b"", b" ", b"\t", b"\r"]), max_size=3), st.booleans(),
       st.sampled_from(["application/x-ndjson", "application/json", ""]))
def test_ndjson_blank_lines_trailing_newline_and_crlf(records, newline, blanks, trailing, content_type):
    lines = []
    for i, record in enumerate(records):
        lines.append(orjson.dumps(record))
        if i < len(blanks):
            lines.append(blanks[i])  # a blank line between records is skipped, not counted
    body = newline.join(lines) + (newline if trailing else b"")
    parsed = parse_records(body, content_type)
    assert [item for _, item in parsed] == records
    assert [index for index, _ in parsed] == list(range(len(records)))
    as_array = parse_records(orjson.dumps(records), "application/json")
    assert as_array == parsed


@PROFILE
@given(st.lists(session_records(), min_size=1, max_size=4), st.data())
def test_a_broken_ndjson_line_is_rejected_alone(records, data):
    broken = data.draw(st.integers(0, len(records)))
    lines = [orjson.dumps(r) for r in records]
    lines.insert(broken, b'{"session_id": oops')
    valid, rejected = _records(b"\n".join(lines), "application/x-ndjson", SessionIn)
    assert [r.index for r in rejected] == [broken] and rejected[0].error.startswith(f"line {broken + 1}:")
    assert [m.session_id for _, m in valid] == [r["session_id"] for r in records]


# -- storage round trip on both engines ----------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('props') / 'asrwatch.db'}"
    else:
        url = create_database()
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()
    if request.param == "postgresql":
        drop_database(url)


_unique = itertools.count()


@settings(PROFILE, max_examples=25)
@given(st.lists(session_records(), min_size=1, max_size=4), st.booleans())
def test_valid_records_are_stored_and_read_back_unchanged(engine, records, as_posted):
    prefix = f"p{next(_unique)}-"
    records = [{**r, "session_id": (prefix + r["session_id"])[:128]} for r in records]
    models = [SessionIn.model_validate(r) for r in records]
    if as_posted:  # what the route stores for a clean JSON batch: plain dicts
        valid, _ = _records(orjson.dumps(records), "application/json", SessionIn)
        stored = store_sessions(engine, [fields for _, fields in valid], datetime.now(timezone.utc))
    else:
        stored = store_sessions(engine, models, datetime.now(timezone.utc))
    first = {m.session_id: m for m in reversed(models)}  # a repeated id in one batch: the first one counts
    assert len(stored.accepted) == len(first) and stored.duplicates == len(models) - len(first)
    for session_id, model in first.items():
        row = get_session(engine, session_id)
        assert row is not None
        ts = row["ts"] if row["ts"].tzinfo else row["ts"].replace(tzinfo=timezone.utc)
        assert ts == model.ts
        assert row["model_version"] == model.model_version and row["status"] == model.status
        for dim in ("region", "tenant", "channel", "language", "pool"):
            assert row[dim] == (getattr(model, dim) or "unknown")
        for name in ("audio_seconds", "first_partial_ms", "final_latency_ms", "queue_ms", "confidence", "snr_db",
                     "gpu_seconds"):
            assert row[name] == getattr(model, name), name  # exactly: floats are stored as doubles
        for name in ("partial_rewrites", "turn_success", "shadow", "retries", "trace_id"):
            assert row[name] == getattr(model, name), name
        assert row["attributes"] == (None if model.attributes is None else redact_strings(model.attributes))
        assert row["hypothesis"] == redact(model.hypothesis)
