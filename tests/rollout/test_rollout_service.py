import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from collector.store.database import make_engine, migrate
from collector.store.leader import LeaderLock
from collector.store.models import AuditEntry
from collector.store.queries import audit_log
from slo.rollout import service
from slo.rollout.actuators import TrafficRouterFile, Webhook

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
sys.path.insert(0, str(Path(__file__).parent.parent / "router"))
from rollout_synthetic import LAUNCH_GATE_SCALE, insert, traffic  # noqa: E402
from router_receivers import Receiver  # noqa: E402

AT = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
WALL = AT + timedelta(days=15, minutes=3)  # a replay: the wall clock is long past the event time judged
PRICE = lambda pool: 2.5  # noqa: E731


def spec(**over):
    base = dict(name="asr-v2", baseline_version="v1", canary_version="v2", slice_by=["channel", "region"],
                protected_slices=[{"channel": "far_field"}], min_utterances=200)
    return service.RolloutSpec(**{**base, **over})


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/rollout.db")
    migrate(engine)
    yield engine
    engine.dispose()


def audit(engine, action_prefix):
    with OrmSession(engine) as s:
        return [a for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id)) if a.action.startswith(action_prefix)]


def test_launch_gate_from_the_database_rolls_back_once(engine, tmp_path):
    insert(engine, traffic("v1", 20000, seed=1), AT - timedelta(hours=1))
    insert(engine, traffic("v2", 20000, wer_scale=LAUNCH_GATE_SCALE, seed=2), AT - timedelta(hours=1))
    service.register(engine, spec(), actor="admin", at=AT - timedelta(hours=2))
    traffic_file = tmp_path / "routes.json"
    traffic_file.write_text(json.dumps({"routes": {"v1": {"weight": 0.9}, "v2": {"weight": 0.1}}}))

    verdict = service.verdict_for(engine, "asr-v2", AT, price_per_gpu_hour=PRICE)
    assert verdict.decision == "rollback"
    assert any("far_field" in r for r in verdict.reasons)
    assert verdict.metrics["slices"]["all"]["tests"]["wer"]["effect"] < -0.02
    assert verdict.metrics["canary"]["cost_per_successful_turn"] > 0

    with Receiver() as hook:
        acts = [TrafficRouterFile(traffic_file), Webhook(hook.url + "/rollback", sleep=lambda s: None)]
        records = service.act_on(engine, "asr-v2", verdict, acts, actor="rollout-evaluator", wall_at=WALL)
        assert [r.ok for r in records] == [True, True]
        assert service.act_on(engine, "asr-v2", verdict, acts, actor="rollout-evaluator") is None  # idempotent
        assert len(hook.requests) == 1
        sent = hook.requests[0]
        assert sent["headers"]["Idempotency-Key"] == "asr-v2:rollback:v2"
        assert sent["json"]["action"] == "rollback" and sent["json"]["canary_version"] == "v2"

    routes = json.loads(traffic_file.read_text())
    assert routes["routes"]["v2"]["weight"] == 0.0 and routes["routes"]["v1"]["weight"] == pytest.approx(1.0)
    assert routes["updated_by"] == "rollout-evaluator" and "far_field" in routes["reason"]
    assert routes["updated_at"] == "2026-11-21T12:00:00Z"
    assert list(tmp_path.glob(".routes.json.*")) == []  # no temp file left behind

    rollbacks = audit(engine, "rollout.rollback")
    assert [a.action for a in rollbacks][:1] == ["rollout.rollback"]
    assert rollbacks[0].actor == "rollout-evaluator" and "far_field" in rollbacks[0].reason
    # The judge judged event time AT (a replay: days behind the wall clock); the audit keeps both,
    # so the rollback is not logged before the registration a person made at the wall clock.
    assert all(a.event_at == AT for a in rollbacks)  # the rollback and each actuator's outcome
    assert all(a.at == WALL for a in rollbacks)
    (registered,) = audit(engine, "rollout.register")
    assert registered.event_at is None and registered.at == AT - timedelta(hours=2)
    # Asked for the replayed hour, the audit log has the rollbacks judged in it (written later,
    # by the wall clock), and not the registration two hours before it.
    listed = audit_log(engine, AT - timedelta(hours=1), AT + timedelta(hours=1), 100)
    assert {e["action"] for e in listed} == {"rollout.rollback", "rollout.rollback.ok"}
    assert [e["action"] for e in audit_log(engine, AT - timedelta(hours=3), AT - timedelta(hours=1), 100)] == \
        ["rollout.register"]
    assert rollbacks[0].evidence["decision"] == "rollback" and rollbacks[0].evidence["metrics"]["slices"]
    got = service.get(engine, "asr-v2")
    assert got["state"] == "rolled_back" and len(got["actions"]) == 2
    assert service.active_rollouts(engine) == []


