"""The second speed pass against the code it replaced (`drift_reference`), on SQLite and
PostgreSQL: the samples reader (samples first on SQLite), the transcript reader (plain tuples,
then columns), the vocabulary code (each slice reads only its own texts' tokens; the corpus built
per distinct text; label masks from codes) and the whole report."""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, select

from collector.store.database import make_engine, migrate
from collector.store.models import Sample, Session
from drift import features, scan, service, source, transcripts, vocabulary
from drift.config import DriftConfig, Windows
from drift.models import DriftBaseline
from drift.service import scan_database

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
import drift_reference as old  # noqa: E402

AT = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
WORDS = ["hello", "order", "pizza", "don't", "cancel", "refund", "agent", "café", "42", "Zorvex"]


def _text(rng, new_term: bool) -> str:
    words = list(rng.choice(WORDS[:-1], int(rng.integers(1, 9))))
    if new_term:
        words.insert(int(rng.integers(len(words) + 1)), "zorvex")
    return " ".join(words) + rng.choice(["", ".", " !", "  "])


def _store(url: str, n: int = 2400):
    """Both windows, a pinned span, rows outside; sessions sharing one ts (the tie order
    matters); two sample sources per session; a new term 'zorvex' in region b's current
    references that the hypotheses miss; repeated, empty and missing texts."""
    engine = make_engine(url)
    migrate(engine)
    rng = np.random.default_rng(11)
    now = datetime.now(timezone.utc)
    sessions, samples = [], []
    for i in range(n):
        sid = f"s{(i * 7919) % n:05d}"  # ids out of insertion order: ties in ts must keep insertion order
        ts = AT - timedelta(hours=float(rng.uniform(-2, 9 * 24)))
        if i % 50 < 4:
            ts = AT - timedelta(hours=3 + i // 50)  # four sessions at the same instant
        current = AT - timedelta(hours=24) <= ts < AT
        region = "abc"[int(rng.integers(3))]
        hypothesis = [None, "", "hello order", _text(rng, False)][int(rng.integers(4))]
        sessions.append({
            "session_id": sid, "ts": ts, "received_at": now, "model_version": ["m1", "m2"][i % 2],
            "region": region, "tenant": f"t{int(rng.integers(3))}", "channel": ["web", "mobile"][int(rng.integers(2))],
            "language": "en", "pool": "default", "status": "ok", "audio_seconds": float(rng.uniform(1, 9)),
            "first_partial_ms": 200.0, "final_latency_ms": float(rng.lognormal(6, 0.5)), "partial_rewrites": 1,
            "confidence": None if rng.random() < 0.05 else float(rng.beta(8, 2)), "snr_db": 20.0,
            "hypothesis": hypothesis, "shadow": False, "retries": 0})
        if rng.random() < 0.35:
            new_term = current and region == "b" and rng.random() < 0.6
            reference = _text(rng, new_term)
            missed = reference.replace("zorvex", "zero ex")
            for source_ in ("human", "vendor")[: 1 + int(rng.random() < 0.3)]:
                samples.append({
                    "session_id": sid, "source": source_, "ts": ts, "received_at": now, "reference": reference,
                    "hypothesis": missed, "wer": 0.0, "substitutions": int(rng.integers(0, 4)), "deletions": 0,
                    "insertions": int(rng.integers(0, 2)), "ref_words": max(len(reference.split()), 1)})
    with engine.begin() as conn:
        conn.execute(insert(Session), sessions)
        conn.execute(insert(Sample), samples)
    return engine


def _pins(engine, pinned: bool) -> dict:
    if pinned:
        with engine.begin() as conn:
            conn.execute(insert(DriftBaseline), [{"model_version": "m2", "reference_start": AT - timedelta(days=9),
                                                  "reference_end": AT - timedelta(days=5), "pinned_at": AT,
                                                  "pinned_by": "test", "note": ""}])
    return source.load_pins(engine)


@pytest.mark.parametrize("pinned", [False, True])
def test_readers_equal_the_old_ones(database_url, pinned):
    engine = _store(database_url)
    pins = _pins(engine, pinned)
    config = DriftConfig(max_hypotheses=240)  # 10 per slot: the slot limits bite
    windows = Windows.ending_at(AT, config)
    before = old.load_samples(engine, windows, config, pins)
    after = source.load_samples(engine, windows, config, pins)
    assert after == before  # same rows, same order, same values
    assert len(after["ts"]) > 300 and None in after["confidence"] and len(set(after["ts"])) < len(after["ts"])
    texts = transcripts.load_texts(engine, windows, config, pins, after)
    assert texts.rows() == old.load_texts(engine, windows, config, pins, before)  # as columns, the same texts
    assert (texts.kind == vocabulary.TRAFFIC).sum() > 200 and "" in texts.text
    engine.dispose()


def test_vocabulary_equals_the_old_code_on_every_mask():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(3000):
        window = int(rng.random() < 0.4)
        text = None if i % 17 == 0 else _text(rng, window == 1 and i % 3 == 0)
        kind = int(rng.integers(3))
        rows.append((window, float(i), f"s{i // 2}", text if kind != vocabulary.LABELED_HYPOTHESIS else
                     (text or "").replace("zorvex", "zero"), kind))
    a, b = old.build_corpus(rows), vocabulary.build_corpus(rows)
    for name in ("token", "text", "window", "ts", "session", "kind"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.terms == b.terms and a.session_ids == b.session_ids
    masks = [np.ones(len(b), dtype=bool), np.zeros(len(b), dtype=bool), rng.random(len(b)) < 0.3,
             np.arange(len(b)) % 5 == 0]
    seen_new_terms = False
    for mask in masks:
        for hold in (1000.0, 2500.0):
            before = old.vocabulary_drift(a, mask, hold, min_count=2, min_sessions=2, min_labeled=1)
            after = vocabulary.vocabulary_drift(b, mask, hold, min_count=2, min_sessions=2, min_labeled=1)
            assert json.dumps(after.to_dict()) == json.dumps(before.to_dict())
            seen_new_terms |= bool(after.misrecognized)
    assert seen_new_terms  # the comparison covered the misses, not only the counts


@pytest.mark.parametrize("pinned", [False, True])
def test_report_equals_the_old_paths(database_url, monkeypatch, pinned):
    engine = _store(database_url)
    _pins(engine, pinned)
    config = DriftConfig(max_hypotheses=240, min_reference=30, min_current=30, vocabulary_min_count=3)
    new = scan_database(engine, config, AT)
    with monkeypatch.context() as m:
        m.setattr(service, "load_samples", old.load_samples)
        m.setattr(service, "load_texts", old.load_texts)
        m.setattr(vocabulary, "build_corpus", old.build_corpus)
        m.setattr(vocabulary, "vocabulary_drift", old.vocabulary_drift)
        m.setattr(scan, "_vocabulary", old.scan_vocabulary)
        before = scan_database(engine, config, AT)
    assert json.dumps(new.to_dict()) == json.dumps(before.to_dict())
    assert any(f.kind == "vocabulary" for f in new.findings)  # the vocabulary part was compared, not empty
    engine.dispose()


def test_postgresql_reads_the_sessions_beside_the_samples(database_url):
    """On PostgreSQL the sessions' one-row read runs on a worker thread while this one reads the
    samples (the server builds that row while the client would only wait); on
    SQLite it stays on the calling thread. The report is the one the sequential order gives, and
    an error in the worker reaches the caller."""
    engine = _store(database_url, n=600)
    config = DriftConfig(max_hypotheses=240, min_reference=30, min_current=30)
    threads = []

    def reader(*args):
        threads.append(threading.current_thread() is threading.main_thread())
        return source.load_sessions(*args)

    report = scan_database(engine, config, AT, read_sessions=reader)
    assert threads == [engine.dialect.name != "postgresql"]
    windows = Windows.ending_at(AT, config)
    pins = source.load_pins(engine)
    sessions = features.session_table(source.load_sessions(engine, windows, pins))
    raw = source.load_samples(engine, windows, config, pins)
    samples = features.sample_table(raw, {name: enc.levels for name, enc in sessions.categorical.items()})
    sequential = scan.run_scan(sessions, samples, windows, config, transcripts.load_texts(engine, windows, config,
                                                                                           pins, raw))
    sequential.counts["pinned_baselines"] = len(pins)
    assert json.dumps(report.to_dict()) == json.dumps(sequential.to_dict())
    assert report.counts["sessions_reference"] > 100 and report.counts["texts"] > 100

    def failing(*args):
        raise RuntimeError("the sessions read failed")

    with pytest.raises(RuntimeError, match="the sessions read failed"):
        scan_database(engine, config, AT, read_sessions=failing)
    engine.dispose()


def test_event_time_is_the_timestamp(database_url):
    """Times read as epoch microseconds (`source.event_time`, PostgreSQL) or as SQLite's text
    become exactly the seconds `datetime.timestamp` gives, at the edges of a microsecond."""
    engine = make_engine(database_url)
    migrate(engine)
    stamps = [datetime(2026, 11, 20, 12, 0, 0, 999_999, tzinfo=timezone.utc),
              datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=timezone.utc),
              datetime(2026, 11, 20, 12, 0, 0, 1, tzinfo=timezone.utc),
              datetime(2999, 1, 1, 0, 0, 0, 123_457, tzinfo=timezone.utc),
              datetime(2026, 3, 29, 1, 30, 0, 500_000, tzinfo=timezone(timedelta(hours=2)))]
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(Session), [{
            "session_id": f"t{i}", "ts": ts, "received_at": now, "model_version": "m", "region": "r", "tenant": "t",
            "channel": "web", "language": "en", "pool": "p", "status": "ok"} for i, ts in enumerate(stamps)])
    s = Session.__table__.c
    with engine.connect() as conn:
        result = conn.execute(select(source.event_time(engine, s.ts)).order_by(s.session_id))
        raw = [value for value, in result.cursor.fetchall()]  # as the readers take them: driver values
    assert all(type(v) is (int if engine.dialect.name == "postgresql" else str) for v in raw)
    assert source.epoch_seconds(engine, raw).tolist() == [ts.timestamp() for ts in stamps]
    engine.dispose()
