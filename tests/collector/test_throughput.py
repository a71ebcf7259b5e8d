"""Throughput and load per node and pool (#21 item 2), on SQLite and PostgreSQL: the node rollups
equal a recount of the stored sessions (batches, duplicates and concurrent key order alike), nodes
past the cardinality budget fold into `__other__`, and `/api/v1/throughput` answers the figures
worked out by hand, per bucket with `step`."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from collector.store import make_engine, migrate
from collector.store.dimension_budget import configure
from collector.store.ingest import store_sessions
from collector.store.models import NodeRollup, Session

SUMS = ("sessions", "audio_seconds", "gpu_seconds", "queue_ms_sum", "queue_count", "streams_sum", "streams_count",
        "gpu_utilization_sum", "gpu_utilization_count")

T0 = datetime(2026, 11, 4, 9, 0, tzinfo=timezone.utc)
DAY = ("2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z")


def _record(rng: random.Random, i: int) -> dict:
    record = {"session_id": f"t{i}", "ts": T0 + timedelta(seconds=rng.uniform(0, 240)), "model_version": "v1",
              "status": "ok", "pool": rng.choice(["a100", "l4"])}
    optional = {"node": rng.choice(["a100-0", "a100-1", "l4-0"]), "concurrent_streams": rng.randrange(0, 40),
                "gpu_utilization": rng.random(), "queue_ms": rng.expovariate(0.05), "audio_seconds": rng.uniform(1, 20),
                "gpu_seconds": rng.uniform(0, 2)}
    record.update({k: v for k, v in optional.items() if rng.random() < 0.8})
    return record


def _recount(engine) -> dict[tuple, dict]:
    """The node rollups, written out plainly from the stored sessions."""
    out: dict[tuple, dict] = defaultdict(lambda: defaultdict(float))
    with engine.connect() as conn:
        for s in conn.execute(select(Session.__table__)).mappings():
            e = out[(s["ts"].replace(second=0, microsecond=0), s["node"] or "unknown", s["pool"])]
            e["sessions"] += 1
            e["audio_seconds"] += s["audio_seconds"] or 0.0
            e["gpu_seconds"] += s["gpu_seconds"] or 0.0
            if s["queue_ms"] is not None:
                e["queue_ms_sum"] += s["queue_ms"]
                e["queue_count"] += 1
            if s["concurrent_streams"] is not None:
                e["streams_sum"] += s["concurrent_streams"]
                e["streams_count"] += 1
                e["streams_max"] = max(e["streams_max"], s["concurrent_streams"])
            if s["gpu_utilization"] is not None:
                e["gpu_utilization_sum"] += s["gpu_utilization"]
                e["gpu_utilization_count"] += 1
    return out


def _stored(engine) -> dict[tuple, dict]:
    with engine.connect() as conn:
        return {(r["minute"], r["node"], r["pool"]): dict(r) for r in conn.execute(select(NodeRollup.__table__)).mappings()}


def test_node_rollups_equal_a_recount_of_the_stored_sessions(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    rng = random.Random(5)
    sent = []
    for batch_no in range(4):
        records = [_record(rng, 200 * batch_no + i) for i in range(200)]
        records += rng.sample(sent, min(len(sent), 9))  # stored already: counted once
        sent += records[:200]
        store_sessions(engine, records, T0)
    stored, recount = _stored(engine), _recount(engine)
    assert stored.keys() == recount.keys() and len(stored) > 20
    for key, row in stored.items():
        for name in (*SUMS, "streams_max"):  # every column, both ways: 0 where the recount had nothing
            assert row[name] == pytest.approx(recount[key].get(name, 0), rel=1e-12), (key, name)
    engine.dispose()


def test_nodes_and_pools_past_the_budget_fold_into_other(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    configure(engine, limit=2)
    records = [{"session_id": f"n{i}", "ts": T0 + timedelta(seconds=i), "model_version": "v1", "status": "ok",
                "pool": "a100", "node": f"node-{i % 5}", "concurrent_streams": i} for i in range(20)]
    # Five pools: the slice rollups keep two and fold three; the node rollups must agree.
    records += [{"session_id": f"p{i}", "ts": T0 + timedelta(seconds=i), "model_version": "v1", "status": "ok",
                 "pool": f"pool-{i % 5}", "node": "node-0"} for i in range(10)]
    store_sessions(engine, records, T0)
    stored = _stored(engine)
    assert {node for _, node, _ in stored} == {"node-0", "node-1", "__other__"}
    other = stored[(T0, "__other__", "a100")]
    assert other["sessions"] == 12 and other["streams_max"] == 19  # nodes 2-4, streams up to 19
    from collector.store.models import Rollup
    with engine.connect() as conn:
        slice_pools = set(conn.execute(select(Rollup.__table__.c.pool)).scalars())
    assert {pool for _, _, pool in stored} == slice_pools and "__other__" in slice_pools and len(slice_pools) == 3
    engine.dispose()


def test_the_throughput_api_by_hand(live, uid):
    pool = f"p-{uid}"
    records = [  # 09:00-09:02: node a serves 3 sessions, node b 1; one session names no node
        {"session_id": f"{uid}-0", "ts": "2026-11-04T09:00:10Z", "node": "a", "concurrent_streams": 4,
         "gpu_utilization": 0.5, "queue_ms": 10.0, "audio_seconds": 30.0},
        {"session_id": f"{uid}-1", "ts": "2026-11-04T09:00:40Z", "node": "a", "concurrent_streams": 8,
         "gpu_utilization": 0.7, "queue_ms": 30.0, "audio_seconds": 30.0},
        {"session_id": f"{uid}-2", "ts": "2026-11-04T09:01:10Z", "node": "a", "concurrent_streams": 6,
         "audio_seconds": 60.0},
        {"session_id": f"{uid}-3", "ts": "2026-11-04T09:01:20Z", "node": "b", "concurrent_streams": 1,
         "gpu_utilization": 0.1, "audio_seconds": 12.0},
        {"session_id": f"{uid}-4", "ts": "2026-11-04T09:01:30Z", "audio_seconds": 6.0},
    ]
    records = [{"model_version": f"mv-{uid}", "status": "ok", "pool": pool, **r} for r in records]
    with live.client("ingest") as http:
        assert http.post("/api/v1/sessions", json=records).json()["accepted"] == 5
    since, until = "2026-11-04T09:00:00Z", "2026-11-04T09:02:00Z"
    with live.client("read") as http:
        by_node = {r["node"]: r for r in http.get("/api/v1/throughput", params={
            "since": since, "until": until, "group_by": "node", "pool": pool}).json()}
        [whole] = http.get("/api/v1/throughput", params={"since": since, "until": until, "group_by": "pool",
                                                         "pool": pool}).json()
        steps = http.get("/api/v1/throughput", params={"since": since, "until": until, "group_by": "node",
                                                       "pool": pool, "step": "1m"}).json()
        bad = http.get("/api/v1/throughput", params={"group_by": "region"})
    a = by_node["a"]
    assert (a["sessions"], a["concurrent_streams_max"]) == (3, 8)
    assert a["sessions_per_s"] == pytest.approx(3 / 120) and a["audio_seconds_per_s"] == pytest.approx(120 / 120)
    assert a["concurrent_streams_mean"] == pytest.approx(6.0) and a["gpu_utilization"] == pytest.approx(0.6)
    assert a["queue_ms_mean"] == pytest.approx(20.0)
    assert by_node["unknown"]["sessions"] == 1 and by_node["unknown"]["concurrent_streams_max"] is None
    assert (whole["sessions"], whole["concurrent_streams_max"]) == (5, 8)
    assert whole["sessions_per_s"] == pytest.approx(5 / 120)
    # Per minute: a's first minute holds two sessions (2 per 60 s), its second one.
    a_steps = [(r["t"], r["sessions"], r["sessions_per_s"]) for r in steps if r["node"] == "a"]
    assert [(s, pytest.approx(p)) for _, s, p in a_steps] == [(2, 2 / 60), (1, 1 / 60)]
    assert bad.status_code == 422 and bad.json()["detail"].startswith("group_by:")
    # Nothing in a window: no group at all (not one row of zeros).
    with live.client("read") as http:
        assert http.get("/api/v1/throughput", params={"since": "2026-11-04T08:00:00Z", "until": since,
                                                      "pool": pool}).json() == []


def test_each_throughput_bucket_is_the_query_over_its_window(live, uid):
    """`step=` buckets, the first and last clipped to a range that starts and ends mid-bucket,
    equal the same query over each bucket's window alone."""
    pool = f"p-{uid}"
    records = [{"session_id": f"{uid}-{i}", "ts": f"2026-11-04T10:{i % 60:02d}:{(7 * i) % 60:02d}Z",
                "model_version": f"mv-{uid}", "status": "ok", "pool": pool, "node": f"n{i % 3}",
                "concurrent_streams": i % 11, "audio_seconds": 1.0 + i % 7, "queue_ms": float(i % 13)} for i in range(120)]
    with live.client("ingest") as http:
        assert http.post("/api/v1/sessions", json=records).json()["accepted"] == 120
    since, until = datetime(2026, 11, 4, 10, 7, tzinfo=timezone.utc), datetime(2026, 11, 4, 10, 52, tzinfo=timezone.utc)
    params = {"group_by": "node", "pool": pool}
    with live.client("read") as http:
        steps = http.get("/api/v1/throughput", params={**params, "since": since.isoformat(),
                                                       "until": until.isoformat(), "step": "15m"}).json()
        starts = sorted({r["t"] for r in steps})
        assert [datetime.fromisoformat(t) for t in starts] == [since.replace(minute=m) for m in (0, 15, 30, 45)]
        for t in starts:
            start = datetime.fromisoformat(t)
            window = {"since": max(start, since).isoformat(), "until": min(start + timedelta(minutes=15), until).isoformat()}
            alone = http.get("/api/v1/throughput", params={**params, **window}).json()
            assert [{k: v for k, v in r.items() if k != "t"} for r in steps if r["t"] == t] == alone, t