def test_sparse_data_pauses_and_dry_run_touches_nothing(engine, tmp_path):
    insert(engine, traffic("v1", 150, seed=3), AT - timedelta(minutes=30))
    insert(engine, traffic("v2", 40, seed=4), AT - timedelta(minutes=30))
    service.register(engine, spec(dry_run=True), actor="admin", at=AT)
    verdict = service.verdict_for(engine, "asr-v2", AT, price_per_gpu_hour=PRICE)
    assert verdict.decision == "pause"
    assert verdict.reasons[0].startswith("insufficient data: canary ")
    assert f"canary {verdict.metrics['canary']['utterances']}," in verdict.reasons[0]
    assert service.act_on(engine, "asr-v2", verdict, [], actor="x") is None
    assert service.get(engine, "asr-v2")["last_decision"] == "pause"


def test_privacy_error_rolls_back_in_dry_run_without_side_effects(engine, tmp_path):
    insert(engine, traffic("v1", 1500, seed=5), AT - timedelta(hours=1))
    insert(engine, traffic("v2", 1500, seed=6), AT - timedelta(hours=1), privacy_error_every=700)
    service.register(engine, spec(dry_run=True), actor="admin", at=AT)
    verdict = service.verdict_for(engine, "asr-v2", AT, price_per_gpu_hour=PRICE)
    assert verdict.decision == "rollback" and verdict.reasons[0].startswith("privacy: 3 privacy error(s)")
    target = tmp_path / "routes.json"
    records = service.act_on(engine, "asr-v2", verdict, [TrafficRouterFile(target)], actor="ev")
    assert records[0].dry_run and records[0].detail.startswith("dry run: would set v2 weight")
    assert not target.exists()
    assert service.get(engine, "asr-v2")["state"] == "active"


def test_spec_errors_name_the_field():
    with pytest.raises(ValueError, match="protected_slices.0.: \\['pool'\\] not in slice_by"):
        spec(protected_slices=[{"pool": "gpu"}])
    with pytest.raises(ValueError, match="slice_by: unknown dimension"):
        spec(slice_by=["colour"])
    with pytest.raises(ValueError, match="canary_version: must differ"):
        spec(canary_version="v1")
    with pytest.raises(ValueError, match="thresholds: unknown key"):
        spec(thresholds={"alfa": 0.1})


def test_register_twice_is_idempotent_but_conflicts_are_refused(engine):
    _, created = service.register(engine, spec(), actor="a", at=AT)
    _, again = service.register(engine, spec(), actor="a", at=AT)
    assert created and not again
    with pytest.raises(ValueError, match="already exists with a different spec"):
        service.register(engine, spec(canary_version="v3"), actor="a", at=AT)


def test_sqlite_leader_is_exclusive_and_lease_expires(engine):
    a = LeaderLock(engine, "t", lease_s=30, holder="a")
    b = LeaderLock(engine, "t", lease_s=30, holder="b")
    assert a.acquire(AT) and a.acquire(AT + timedelta(seconds=10))  # renews
    assert not b.acquire(AT + timedelta(seconds=20))  # in-process lock held by a
    a.release()
    assert b.acquire(AT + timedelta(seconds=21))
    b.release()


def test_burn_rate_page_on_the_canary_forces_rollback(engine):
    from slo.models import SLOAlertState

    insert(engine, traffic("v1", 1500, seed=7), AT - timedelta(hours=1))
    insert(engine, traffic("v2", 1500, seed=8), AT - timedelta(hours=1))
    service.register(engine, spec(), actor="admin", at=AT)
    assert service.verdict_for(engine, "asr-v2", AT, price_per_gpu_hour=PRICE).decision == "continue"

    def page(version, starts, resolved=None):
        labels = {"alertname": "SLOBurnRatePage", "severity": "page", "slo": "final-latency",
                  "model_version": version, "region": "eu"}
        return SLOAlertState(fingerprint=version, name="SLOBurnRatePage", slo="final-latency", severity="page",
                             labels=labels, starts_at=starts, resolved_at=resolved, last_evaluated_at=starts,
                             summary="burning", runbook_url="", annotations={}, routed_to=[])

    with OrmSession(engine) as s, s.begin():
        s.add(page("v1", AT - timedelta(minutes=10)))  # the baseline's page is not the canary's
        s.add(page("v2", AT - timedelta(hours=3), resolved=AT - timedelta(hours=2)))  # over before `at`
    assert service.verdict_for(engine, "asr-v2", AT, price_per_gpu_hour=PRICE).decision == "continue"
    with OrmSession(engine) as s, s.begin():
        s.add(page("v2", AT - timedelta(minutes=5)))
    verdict = service.verdict_for(engine, "asr-v2", AT, price_per_gpu_hour=PRICE)
    assert verdict.decision == "rollback"
    assert verdict.reasons[0].startswith("burn-rate page firing on the canary's group: SLOBurnRatePage "
                                         "slo=final-latency")
    assert "model_version=v2" in verdict.reasons[0]
