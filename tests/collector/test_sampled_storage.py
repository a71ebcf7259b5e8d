"""Sampled session storage (#23 item 2) through a running collector, on SQLite and PostgreSQL:
every session counts (rollups, /metrics), only the sampled share and the always-kept classes are
stored, a retried batch is counted once, and a sample for a session not stored is refused by name."""

from __future__ import annotations

import pytest

from collector.store.sampling import StorePolicy, kept, sampled_in
from live_collector import running_collector

DAY = {"since": "2026-11-02T00:00:00Z", "until": "2026-11-03T00:00:00Z"}
RATE = 0.2


def test_the_share_is_a_hash_of_the_id_the_same_everywhere():
    ids = [f"s-{i}" for i in range(20_000)]
    share = sum(sampled_in(i, RATE) for i in ids) / len(ids)
    assert 0.19 < share < 0.21
    assert [sampled_in(i, RATE) for i in ids[:500]] == [sampled_in(i, RATE) for i in ids[:500]]
    assert all(sampled_in(i, 0.5) for i in ids if sampled_in(i, RATE))  # a larger share keeps the smaller's


def test_always_kept_classes_are_stored_whatever_the_hash():
    policy = StorePolicy("sample", 0.0001)
    ids = ["a", "b", "c", "d", "e"]
    decided = kept(policy, ids, ["timeout", "ok", "ok", "ok", "ok"], ["t", "t", "t", "probe", "t"],
                   ["v1", "v1", "v2", "v1", "v1"], [False, True, False, False, False], frozenset({"v2"}))
    assert decided == [True, True, True, True, False]
    only_failures = StorePolicy("sample", 0.0001, always=("failures",))
    assert kept(only_failures, ids, ["timeout", "ok", "ok", "ok", "ok"], ["t", "t", "t", "probe", "t"],
                ["v1", "v1", "v2", "v1", "v1"], [False, True, False, False, False], frozenset({"v2"})) == \
        [True, False, False, False, False]
    assert kept(StorePolicy(), ids, ["ok"] * 5, ["t"] * 5, ["v"] * 5, [False] * 5, frozenset()) == [True] * 5


def _records() -> list[dict]:
    out = []
    for i in range(400):
        record = {"session_id": f"s-{i}", "ts": f"2026-11-02T10:{i % 60:02d}:00Z", "model_version": "stable",
                  "region": "eu", "status": "timeout" if i % 10 == 0 else "ok", "audio_seconds": 2.0,
                  "hypothesis": "turn on the lights"}
        if i % 25 == 1:
            record["attributes"] = {"labeled": True}
        if i % 40 == 3:
            record["tenant"] = "probe"
        out.append(record)
    return out


def test_every_session_counts_and_only_the_kept_are_stored(database_url, tmp_path):
    config = {"store": {"sessions": "sample", "sample_rate": RATE}}
    records = _records()
    expected = {r["session_id"] for r in records if r["status"] != "ok" or (r.get("attributes") or {}).get("labeled")
                or r.get("tenant") == "probe" or sampled_in(r["session_id"], RATE)}
    assert 80 < len(expected) < 200  # a sample, and every class in it
    with running_collector(tmp_path, config=config, database_url=database_url) as live:
        with live.client("ingest") as http:
            assert http.post("/api/v1/sessions", json=records).json()["accepted"] == 400
            retried = http.post("/api/v1/sessions", json=records[:150]).json()  # a sender's retry
            dropped = next(r["session_id"] for r in records if r["session_id"] not in expected)
            labeled = next(r["session_id"] for r in records if (r.get("attributes") or {}).get("labeled"))
            scored = http.post("/api/v1/samples", json=[
                {"session_id": dropped, "reference": "turn on the lights"},
                {"session_id": labeled, "reference": "turn on the lights"}]).json()
        with live.client("read") as http:
            [status] = http.get("/api/v1/status", params=DAY).json()
            stored = http.get("/api/v1/sessions", params={**DAY, "limit": 1000}).json()
            missing = http.get(f"/api/v1/sessions/{dropped}")
            metrics = http.get("/metrics").text
    assert (retried["accepted"], retried["duplicates"]) == (0, 150)
    assert (status["sessions"], status["timeout"]) == (400, 40)  # all counted, once
    assert {s["session_id"] for s in stored} == expected
    assert missing.status_code == 404 and "not stored" in missing.json()["detail"]
    assert [r["index"] for r in scored["rejected"]] == [0] and "not stored" in scored["rejected"][0]["error"]
    assert [r["session_id"] for r in scored["results"]] == [labeled]
    sessions = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith("asrwatch_sessions_total{"))
    assert sessions == 400


