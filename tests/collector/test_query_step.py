"""`step=` on /api/v1/latency, /status, /wer and /cost (issue #22, item 1b), on SQLite and PostgreSQL.

A row per (bucket start `t`, group) must be exactly the same query over that bucket (clipped to
the range), whether the bucket is read from minute rows or from the hourly rows of compacted
hours; and the buckets together must count every session of the range once.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from asrwatch.server import create_app
from asrwatch.settings import Settings
from collector.store import compaction_pass, make_engine, migrate
from collector.store.ingest import score_and_store_samples, store_sessions
from collector.store.schemas import SampleIn

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)
VERSIONS = ("v1", "v2")


def _sessions() -> list[dict]:
    """Three hours, two versions: v2 slows down and fails more each hour (so buckets differ)."""
    out = []
    for m in range(180):
        for k, version in enumerate(VERSIONS):
            for i in range(3):
                hour = m // 60
                slow = 400 + 300 * hour * k + 37 * i + m
                failed = k == 1 and i == 0 and m % (4 - hour) == 0
                out.append({"session_id": f"{version}-{m}-{i}", "ts": T0 + timedelta(minutes=m, seconds=10 * i),
                            "model_version": version, "region": "eu", "pool": "a100" if k else "t4",
                            "status": "decode_error" if failed else ("partial" if i == 2 and m % 7 == 0 else "ok"),
                            "final_latency_ms": slow, "first_partial_ms": slow / 4, "queue_ms": 5.0 * i,
                            "audio_seconds": 4.0, "gpu_seconds": 0.2 + 0.1 * k * hour, "turn_success": not failed,
                            "hypothesis": "the cat sat on the mat" if i else "the cat sat on a hat"})
    return out


@pytest.fixture
def client(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    store_sessions(engine, _sessions(), T0)
    samples = [SampleIn.model_validate({"session_id": f"{v}-{m}-{i}", "reference": "the cat sat on the mat"})
               for v in VERSIONS for m in range(0, 180, 3) for i in range(3)]
    score_and_store_samples(engine, list(enumerate(samples)), "basic", T0)
    compaction_pass(engine, T0 + timedelta(hours=2))  # 09:00-11:00 are read from hourly rows
    settings = Settings(database_url=database_url, evaluator_enabled=False)
    with TestClient(create_app(settings, run_background=False)) as c:
        yield c
    engine.dispose()


SINCE, UNTIL = T0 + timedelta(minutes=10), T0 + timedelta(hours=3)


@pytest.mark.parametrize("path", ["/api/v1/latency", "/api/v1/status", "/api/v1/wer", "/api/v1/cost"])
@pytest.mark.parametrize("step, starts", [
    ("1h", [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]),
    ("30m", [T0 + timedelta(minutes=m) for m in range(0, 180, 30)]),  # the first clipped to 09:10-09:30
    # Buckets that are not whole hours: /latency and /status read them in one query from minute
    # rows (`bucketed.ONE_READ`); an hourly row tagged to the wrong bucket would show here.
    ("90m", [T0, T0 + timedelta(minutes=90)]),
])
def test_each_bucket_is_the_query_over_its_window(client, path, step, starts):
    params = {"group_by": "model_version", "since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    response = client.get(path, params={**params, "step": step})
    assert response.status_code == 200, response.text
    assert response.headers["X-Truncated"] == "false"
    rows = response.json()
    width = timedelta(minutes={"1h": 60, "30m": 30, "90m": 90}[step])
    assert [datetime.fromisoformat(r["t"]) for r in rows] == [t for t in starts for _ in VERSIONS]
    for t in starts:
        window = {"since": max(t, SINCE).isoformat(), "until": min(t + width, UNTIL).isoformat()}
        alone = client.get(path, params={**params, **window}).json()
        mine = [{k: v for k, v in r.items() if k != "t"} for r in rows if datetime.fromisoformat(r["t"]) == t]
        if path == "/api/v1/wer":  # the bootstrap interval is random: everything else is exact
            drop = {"ci_low", "ci_high", "cer_ci_low", "cer_ci_high"}
            mine = [{k: v for k, v in r.items() if k not in drop} for r in mine]
            alone = [{k: v for k, v in r.items() if k not in drop} for r in alone]
        assert mine == alone, (path, t)


def test_buckets_count_every_session_of_the_range_once(client):
    params = {"group_by": "model_version", "since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    whole = {r["model_version"]: r for r in client.get("/api/v1/status", params=params).json()}
    buckets = client.get("/api/v1/status", params={**params, "step": "20m"}).json()
    for version in VERSIONS:
        mine = [r for r in buckets if r["model_version"] == version]
        for field in ("sessions", "decode_error", "partial", "ok"):
            assert sum(r[field] for r in mine) == whole[version][field], (version, field)
    # v2's decode errors rise hour by hour: the series shows the change a table hides.
    v2 = [r["decode_error"] / r["sessions"] for r in buckets if r["model_version"] == "v2"]
    assert v2[-1] > v2[0]


def test_bad_steps_are_refused_naming_step(client):
    for step in ("0m", "5", "30s", "1.5h"):
        response = client.get("/api/v1/latency", params={"step": step})
        assert response.status_code == 422 and response.json()["detail"].startswith("step:"), step
    too_many = client.get("/api/v1/cost", params={"step": "1m", "since": "2026-10-01T00:00:00Z",
                                                  "until": "2026-11-01T00:00:00Z"})
    assert too_many.status_code == 422 and "at most 2000" in too_many.json()["detail"]


def test_wer_takes_at_most_200_buckets_each_with_its_bootstrap(client):
    """201 hourly buckets would be 201 bootstrap intervals: refused naming `step`; 200 answer."""
    since = T0 - timedelta(hours=100)
    over = client.get("/api/v1/wer", params={"step": "1h", "since": since.isoformat(),
                                             "until": (since + timedelta(hours=201)).isoformat()})
    assert over.status_code == 422 and over.json()["detail"].startswith("step:"), over.text
    assert "at most 200)" in over.json()["detail"]
    ok = client.get("/api/v1/wer", params={"step": "1h", "since": since.isoformat(),
                                           "until": (since + timedelta(hours=200)).isoformat()})
    assert ok.status_code == 200, ok.text
    assert {datetime.fromisoformat(row["t"].replace("Z", "+00:00")) for row in ok.json()} == {
        T0 + timedelta(hours=h) for h in range(3)}
    # The other step= queries keep the 2000-bucket bound.
    assert client.get("/api/v1/cost", params={"step": "1h", "since": since.isoformat(),
                                              "until": (since + timedelta(hours=201)).isoformat()}).status_code == 200


def test_groups_cut_in_some_bucket_say_truncated(client):
    response = client.get("/api/v1/latency", params={"group_by": "model_version", "since": SINCE.isoformat(),
                                                      "until": UNTIL.isoformat(), "step": "1h", "limit": 1})
    assert response.headers["X-Truncated"] == "true" and response.headers["X-Total-Groups"] == "2"
    assert [r["model_version"] for r in response.json()] == ["v1", "v1", "v1"]
    assert "offset=1" in response.headers["Link"]


def test_wer_without_intervals_is_the_same_wer_with_null_intervals(client):
    """A chart over time asks `intervals=false`: each bucket's WER as before, no bootstrap drawn."""
    params = {"group_by": "model_version", "since": SINCE.isoformat(), "until": UNTIL.isoformat(), "step": "1h"}
    with_ci = client.get("/api/v1/wer", params=params).json()
    without = client.get("/api/v1/wer", params={**params, "intervals": "false"}).json()
    assert with_ci and any(r["ci_low"] is not None for r in with_ci)
    assert [(r["t"], r["model_version"], r["wer"], r["cer"]) for r in without] == \
        [(r["t"], r["model_version"], r["wer"], r["cer"]) for r in with_ci]
    assert {(r["ci_low"], r["ci_high"], r["cer_ci_low"], r["cer_ci_high"]) for r in without} == {(None,) * 4}
    assert client.get("/api/v1/wer", params={**params, "intervals": "maybe"}).status_code == 422


