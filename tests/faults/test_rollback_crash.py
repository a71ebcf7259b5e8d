"""The evaluator crashing mid-rollback does not act twice, nor lose the rollback, after restart.

A real collector runs the rollout evaluator with two actuators: the traffic-router file (what
the gateway and the simulator read) and a webhook. A test-only hook makes the process die
like kill -9 (`os._exit(137)`) right after the first actuator acted and before its outcome was
recorded. After a restart on the same database, the leader finds the rollback's outbox (one
row in progress, one pending), finishes it, and each actuator's own state shows exactly one
rollback; the audit log shows one.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from live_collector import running_collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from collector.store.database import make_engine, migrate
from collector.store.models import AuditEntry
from slo.rollout.models import RolloutAction
from slo.rollout.outbox import CRASH_ENV, IN_PROGRESS, PENDING

sys.path.insert(0, str(Path(__file__).parent.parent / "rollout"))
sys.path.insert(0, str(Path(__file__).parent.parent / "router"))
from rollout_synthetic import insert, traffic  # noqa: E402
from router_receivers import Receiver  # noqa: E402

AT = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
ROLLOUT = {"name": "asr-v2", "baseline_version": "v1", "canary_version": "v2", "slice_by": ["channel"],
           "protected_slices": [{"channel": "far_field"}], "min_utterances": 200}


def _seed(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    insert(engine, traffic("v1", 1500, seed=1), AT - timedelta(hours=1))
    insert(engine, traffic("v2", 1500, latency_scale=1.5, seed=2), AT - timedelta(hours=1))  # a clear regression
    engine.dispose()


def _actions(engine) -> dict[str, tuple[bool, str]]:
    with OrmSession(engine) as s:
        return {a.actuator.split(":")[0]: (a.ok, a.detail) for a in s.scalars(select(RolloutAction))}


def _audit(engine) -> dict[str, int]:
    with OrmSession(engine) as s:
        return dict(s.execute(select(AuditEntry.action, func.count()).where(AuditEntry.target == ROLLOUT["name"])
                              .group_by(AuditEntry.action)).all())


def test_crash_right_after_the_actuator_acted_does_not_act_twice(tmp_path, database_url, monkeypatch):
    _seed(database_url)
    routes = tmp_path / "gateway" / "routes.json"
    routes.parent.mkdir()
    routes.write_text(json.dumps({"routes": {"v1": {"weight": 0.8}, "v2": {"weight": 0.2}}}))
    engine = make_engine(database_url)
    with Receiver() as hook:
        config = {"evaluator_clock": "watermark", "evaluator_interval_s": 1.0, "traffic_router_file": str(routes),
                  "rollout_actuators": [{"kind": "webhook", "url": hook.url + "/rollback"}]}
        monkeypatch.setenv(CRASH_ENV, "rollback.after_actuator")
        with running_collector(tmp_path / "work", config=config, database_url=database_url) as live:
            with live.client("admin") as http:
                assert http.post("/api/v1/rollouts", json=ROLLOUT).status_code == 201
            exit_code = live.process.wait(timeout=120)  # the evaluator judges, rolls back, dies mid-way
            after_crash = {"routes": routes.read_text(), "stat": routes.stat(), "webhook_calls": len(hook.requests),
                           "actions": _actions(engine), "audit": _audit(engine)}

            monkeypatch.delenv(CRASH_ENV)
            live.start()  # same database, same config, no fault
            deadline = time.monotonic() + 60
            while any(not ok for ok, _ in _actions(engine).values()) and time.monotonic() < deadline:
                time.sleep(0.2)
            with live.client("read") as http:
                rollout = http.get(f"/api/v1/rollouts/{ROLLOUT['name']}").json()
        finished = {"actions": _actions(engine), "audit": _audit(engine), "stat": routes.stat()}
        requests = list(hook.requests)
    engine.dispose()

    # The crash came where intended: the traffic file acted, its outcome unrecorded; the webhook
    # never ran. The intent was on record before either: the claim's audit entry and the outbox.
    assert exit_code == 137, live.log()
    assert json.loads(after_crash["routes"])["routes"]["v2"]["weight"] == 0.0
    assert after_crash["webhook_calls"] == 0
    assert after_crash["actions"]["traffic_file"][1].startswith(IN_PROGRESS)
    assert after_crash["actions"]["webhook"][1] == PENDING
    assert after_crash["audit"] == {"rollout.register": 1, "rollout.rollback": 1}

    # After the restart the leader finished the rollback: the file was not written again (same
    # inode, same bytes: the router's state shows one rollback), the webhook was called once.
    assert routes.read_text() == after_crash["routes"]
    assert (finished["stat"].st_ino, finished["stat"].st_mtime_ns) == \
        (after_crash["stat"].st_ino, after_crash["stat"].st_mtime_ns)
    assert len(requests) == 1 and requests[0]["headers"]["Idempotency-Key"] == "asr-v2:rollback:v2"
    assert {k: ok for k, (ok, _) in finished["actions"].items()} == {"traffic_file": True, "webhook": True}
    assert "already at weight 0" in finished["actions"]["traffic_file"][1]
    assert finished["audit"] == {"rollout.register": 1, "rollout.rollback": 1, "rollout.rollback.ok": 2}
    assert rollout["state"] == "rolled_back" and len(rollout["actions"]) == 2
