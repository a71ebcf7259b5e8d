"""Vocabulary drift never carries raw transcript words (issue #19, item 2), on SQLite and
PostgreSQL: sessions and samples go in through the ingest API, so drift reads only the redacted
text the store holds, and a term lists in `/api/v1/drift` or a ticket only once it occurs in at
least `drift.vocabulary_min_sessions` (default 3) distinct sessions of the current window.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import select

from asrwatch.server import create_app
from asrwatch.settings import load_settings
from collector.store.database import make_engine
from drift.config import DriftConfig
from drift.models import DriftFindingState
from drift.service import scan_and_route

AT = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
WORDS = "turn on the lights play music set a timer weather today call mom open door stop volume up".split()
RARE = "quixotlan"  # said ten times, but in two sessions only
PII_WORDS = ("jane", "doe", "example", "five", "nine")  # the raw words of the redacted PII


def _words_in(text: str, words) -> list[str]:
    return [w for w in words if re.search(rf"\b{w}\b", text)]  # "example" is no "example_session_ids"


def _records() -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(19)
    sessions, samples = [], []

    def add(sid: str, ts: datetime, hypothesis: str) -> None:
        sessions.append({"session_id": sid, "ts": ts.isoformat(), "model_version": "vp-v1", "status": "ok",
                         "final_latency_ms": 300.0, "hypothesis": hypothesis})

    def words() -> str:
        return " ".join(rng.choice(WORDS, 6))

    for i in range(300):  # the reference week
        add(f"r{i}", AT - timedelta(days=8) + timedelta(minutes=30 * i), words())
    for i in range(150):  # the current day
        ts = AT - timedelta(hours=23) + timedelta(minutes=9 * i)
        if i < 30:  # a new product name, misheard: a ticket that names it
            add(f"c{i}", ts, f"{words()} sorvex")
            samples.append({"session_id": f"c{i}", "reference": f"{words()} zorvex", "hypothesis": f"{words()} sorvex"})
        elif i < 40:  # PII said by ten callers: redacted at ingest, only placeholders reach drift
            add(f"c{i}", ts, "my number is five five five zero one nine nine" if i % 2
                else "mail it to jane.doe@example.com please")
        elif i < 42:  # two labeled callers say the rare term five times each; the model misses it
            heard = words()
            add(f"c{i}", ts, heard)
            samples.append({"session_id": f"c{i}", "reference": " ".join([RARE] * 5), "hypothesis": heard})
        else:
            add(f"c{i}", ts, words())
    return sessions, samples


def _settings(url: str, **drift):
    # vocabulary_min_labeled 1: two labeled sessions would make a misrecognized term, so that
    # only vocabulary_min_sessions (default 3) keeps the rare term out of findings and tickets.
    return load_settings(None, database_url=url, evaluator_enabled=False,
                         drift={"min_reference": 20, "min_current": 20, "vocabulary_min_labeled": 1, **drift})


def _ingest(url: str) -> None:
    sessions, samples = _records()
    with TestClient(create_app(_settings(url), run_background=False)) as client:
        assert client.post("/api/v1/sessions", json=sessions).json()["accepted"] == len(sessions)
        assert len(client.post("/api/v1/samples", json=samples).json()["results"]) == len(samples)


def _drift(url: str, **drift) -> dict:
    with TestClient(create_app(_settings(url, **drift), run_background=False)) as client:
        r = client.get("/api/v1/drift", params={"at": AT.isoformat()})
    assert r.status_code == 200, r.text
    return r.json()


def _tickets(url: str, **drift) -> str:
    """The text of every ticket a scan-and-route pass files, as routed and as stored."""
    engine = make_engine(url)
    routed: list = []
    try:
        scan_and_route(engine, DriftConfig.from_settings(_settings(url, **drift)), AT,
                       lambda alerts, at: routed.extend(alerts))
        with engine.connect() as conn:
            stored = conn.execute(select(DriftFindingState.__table__)).all()
    finally:
        engine.dispose()
    assert routed and stored
    return f"{routed!r}\n{stored!r}"


def test_vocabulary_drift_lists_only_redacted_terms_of_enough_sessions(database_url):
    _ingest(database_url)
    report = _drift(database_url)
    vocabulary = [f for f in report["findings"] if f["kind"] == "vocabulary"]
    assert vocabulary and "zorvex" in vocabulary[0]["summary"]  # the drift is found and named
    text = str(report).lower()
    assert "phone" in text and "email" in text  # the PII's placeholders are frequent new terms...
    assert not _words_in(text, PII_WORDS)  # ...never its words
    assert RARE not in text  # two sessions: below vocabulary_min_sessions
    tickets = _tickets(database_url).lower()
    assert "zorvex" in tickets
    assert RARE not in tickets and not _words_in(tickets, PII_WORDS)


def test_the_rare_term_is_a_candidate_when_one_session_is_enough(database_url):
    """The control: the same data with `vocabulary_min_sessions: 1` lists the rare term, so only
    the session threshold keeps it out above."""
    _ingest(database_url)
    assert RARE in str(_drift(database_url, vocabulary_min_sessions=1))
    assert RARE in _tickets(database_url, vocabulary_min_sessions=1)
