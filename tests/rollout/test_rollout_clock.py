"""A gate asked without `at` judges at the collector's clock (issue #16, point 7).

During a replay (`evaluator_clock: watermark`) the data lie days behind the wall clock: Argo and
Flagger send no time, so a verdict at the wall clock would find no data and say `pause` forever
while the rollout evaluator, judging at the watermark, rolls the canary back.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fastapi.testclient import TestClient

from asrwatch.server import create_app
from asrwatch.settings import Settings
from collector.store.clock import evaluation_time
from collector.store.database import migrate
from slo.rollout import service

sys.path.insert(0, str(Path(__file__).parent))
from rollout_synthetic import insert, traffic  # noqa: E402

START = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)  # months before the wall clock


def test_verdicts_without_at_judge_at_the_watermark(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", evaluator_enabled=False,
                              evaluator_clock="watermark"))
    migrate(app.state.services.engine)
    engine = app.state.services.engine
    insert(engine, traffic("v1", 1500, seed=7), START)
    insert(engine, traffic("v3", 1500, wer_scale={"far_field": 2.0}, seed=9), START)
    service.register(engine, service.RolloutSpec(
        name="bad", baseline_version="v1", canary_version="v3", slice_by=["channel"],
        protected_slices=[{"channel": "far_field"}], min_utterances=200), actor="test", at=START)
    mark = evaluation_time(engine, "watermark")
    assert START < mark < START + timedelta(hours=2)
    client = TestClient(app)
    body = client.get("/api/v1/rollouts/bad/verdict").json()
    assert (body["decision"], datetime.fromisoformat(body["at"])) == ("rollback", mark)
    # At the wall clock the same rollout has no data in its lookback: what the gate said before.
    wall = client.get("/api/v1/rollouts/bad/verdict", params={"at": datetime.now(timezone.utc).isoformat()}).json()
    assert wall["decision"] == "pause"
    hook = client.post("/api/v1/flagger/bad/rollback", json={"name": "bad", "namespace": "speech"})
    assert (hook.status_code, hook.json()["decision"]) == (200, "rollback")
