"""Two evaluator processes racing on a real PostgreSQL produce exactly one rollback."""

import json
import multiprocessing
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from collector.store.database import make_engine, migrate
from collector.store.leader import LeaderLock
from collector.store.models import AuditEntry
from slo.rollout import service
from slo.rollout.actuators import TrafficRouterFile, Webhook
from slo.rollout.models import RolloutAction

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
sys.path.insert(0, str(Path(__file__).parent.parent / "router"))
from rollout_synthetic import insert, traffic  # noqa: E402
from router_receivers import Receiver  # noqa: E402

pytestmark = pytest.mark.postgres
AT = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def _evaluator(url, hook_url, routes_path, use_lock, start, done, results):
    engine = make_engine(url)
    lock = LeaderLock(engine, "asrwatch-rollout-evaluator")
    actuators = [TrafficRouterFile(routes_path), Webhook(hook_url, sleep=lambda s: None)]
    start.wait()
    leader = lock.acquire() if use_lock else True
    outcome = {}
    if leader:
        outcome = service.evaluate_all(engine, AT, actuators, actor=f"evaluator-{multiprocessing.current_process().pid}",
                                       price_per_gpu_hour=lambda pool: 2.5)
    done.wait()  # hold the lock until both have tried
    lock.release()
    results.put({"leader": leader, "outcome": outcome})
    engine.dispose()


def _race(url, hook_url, routes_path, use_lock):
    ctx = multiprocessing.get_context("fork")
    start, done, results = ctx.Barrier(2), ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_evaluator, args=(url, hook_url, routes_path, use_lock, start, done, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return out


@pytest.fixture
def pg_engine(postgres_url):
    engine = make_engine(postgres_url)
    migrate(engine)
    insert(engine, traffic("v1", 1500, seed=1), AT - timedelta(hours=1))
    insert(engine, traffic("v2", 1500, latency_scale=1.5, seed=2), AT - timedelta(hours=1))
    service.register(engine, service.RolloutSpec(
        name="asr-v2", baseline_version="v1", canary_version="v2", slice_by=["channel"],
        protected_slices=[{"channel": "far_field"}], min_utterances=200), actor="admin", at=AT)
    yield engine
    engine.dispose()


def _counts(engine):
    with OrmSession(engine) as s:
        rollbacks = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "rollout.rollback"))
        actions = s.scalar(select(func.count()).select_from(RolloutAction))
    return rollbacks, actions


@pytest.mark.parametrize("use_lock", [True, False], ids=["leader-lock", "split-brain"])
def test_two_evaluators_produce_exactly_one_rollback(pg_engine, postgres_url, tmp_path, use_lock):
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({"routes": {"v1": {"weight": 0.5}, "v2": {"weight": 0.5}}}))
    with Receiver() as hook:
        results = _race(postgres_url, hook.url + "/rollback", routes, use_lock)
        assert len(hook.requests) == 1
    leaders = [r for r in results if r["leader"]]
    if use_lock:
        assert len(leaders) == 1  # the advisory lock admits one
    acted = [r for r in results if r["outcome"].get("asr-v2", {}).get("actions")]
    assert len(acted) == 1
    assert _counts(pg_engine) == (1, 2)
    data = json.loads(routes.read_text())
    assert data["routes"]["v2"]["weight"] == 0.0 and data["routes"]["v1"]["weight"] == 1.0
    assert service.get(pg_engine, "asr-v2")["state"] == "rolled_back"


def test_advisory_lock_passes_on_when_leader_goes(pg_engine):
    a = LeaderLock(pg_engine, "t-handover")
    b = LeaderLock(pg_engine, "t-handover")
    assert a.acquire() and a.acquire()  # re-acquiring while leading is a no-op
    assert not b.acquire()
    a.release()
    assert b.acquire() and b.is_leader
    b.release()
