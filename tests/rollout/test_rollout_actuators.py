import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from slo.rollout.actuators import RolloutTarget, TrafficRouterFile, Webhook, from_settings
from asrwatch.settings import Settings

sys.path.insert(0, str(Path(__file__).parent.parent / "router"))
from router_receivers import Receiver  # noqa: E402

AT = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
TARGET = RolloutTarget("asr-v2", "v1", "v2")
VERDICT = {"decision": "rollback", "reasons": ["WER regression in channel=far_field"]}


def test_traffic_file_rollback_is_idempotent_and_keeps_other_routes(tmp_path):
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"routes": {"v1": {"weight": 0.7}, "v2": {"weight": 0.2}, "v0": {"weight": 0.1}}}))
    actuator = TrafficRouterFile(path)
    first = actuator.rollback(TARGET, VERDICT, at=AT, actor="ev", dry_run=False)
    assert first.ok and first.changed
    data = json.loads(path.read_text())
    assert data["routes"] == {"v1": {"weight": pytest.approx(0.9)}, "v2": {"weight": 0.0}, "v0": {"weight": 0.1}}
    assert data["reason"] == "rollback of asr-v2: WER regression in channel=far_field"
    before = path.read_text()
    second = actuator.rollback(TARGET, VERDICT, at=AT, actor="ev", dry_run=False)
    assert second.ok and not second.changed and path.read_text() == before


def test_traffic_file_created_when_missing_and_bad_file_named(tmp_path):
    path = tmp_path / "gw" / "routes.json"
    TrafficRouterFile(path).rollback(TARGET, VERDICT, at=AT, actor="ev", dry_run=False)
    assert json.loads(path.read_text())["routes"] == {"v1": {"weight": 1.0}, "v2": {"weight": 0.0}}
    path.write_text(json.dumps({"routes": ["v1"]}))
    with pytest.raises(ValueError, match="routes"):
        TrafficRouterFile(path).rollback(TARGET, VERDICT, at=AT, actor="ev", dry_run=False)


def test_webhook_retries_then_reports_failure():
    slept = []
    with Receiver(statuses=[503, 503, 503]) as hook:
        result = Webhook(hook.url, max_attempts=3, backoff_s=0.1, sleep=slept.append).rollback(
            TARGET, VERDICT, at=AT, actor="ev", dry_run=False)
        assert not result.ok and "HTTP 503" in result.detail
        assert len(hook.requests) == 3 and slept == [0.1, 0.2]
        dry = Webhook(hook.url).rollback(TARGET, VERDICT, at=AT, actor="ev", dry_run=True)
        assert dry.ok and dry.detail.startswith("dry run") and len(hook.requests) == 3


def test_actuators_from_settings(tmp_path):
    settings = Settings(traffic_router_file=str(tmp_path / "r.json"),
                        rollout_actuators=[{"kind": "webhook", "url": "http://127.0.0.1:9/x"}])
    assert [a.name.split(":")[0] for a in from_settings(settings)] == ["traffic_file", "webhook"]
    with pytest.raises(ValueError, match=r"rollout_actuators\[0\]"):
        from_settings(Settings(rollout_actuators=[{"kind": "email"}]))
