"""`GET /api/v1/annotations` (issue #22, item 1c): rollout registrations, rollbacks and silences as
markers in event time, on SQLite and PostgreSQL.

A replay judges a day hours behind the wall clock: a rollback is recorded at the wall clock with
the event time it judged (`event_at`), and its marker must sit at that event time, after the
rollout's registration, not hours later.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from asrwatch.server import create_app
from asrwatch.settings import Settings
from collector.store import audit, make_engine, migrate
from slo.router import matchers
from slo.router import store as router_store

T0 = datetime(2026, 6, 1, 4, 0, tzinfo=timezone.utc)  # event time; the wall clock is months later


@pytest.fixture
def client(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    wall = datetime.now(timezone.utc)
    audit.record(engine, audit.entry(wall, "api:ops", "rollout.register", "canary-7",
                                     "canary v2 vs baseline v1", {"canary_version": "v2", "baseline_version": "v1",
                                                                   "since": (T0 + timedelta(minutes=5)).isoformat()}))
    audit.record(engine, audit.entry(wall, "api:ops", "rollout.register", "canary-8", "canary v3 vs baseline v2",
                                     {"canary_version": "v3", "baseline_version": "v2"}))
    audit.record(engine, audit.entry(wall, "asrwatch:judge", "rollout.rollback", "canary-7",
                                     "far_field WER regressed", {}, event_at=T0 + timedelta(minutes=50)))
    audit.record(engine, audit.entry(wall, "asrwatch:judge", "rollout.rollback.ok", "canary-7", "argo", {}))
    router_store.create_silence(engine, matchers=matchers.coerce(["region=eu"]), starts_at=T0 + timedelta(minutes=20),
                                ends_at=T0 + timedelta(minutes=80), created_by="ops", comment="planned failover",
                                at=wall)
    settings = Settings(database_url=database_url, evaluator_enabled=False)
    with TestClient(create_app(settings, run_background=False)) as c:
        yield c
    engine.dispose()


def test_markers_sit_at_their_event_times(client):
    got = client.get("/api/v1/annotations", params={"since": T0.isoformat(),
                                                    "until": (T0 + timedelta(hours=2)).isoformat()})
    assert got.status_code == 200, got.text
    marks = [(datetime.fromisoformat(a["t"]), a["kind"], a["target"], a["time_basis"]) for a in got.json()]
    silence_id = next(a["target"] for a in got.json() if a["kind"] == "silence")
    assert marks == [
        (T0 + timedelta(minutes=5), "rollout", "canary-7", "event"),
        (T0 + timedelta(minutes=20), "silence", silence_id, "as given"),
        (T0 + timedelta(minutes=50), "rollback", "canary-7", "event"),
    ]
    silence = next(a for a in got.json() if a["kind"] == "silence")
    assert datetime.fromisoformat(silence["end"]) == T0 + timedelta(minutes=80)
    assert silence["text"] == "silence region=eu: planned failover"
    rollout = next(a for a in got.json() if a["kind"] == "rollout")
    # Drawn at the spec's `since`, where the canary's judged data starts: not when it was registered.
    assert rollout["text"] == "rollout canary-7: canary v2 vs baseline v1 judged from here (the spec's since)"


def test_a_registration_without_since_is_at_its_wall_clock(client):
    now = datetime.now(timezone.utc)
    got = client.get("/api/v1/annotations", params={"since": (now - timedelta(hours=1)).isoformat(),
                                                    "until": (now + timedelta(hours=1)).isoformat()}).json()
    assert [(a["kind"], a["target"], a["time_basis"]) for a in got] == [("rollout", "canary-8", "wall")]
    assert got[0]["text"] == "rollout canary-8 registered (wall clock): canary v3 vs baseline v2"


def test_a_silence_expired_by_hand_keeps_its_event_time_end_and_names_the_wall_clock_expiry(client, database_url):
    engine = make_engine(database_url)
    (silence_id,) = [row.id for row in router_store.list_silences(engine)]
    wall = datetime.now(timezone.utc)
    assert router_store.expire_silence(engine, silence_id, wall) is not None
    engine.dispose()
    got = client.get("/api/v1/annotations", params={"since": T0.isoformat(),
                                                    "until": (T0 + timedelta(hours=2)).isoformat()}).json()
    silence = next(a for a in got if a["kind"] == "silence")
    # The end stays the silence's own (event-time) end, not the wall clock months later.
    assert datetime.fromisoformat(silence["end"]) == T0 + timedelta(minutes=80)
    assert abs(datetime.fromisoformat(silence["expired_at"]) - wall) < timedelta(seconds=1)
    assert silence["text"].endswith(f"(expired by hand at {wall:%Y-%m-%d %H:%M} UTC, wall clock)")


def test_a_silence_overlapping_the_range_is_a_marker_of_it(client):
    got = client.get("/api/v1/annotations", params={"since": (T0 + timedelta(minutes=60)).isoformat(),
                                                    "until": (T0 + timedelta(minutes=70)).isoformat()}).json()
    assert [a["kind"] for a in got] == ["silence"]


def test_bad_times_name_the_parameter(client):
    response = client.get("/api/v1/annotations", params={"since": "soon"})
    assert response.status_code == 422 and response.json()["detail"].startswith("since:")
    response = client.get("/api/v1/annotations", params={"since": "2026-06-02T00:00:00Z",
                                                         "until": "2026-06-01T00:00:00Z"})
    assert response.status_code == 422 and response.json()["detail"].startswith("since:")
