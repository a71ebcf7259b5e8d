"""Retention on both engines and its background loop in a live collector.

`apply_retention` clears the transcript text of sessions and samples whose event time is before
the cutoff (`retention_days` before now); the scores, the other session fields, the stages and
the rollups stay. The loop runs the pass at start and every `retention_interval_s` after, so text
that ages past the cutoff, or arrives already past it (a replayed backlog), is cleared while the
collector runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from live_collector import running_collector
from polling import wait_for
from postgres import create_database, drop_database
from sqlalchemy import select

from collector.store.database import make_engine, migrate
from collector.store.ingest import score_and_store_samples, store_sessions
from collector.store.models import Rollup, Sample, Session
from collector.store.retention import apply_retention
from collector.store.schemas import SampleIn, SessionIn

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
DAYS = 30
CUTOFF = NOW - timedelta(days=DAYS)


def _session(session_id: str, ts: datetime, hypothesis: str | None = "turn on the lights") -> SessionIn:
    return SessionIn(session_id=session_id, ts=ts.isoformat(), model_version="m1", region="eu", status="ok",
                     final_latency_ms=420, confidence=0.9, hypothesis=hypothesis, attributes={"caller": "front desk"})


def _rows(engine, model) -> dict[str, dict]:
    table = model.__table__
    key = "rollup_key" if model is Rollup else "session_id"
    with engine.connect() as conn:
        return {row[key]: dict(row) for row in conn.execute(select(table)).mappings()}


def test_retention_clears_old_text_and_keeps_everything_else(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    sessions = [
        _session("old", CUTOFF - timedelta(days=10)),
        _session("just-before", CUTOFF - timedelta(microseconds=1)),
        _session("at-cutoff", CUTOFF),  # not older than retention_days: kept
        _session("new", NOW - timedelta(hours=1)),
        _session("old-no-text", CUTOFF - timedelta(days=3), hypothesis=None),
    ]
    store_sessions(engine, sessions, NOW)
    scored, rejected = score_and_store_samples(
        engine, [(i, SampleIn(session_id=s.session_id, reference="turn on the light"))
                 for i, s in enumerate(sessions) if s.hypothesis], "basic", NOW)
    assert not rejected and len(scored) == 4
    rollups_before = _rows(engine, Rollup)
    sessions_before, samples_before = _rows(engine, Session), _rows(engine, Sample)
    assert rollups_before and all(r["hypothesis"] for k, r in sessions_before.items() if k != "old-no-text")

    assert apply_retention(engine, NOW, DAYS) == {"sessions": 2, "samples": 2, "session_attributes": 3,
                                                  "stage_attributes": 0}

    after, samples_after = _rows(engine, Session), _rows(engine, Sample)
    cleared = {"old", "just-before"}
    for sid, row in after.items():
        before = sessions_before[sid]
        if sid in cleared:
            assert row["hypothesis"] is None, sid
            if "hypothesis_words" in row:  # the stored word count goes with the text (migration 0008)
                assert row["hypothesis_words"] is None, sid
        else:
            assert row["hypothesis"] == before["hypothesis"], sid
        # Attributes are text too: they go with the transcripts, from every session past the cutoff.
        assert row["attributes"] == (None if sid in cleared | {"old-no-text"} else before["attributes"]), sid
        # Everything but the text is as it was.
        text = ("hypothesis", "hypothesis_words", "attributes")
        assert {k: v for k, v in row.items() if k not in text} == \
               {k: v for k, v in before.items() if k not in text}, sid
    for sid, row in samples_after.items():
        before = samples_before[sid]
        text = (row["reference"], row["hypothesis"])
        assert text == ((None, None) if sid in cleared else (before["reference"], before["hypothesis"])), sid
        assert row["wer"] == before["wer"] == 0.25 and row["ref_words"] == 4, sid  # the scores stay
    assert _rows(engine, Rollup) == rollups_before  # rollups (and so SLOs, WER, cost) are untouched

    # A second pass has nothing left to clear; a later one clears what aged past the cutoff.
    assert apply_retention(engine, NOW, DAYS) == {"sessions": 0, "samples": 0, "session_attributes": 0,
                                                  "stage_attributes": 0}
    assert apply_retention(engine, NOW + timedelta(days=1), DAYS) == {"sessions": 1, "samples": 1,
                                                                      "session_attributes": 1, "stage_attributes": 0}
    assert _rows(engine, Session)["at-cutoff"]["hypothesis"] is None
    assert _rows(engine, Session)["new"]["hypothesis"] == "turn on the lights"
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live_with_retention(request, tmp_path):
    url = None if request.param == "sqlite" else create_database()
    try:
        with running_collector(tmp_path, config={"retention_days": DAYS, "retention_interval_s": 0.5,
                                                 "evaluator_enabled": False},
                               database_url=url) as collector:
            yield collector
    finally:
        if url:
            drop_database(url)


def test_the_retention_loop_clears_text_in_a_running_collector(live_with_retention):
    collector = live_with_retention
    now = datetime.now(timezone.utc)
    text = "call alice about the quarterly numbers"
    starts = {"backlog": now - timedelta(days=DAYS + 5),  # already past the cutoff when it arrives
              "ages-out": now - timedelta(days=DAYS) + timedelta(seconds=3),  # past it 3 s after it arrives
              "fresh": now - timedelta(minutes=5)}
    records = [{"session_id": sid, "ts": ts.isoformat(), "model_version": "m1", "status": "ok",
                "final_latency_ms": 300, "hypothesis": text} for sid, ts in starts.items()]
    with collector.client("admin") as client:
        # Sent after the collector's first pass, which runs at start: only later passes of the
        # loop can clear these, and only one at least 3 s later the session that ages out.
        sent = client.post("/api/v1/sessions", json=records)
        assert sent.status_code == 200 and sent.json()["accepted"] == 3, sent.text
        # The sample carries its hypothesis: a pass between the two posts may already have
        # cleared the session's text, which the sample would otherwise be scored against.
        scored = client.post("/api/v1/samples", json=[{"session_id": r["session_id"], "reference": text,
                                                       "hypothesis": text} for r in records])
        assert scored.status_code == 200 and [r["wer"] for r in scored.json()["results"]] == [0.0] * 3, scored.text

        def cleared(session_id: str):
            def check():
                body = client.get(f"/api/v1/sessions/{session_id}").json()
                texts = [body.get("hypothesis")] + [s[k] for s in body["samples"] for k in ("reference", "hypothesis")]
                return body if len(body["samples"]) == 1 and texts == [None] * 3 else None
            return check

        backlog = wait_for(cleared("backlog"), timeout_s=60, what="the retention loop cleared the backlog's text")
        aged = wait_for(cleared("ages-out"), timeout_s=60, what="the retention loop cleared text that aged out")
        fresh = client.get("/api/v1/sessions/fresh").json()
    assert aged["samples"][0]["reference"] is None
    assert fresh["hypothesis"] == text and fresh["samples"][0]["reference"] == text
    assert backlog["final_latency_ms"] == 300 and backlog["status"] == "ok"
    (sample,) = backlog["samples"]
    assert sample["reference"] is None and sample["hypothesis"] is None and sample["wer"] == 0.0
    log = collector.log()
    assert text not in log and "retention pass failed" not in log
