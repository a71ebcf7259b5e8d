"""Dimensions from config (#21 item 1) through a running collector, on SQLite and PostgreSQL:
a configured dimension filters and groups every window query and /sessions, takes SLO filters and
group_by, labels /metrics, folds past the cardinality budget, is read from OTLP attributes, and a
dimension added to a running deployment needs no SQL: sessions stored before read `unknown`."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from sqlalchemy import select

from collector.store import make_engine
from collector.store.models import DimensionSlot
from live_collector import running_collector, write_config

DAY = {"since": "2026-11-02T00:00:00Z", "until": "2026-11-03T00:00:00Z"}
ACCENTS = ("scottish", "welsh", "general")


def session(i, version="m1", **attributes):
    return {"session_id": f"{version}-{i}", "ts": f"2026-11-02T10:{i % 60:02d}:00Z", "model_version": version,
            "region": "eu", "status": "timeout" if attributes.get("accent") == "scottish" and i % 2 else "ok",
            "final_latency_ms": 100.0 + i, "attributes": attributes or None}


def _metric_lines(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def test_a_configured_dimension_slices_queries_slos_and_metrics(database_url, tmp_path):
    config = {
        "dimensions": ["accent", "mic_path"], "evaluator_clock": "watermark", "metrics_label_values_max": 3,
        "slos": [{"name": "by-accent", "sli": "availability", "objective": 0.99, "group_by": ["accent"],
                  "filters": {"mic_path": "far"}}],
    }
    records = [session(i, accent=ACCENTS[i % 3], mic_path="far") for i in range(30)]
    records += [session(30 + i) for i in range(6)]  # no attributes: unknown in both
    rare = [session(36 + i, accent=f"rare-{i}", mic_path="near") for i in range(3)]  # past the budget
    with running_collector(tmp_path, config=config, database_url=database_url) as live:
        with live.client("ingest") as http:
            assert http.post("/api/v1/sessions", json=records).json()["accepted"] == len(records)
            assert http.post("/api/v1/sessions", json=rare).json()["accepted"] == len(rare)
            refused = http.post("/api/v1/sessions", json=[
                session(90, accent="welsh"), {**session(91), "attributes": {"accent": {"nested": 1}}},
                {**session(92), "attributes": {"mic_path": "x" * 65}}])
        assert refused.status_code == 200 and refused.json()["accepted"] == 1
        assert [(r["index"], r["error"].split(":")[0]) for r in refused.json()["rejected"]] == \
            [(1, "attributes.accent"), (2, "attributes.mic_path")]
        with live.client("read") as http:
            by_accent = {r["accent"]: r for r in http.get("/api/v1/status", params={**DAY, "group_by": "accent"}).json()}
            scottish = http.get("/api/v1/status", params={**DAY, "accent": "scottish"}).json()
            listed = http.get("/api/v1/sessions", params={**DAY, "accent": "unknown", "limit": 100}).json()
            latency = http.get("/api/v1/latency", params={**DAY, "group_by": "region,mic_path", "step": "1h"}).json()
            typo = http.get("/api/v1/status", params={**DAY, "group_by": "acent"})
            slos = http.get("/api/v1/slos").json()
            metrics = http.get("/metrics").text
    # Budget of 3 values per dimension: scottish, welsh, general are admitted (`unknown` is always
    # kept and not counted); the three rare accents fold into __other__.
    assert {a: r["sessions"] for a, r in by_accent.items()} == \
        {"scottish": 10, "welsh": 11, "general": 10, "unknown": 6, "__other__": 3}
    assert (by_accent["scottish"]["ok"], by_accent["scottish"]["timeout"]) == (5, 5)
    assert [(r["sessions"], r["timeout"]) for r in scottish] == [(10, 5)]
    assert sorted(s["session_id"] for s in listed) == sorted(f"m1-{30 + i}" for i in range(6))
    assert all("dim1" not in s and "dim2" not in s for s in listed)  # slots stay inside the store
    assert {(r["mic_path"], r["final_count"]) for r in latency} == {("far", 30), ("unknown", 7), ("near", 3)}
    assert typo.status_code == 422 and "acent" in typo.json()["detail"] and "accent" in typo.json()["detail"]
    [slo] = slos["slos"]
    groups = {g["group"]["accent"]: (g["good"], g["events"]) for g in slo["groups"]}
    assert groups == {"scottish": (5, 10), "welsh": (10, 10), "general": (10, 10)}  # mic_path=far only
    # /metrics labels the dimensions SLOs use, folded as in the rollups.
    sessions = _metric_lines(metrics, "asrwatch_sessions_total")
    assert any('accent="scottish"' in line and 'mic_path="far"' in line and 'status="timeout"' in line
               and line.endswith(" 5.0") for line in sessions)
    assert not any('accent="rare-' in line for line in sessions)
    assert any('accent="__other__"' in line for line in sessions)


def test_a_dimension_added_later_reads_unknown_before_and_keeps_its_slot(database_url, tmp_path):
    with running_collector(tmp_path, config={"dimensions": ["accent"]}, database_url=database_url) as live:
        with live.client("ingest") as http:
            assert http.post("/api/v1/sessions", json=[session(i, accent="welsh", mic_path="far")
                                                       for i in range(4)]).json()["accepted"] == 4
        live.stop()
        # Added to the running deployment: a restart with the longer list, no SQL.
        write_config(live.config_path, database_url, live.tokens, {"dimensions": ["mic_path", "accent"]})
        live.start()
        with live.client("ingest") as http:
            assert http.post("/api/v1/sessions", json=[session(10 + i, accent="welsh", mic_path="far")
                                                       for i in range(3)]).json()["accepted"] == 3
        with live.client("read") as http:
            rows = http.get("/api/v1/status", params={**DAY, "group_by": "accent,mic_path"}).json()
            before = http.get("/api/v1/sessions", params={**DAY, "mic_path": "unknown"}).json()
    assert {(r["accent"], r["mic_path"]): r["sessions"] for r in rows} == {("welsh", "unknown"): 4, ("welsh", "far"): 3}
    assert len(before) == 4
    engine = make_engine(database_url)
    with engine.connect() as conn:
        slots = dict(conn.execute(select(DimensionSlot.name, DimensionSlot.slot)).all())
    engine.dispose()
    assert slots == {"accent": "dim1", "mic_path": "dim2"}  # first come, first slot; never moved


def test_otlp_spans_give_dimensions_from_span_and_resource_attributes(tmp_path):
    with running_collector(tmp_path, config={"dimensions": ["accent", "client_version"]}) as live:
        provider = TracerProvider(resource=Resource.create({"service.name": "asr", "client_version": "7.1"}))
        exporter = OTLPSpanExporter(endpoint=live.url + "/v1/traces",
                                    headers={"Authorization": f"Bearer {live.tokens['ingest']}"})
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("test")
        for i, attrs in enumerate([{"accent": "welsh"}, {"asr.accent": "scottish", "accent": "welsh"}, {}]):
            with tracer.start_as_current_span("session", attributes={"asr.model_version": "otel", "asr.status": "ok",
                                                                     "asr.session_id": f"otel-{i}", **attrs}):
                pass
        provider.shutdown()
        with live.client("read") as http:
            rows = http.get("/api/v1/status", params={"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z",
                                                      "model_version": "otel",
                                                      "group_by": "accent,client_version"}).json()
    assert {(r["accent"], r["client_version"]): r["sessions"] for r in rows} == \
        {("welsh", "7.1"): 1, ("scottish", "7.1"): 1, ("unknown", "7.1"): 1}


@pytest.mark.parametrize("name", ["sessions", "wer_pairs", "source", "step", "group_by", "__name__", "wer", "node"])
def test_a_name_queries_or_answers_already_use_is_refused(name):
    from asrwatch.settings import Settings

    with pytest.raises(ValueError, match=r"dimensions\[1\]"):
        Settings(dimensions=["accent", name])


def test_dimensions_from_the_environment_comma_separated(monkeypatch):
    from asrwatch.settings import Settings

    monkeypatch.setenv("ASRWATCH_DIMENSIONS", "accent,mic_path")
    assert Settings().dimensions == ["accent", "mic_path"]


def test_values_holding_the_key_separator_stay_apart_and_redaction_fits_the_column(database_url):
    from collector.store import SessionIn, configure_dimensions, make_engine, migrate, queries, store_sessions
    from collector.store.dimensions import attribute_problem
    from datetime import datetime, timezone

    engine = make_engine(database_url)
    migrate(engine)
    configure_dimensions(engine, ["accent", "mic"])
    at = datetime(2026, 11, 2, 11, tzinfo=timezone.utc)
    records = [{"session_id": "p-1", "attributes": {"accent": "a|b", "mic": "c"}},
               {"session_id": "p-2", "attributes": {"accent": "a", "mic": "b|c"}},
               {"session_id": "p-3", "attributes": {"accent": "a", "mic": "b|c"}},
               {"session_id": "p-4", "attributes": {"accent": "a\\", "mic": "|c"}},
               # 64 bytes as sent, 65 once the address in it is redacted ([EMAIL]): cut to the column.
               {"session_id": "p-5", "attributes": {"accent": "x" * 49 + " contact a@b.co", "mic": "c"}}]
    for batch in (records[:2], records[2:]):  # one batch's fold and the stored rows' upsert alike
        store_sessions(engine, [SessionIn.model_validate({**r, "ts": "2026-11-02T10:00:00Z", "model_version": "m",
                                                          "status": "ok"}) for r in batch], at)
    rows = queries.status_by_group(engine, ["accent", "mic"], datetime(2026, 11, 2, tzinfo=timezone.utc), at, {})
    assert {(r["accent"], r["mic"]): r["sessions"] for r in rows} == \
        {("a|b", "c"): 1, ("a", "b|c"): 2, ("a\\", "|c"): 1, ("x" * 49 + " contact [EMAIL", "c"): 1}
    engine.dispose()
    assert attribute_problem({"accent": "x" * 49 + " contact a@b.co"}, ["accent"]) is None
    assert attribute_problem({"accent": "é" * 33}, ["accent"]).startswith("attributes.accent:")  # 66 bytes
    assert attribute_problem({"accent": "x" * 64}, ["accent"]) is None


def test_batch_forms_judge_each_session_as_one_by_one():
    """`attribute_problems` and `stored_values` (ingest's per-batch forms, judging each distinct
    string once) say for every session what `attribute_problem` and `stored_value` say for it,
    including values that are equal as set members but not as stored values (1, 1.0, True)."""
    from collector.store.dimensions import attribute_problem, attribute_problems, stored_value, stored_values

    names = ["accent", "mic"]
    batch = [{"accent": "a", "mic": "near"}, None, {"accent": "é" * 33}, {"accent": "a", "mic": 1.0},
             {"accent": 1, "mic": True}, {"accent": True, "mic": 1}, {}, {"accent": ["x"]}, {"accent": "a\x00"},
             {"accent": "", "mic": "far"}, {"accent": 10 ** 70}, {"accent": "a", "mic": {"k": 1}}]
    expected = {i: attribute_problem(a, names) for i, a in enumerate(batch) if attribute_problem(a, names)}
    assert attribute_problems(batch, names) == expected
    assert sorted(expected) == [2, 3, 7, 8, 10, 11]
    assert attribute_problems([{"accent": "a"}, {"accent": "b"}, None], names) == {}
    for values in (["a", None, "a", "", "x" * 70], [1, True, "1", None, False, 0]):
        assert stored_values(values) == [stored_value(v) for v in values]
    assert stored_values([1, True, 0, False]) == ["1", "true", "0", "false"]
