"""Ingest works a batch as columns (`collector.store.session_batch`, `collector.store.session_fold`, the
batch metrics). Each is checked here against a plain row-by-row count: stored rollups against a
recount of the stored sessions (SQLite and PostgreSQL), new rows as rendered from the columns
against the generic rendering of their delta, and the Prometheus series against observing each
session by itself."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from rollup_compare import recomputed_rollups, rollup_differences, stored_rollups
from sqlalchemy import func, select

from collector.api.metrics import LABELS, CollectorMetrics
from collector.api.routes.ingest import _records
from collector.store.database import make_engine, migrate, read_connection
from collector.store.ingest import score_and_store_samples, store_sessions
from collector.store.models import Session
from collector.store.rollups import upsert_row
from collector.store.schemas import SampleIn, SessionIn
from collector.store.session_batch import SessionBatch
from collector.store.session_fold import fold_sessions

AT = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
STATUSES = ["ok", "ok", "ok", "partial", "decode_error", "dropped", "timeout"]


def _record(rng: random.Random, session_id: str) -> dict:
    """A session as a sender posts it, on few minutes and slices (so batches add to each other's
    rollup rows), with optional fields left out now and then."""
    ts = AT + timedelta(seconds=rng.uniform(0, 180))
    record = {"session_id": session_id, "ts": ts.isoformat(), "model_version": rng.choice(["v1", "v2"]),
              "status": rng.choice(STATUSES)}
    optional = {
        "region": rng.choice(["eu", "us"]), "channel": rng.choice(["web", "telephony"]),
        "tenant": rng.choice(["a", "b"]), "pool": "l4",
        "final_latency_ms": rng.choice([0.0, 300.0, rng.lognormvariate(6.5, 0.6)]),
        "first_partial_ms": rng.lognormvariate(5, 0.5), "queue_ms": rng.expovariate(0.1),
        "confidence": rng.choice([0.0, 0.29, 1.0, rng.random()]), "snr_db": rng.uniform(-100, 200),
        "audio_seconds": rng.uniform(0, 20), "gpu_seconds": rng.uniform(0, 2), "partial_rewrites": rng.randrange(4),
        "turn_success": rng.choice([True, False]), "shadow": rng.random() < 0.2, "retries": rng.randrange(3),
        "hypothesis": rng.choice(["", "  ", "turn it up", "call 415 555 0199 now"]),
        "cache_hit": rng.choice([True, False]), "backend": rng.choice(["self_hosted", "api"]),
    }
    for name, value in optional.items():
        if rng.random() < 0.8:
            record[name] = value
    return record


def test_stored_rollups_equal_a_recount_of_the_stored_sessions(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    rng = random.Random(11)
    sent: list[dict] = []
    for batch_no in range(6):
        records = [_record(rng, f"s{batch_no}-{i}") for i in range(150)]
        records += rng.sample(sent, min(len(sent), 7))  # stored already: the insert looks up which are new
        records.append(records[0])  # repeated within the batch
        if batch_no % 2:  # as the route validates a clean JSON batch: plain dicts
            valid, rejected = _records(orjson.dumps(records), "application/json", SessionIn)
            assert not rejected and isinstance(valid[0][1], dict)
            batch = [record for _, record in valid]
        else:
            batch = [SessionIn.model_validate(r) for r in records]
        stored = store_sessions(engine, batch, AT)
        assert len(stored.accepted) == 150 and stored.duplicates == len(records) - 150
        sent += records[:150]
    with read_connection(engine) as conn:
        assert conn.execute(select(func.count()).select_from(Session.__table__)).scalar() == len(sent)
        assert rollup_differences(stored_rollups(conn), recomputed_rollups(conn)) == []
    engine.dispose()


def test_sessions_added_after_samples_leave_the_samples_counts_as_they_are(database_url):
    """A batch's upsert binds and adds only what sessions count (`SessionDeltas.value_columns`):
    the WER counts and pairs that samples added to the same rollup rows must stay, and new rows
    start with them at zero."""
    engine = make_engine(database_url)
    migrate(engine)
    rng = random.Random(23)
    first = [SessionIn.model_validate(_record(rng, f"a{i}")) for i in range(120)]
    store_sessions(engine, first, AT)
    samples = [(i, SampleIn(session_id=s.session_id, reference="turn it up please", hypothesis="turn it up",
                            source="human")) for i, s in enumerate(first[:60])]
    scored, refused = score_and_store_samples(engine, samples, "basic", AT)
    assert not refused and len(scored) == 60
    later = [SessionIn.model_validate(_record(rng, f"b{i}")) for i in range(120)]  # the same minutes and slices
    store_sessions(engine, later, AT)
    with read_connection(engine) as conn:
        stored = stored_rollups(conn)
        assert sum(row["wer_utterances"] for row in stored.values()) == 60
        assert sum(row["sessions"] for row in stored.values()) == 240
        assert rollup_differences(stored, recomputed_rollups(conn)) == []
    assert "wer_utterances" not in fold_sessions(_batch(rng, 5)).value_columns
    engine.dispose()


def _batch(rng: random.Random, n: int) -> SessionBatch:
    records = [SessionIn.model_validate(_record(rng, f"b{i}")).__dict__ for i in range(n)]
    return SessionBatch.of(records, AT)


def test_rows_render_from_the_columns_as_from_their_deltas():
    """Rows as the SQLite and the PostgreSQL upserts take them."""
    deltas = fold_sessions(_batch(random.Random(3), 400))
    assert len(deltas) > 10
    for key in deltas:
        assert deltas.upsert_row(key) == upsert_row(key, deltas[key], deltas.value_columns)
        assert deltas.minute(key) == deltas[key]["minute"]


def test_batch_metrics_equal_observing_each_session():
    batch = _batch(random.Random(5), 500)
    together, one_by_one = CollectorMetrics({"latency": [1234.5]}), CollectorMetrics({"latency": [1234.5]})
    together.observe_sessions(batch)
    h = one_by_one.histograms
    for row in batch.rows():
        labels = tuple(row[name] for name in LABELS)
        one_by_one.counters["asrwatch_sessions"][labels + (row["status"],)] += 1
        for field, hist in (("final_latency_ms", h["final"]), ("first_partial_ms", h["first_partial"]),
                            ("queue_ms", h["queue"]), ("confidence", h["confidence"]), ("snr_db", h["snr"])):
            if row[field] is not None:
                hist.observe(labels, row[field])
        for field, counter in (("gpu_seconds", "asrwatch_gpu_seconds"), ("audio_seconds", "asrwatch_audio_seconds")):
            if row[field]:
                one_by_one.counters[counter][labels] += row[field]
        if row["status"] == "ok" and row["hypothesis"] is not None and not row["hypothesis"].strip():
            one_by_one.counters["asrwatch_empty_hypotheses"][labels] += 1
        if row["cache_hit"] is not None:
            one_by_one.counters["asrwatch_cache_lookups"][labels] += 1
            one_by_one.counters["asrwatch_cache_hits"][labels] += row["cache_hit"]
        if row["backend"] is not None:
            one_by_one.counters["asrwatch_backend_sessions"][labels] += 1
            one_by_one.counters["asrwatch_fallback_sessions"][labels] += row["backend"] == "api"
    counted = {"asrwatch_cache_lookups", "asrwatch_cache_hits", "asrwatch_backend_sessions",
               "asrwatch_fallback_sessions"}
    assert all(any(one_by_one.counters[name].values()) for name in counted)  # the batch exercises them
    for name, series in one_by_one.counters.items():
        # Issue #16: a label set's every child exists from its first session on, at 0 where
        # nothing was counted; the counted children are those observed one by one.
        got = {k: v for k, v in together.counters[name].items() if v}
        series = {k: v for k, v in series.items() if v}
        assert got.keys() == series.keys(), name
        assert all(math.isclose(got[k], v, rel_tol=1e-12) for k, v in series.items()), name
    label_sets = {key[:-1] for key in together.counters["asrwatch_sessions"]}
    assert label_sets == {tuple(row[name] for name in LABELS) for row in batch.rows()}
    assert len(together.counters["asrwatch_sessions"]) == 5 * len(label_sets)  # one child per status
    for name, hist in one_by_one.histograms.items():
        got = {k: v for k, v in together.histograms[name].series.items() if v.any()}
        assert got.keys() == hist.series.keys(), name
        for labels, state in hist.series.items():
            assert list(got[labels][:-1]) == list(state[:-1]), (name, labels)  # bucket counts, exactly
            assert math.isclose(got[labels][-1], state[-1], rel_tol=1e-12), (name, labels)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_batches(n):
    deltas = fold_sessions(_batch(random.Random(n), n))
    assert sum(d["sessions"] for d in deltas.values()) == n and (len(deltas) > 0) == (n > 0)


def test_a_batch_sent_again_stores_nothing_and_counts_nothing(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    records = [SessionIn.model_validate(_record(random.Random(i), f"again-{i}")) for i in range(20)]
    assert len(store_sessions(engine, records, AT).accepted) == 20
    with read_connection(engine) as conn:
        before = stored_rollups(conn)
    again = store_sessions(engine, records, AT)
    assert len(again.accepted) == 0 and again.duplicates == 20
    with read_connection(engine) as conn:
        assert stored_rollups(conn) == before
    engine.dispose()