def test_latency_kind_answers_only_the_latencies_asked_for(client):
    """A chart of final latency asks `kind=final`: the same figures, none of the other two."""
    params = {"group_by": "model_version", "since": SINCE.isoformat(), "until": UNTIL.isoformat(), "step": "15m"}
    every = client.get("/api/v1/latency", params=params).json()
    final = client.get("/api/v1/latency", params={**params, "kind": "final"}).json()
    assert final and len(final) == len(every)
    for whole, mine in zip(every, final):
        assert mine == {k: v for k, v in whole.items() if not k.startswith(("first_partial_", "queue_"))}
    two = client.get("/api/v1/latency", params={**params, "kind": "queue,first_partial"}).json()
    assert {k for k in two[0] if k.endswith("_ms")} == {f"{n}_p{q}_ms" for n in ("queue", "first_partial")
                                                          for q in (50, 95, 99)}
    for bad in ("final,p99", ",", "Final"):
        response = client.get("/api/v1/latency", params={**params, "kind": bad})
        assert response.status_code == 422 and response.json()["detail"].startswith("kind:"), bad


@pytest.mark.parametrize("path", ["/api/v1/latency", "/api/v1/wer", "/api/v1/cost", "/api/v1/sessions",
                                  "/api/v1/samples"])
def test_a_misspelt_filter_is_refused_by_name_not_ignored(client, path):
    """`?regoin=eu` once answered for every region; a filter, declared parameters and both together
    still answer."""
    window = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    wrong = client.get(path, params={**window, "regoin": "eu"})
    assert wrong.status_code == 422 and wrong.json()["detail"].startswith("regoin: not a query parameter of")
    assert client.get(path, params={**window, "region": "eu", "limit": 10}).status_code == 200