def test_a_canary_of_an_active_rollout_is_stored_whole(database_url, tmp_path):
    config = {"store": {"sessions": "sample", "sample_rate": 0.01}}
    canary = [{"session_id": f"c-{i}", "ts": f"2026-11-02T11:{i:02d}:00Z", "model_version": "canary-2",
               "status": "ok"} for i in range(50)]
    with running_collector(tmp_path, config=config, database_url=database_url) as live:
        with live.client("admin") as http:
            assert http.post("/api/v1/rollouts", json={"name": "c2", "baseline_version": "stable",
                                                       "canary_version": "canary-2"}).status_code == 201
            assert http.post("/api/v1/sessions", json=canary).json()["accepted"] == 50
            assert http.post("/api/v1/sessions", json=[{**r, "session_id": f"b-{i}", "model_version": "stable"}
                                                       for i, r in enumerate(canary)]).json()["accepted"] == 50
            stored = http.get("/api/v1/sessions", params={**DAY, "limit": 1000}).json()
    versions = [s["model_version"] for s in stored]
    assert versions.count("canary-2") == 50
    assert versions.count("stable") == sum(sampled_in(f"b-{i}", 0.01) for i in range(50)) < 5


def test_store_settings_typos_and_contradictions_are_errors():
    from asrwatch.settings import Settings

    with pytest.raises(ValueError, match="sampel_rate"):
        Settings(store={"sessions": "sample", "sampel_rate": 0.1})
    with pytest.raises(ValueError, match="sample_rate: only with sessions: sample"):
        Settings(store={"sample_rate": 0.1})
    with pytest.raises(ValueError, match="always"):
        Settings(store={"sessions": "sample", "sample_rate": 0.1, "always": ["failure"]})


def _sampling_almost_all_out(database_url: str, prefix: str, count: int):
    """A migrated store that keeps almost no session (no class always kept), and `count` sessions
    for it: each will be counted and only its id kept."""
    from collector.store import SessionIn, StorePolicy, configure_sampling, make_engine, migrate

    engine = make_engine(database_url)
    migrate(engine)
    configure_sampling(engine, StorePolicy("sample", 0.0001, always=()))
    records = [SessionIn.model_validate({"session_id": f"{prefix}-{i}", "ts": "2026-11-02T10:00:00Z",
                                         "model_version": "m", "status": "ok"}) for i in range(count)]
    return engine, records


def test_session_keys_are_pruned_after_the_dedupe_horizon(database_url):
    from datetime import datetime, timedelta, timezone

    from collector.store import prune_session_keys, store_sessions

    engine, records = _sampling_almost_all_out(database_url, "k", 20)
    received = datetime(2026, 11, 2, 10, 1, tzinfo=timezone.utc)
    assert len(store_sessions(engine, records, received).accepted) == 20
    assert len(store_sessions(engine, records, received).accepted) == 0  # within the horizon: a retry
    assert prune_session_keys(engine, received) == 0  # received at, not before
    assert prune_session_keys(engine, received + timedelta(hours=1)) == 20
    engine.dispose()


def test_a_retry_after_sampling_was_turned_off_is_still_counted_once(database_url):
    from datetime import datetime, timezone

    from collector.store import StorePolicy, configure_sampling, store_sessions

    engine, records = _sampling_almost_all_out(database_url, "r", 10)
    at = datetime(2026, 11, 2, 10, 1, tzinfo=timezone.utc)
    assert len(store_sessions(engine, records, at).accepted) == 10  # counted, ids kept
    configure_sampling(engine, StorePolicy())  # every session stored from now on (or another replica's config)
    retried = store_sessions(engine, records, at)
    assert (len(retried.accepted), retried.duplicates) == (0, 10)
    engine.dispose()
