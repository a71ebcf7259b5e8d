"""The rollout judge slices by configured dimensions (#21 part 1), on SQLite and PostgreSQL: a
canary worse only for Scottish speakers is found in `accent=scottish`, read from the slot
column of the rollups and sessions; a dimension nobody configured is an error naming slice_by."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from collector.store import configure_dimensions, dimensions_of, score_and_store_samples, store_sessions
from collector.store.database import make_engine, migrate
from collector.store.schemas import SampleIn, SessionIn
from slo.rollout import service
from slo.rollout.data import load_slices

sys.path.insert(0, str(Path(__file__).parent.parent))  # tests/live_collector.py
from live_collector import running_collector  # noqa: E402

T = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
AT = T + timedelta(hours=2)
PRICE = lambda pool: 2.5  # noqa: E731
ACCENTS = ("scottish", "welsh", "general")
WORDS = ["apple", "river", "stone", "cloud", "green", "house", "music", "paper", "table", "window", "garden",
         "silver"]


def _arm(version: str, n: int, wer: dict[str, float], seed: int) -> tuple[list[SessionIn], list[SampleIn]]:
    """`n` sessions per accent, plus a few that leave the accent unset, each with a labeled sample
    whose word errors are drawn at the accent's WER."""
    rng = np.random.default_rng(seed)
    sessions, samples = [], []
    for i in range(n * len(ACCENTS) + 30):
        accent = ACCENTS[i % len(ACCENTS)] if i < n * len(ACCENTS) else None
        ref = [WORDS[(i + j) % len(WORDS)] for j in range(10)]
        errors = int(rng.binomial(10, wer[accent or "general"]))
        sid = f"{version}-{i}"
        sessions.append(SessionIn.model_validate({
            "session_id": sid, "ts": (T + timedelta(seconds=i * 2)).isoformat(), "model_version": version,
            "region": "eu", "channel": "web", "status": "ok", "final_latency_ms": float(rng.lognormal(6.4, 0.3)),
            "gpu_seconds": 0.2, "hypothesis": " ".join(["zebra"] * errors + ref[errors:]),
            "attributes": {"accent": accent} if accent else None}))
        samples.append(SampleIn.model_validate({"session_id": sid, "reference": " ".join(ref)}))
    return sessions, samples


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    configure_dimensions(engine, ["accent"])
    for version, wer, seed in (("v1", {"scottish": 0.10, "welsh": 0.10, "general": 0.10}, 1),
                               ("v2", {"scottish": 0.25, "welsh": 0.10, "general": 0.10}, 2)):
        sessions, samples = _arm(version, 300, wer, seed)
        store_sessions(engine, sessions, T)
        _, rejected = score_and_store_samples(engine, list(enumerate(samples)), "basic", T)
        assert not rejected
    yield engine
    engine.dispose()


def _spec(engine, **over):
    raw = {"name": "asr-v2", "baseline_version": "v1", "canary_version": "v2", "slice_by": ["accent"],
           "protected_slices": [{"accent": "scottish"}], "min_utterances": 100, "since": T.isoformat(), **over}
    return service.parse_spec(raw, dimensions_of(engine))


def test_the_judge_finds_the_accent_the_canary_is_worse_for(engine):
    slices = load_slices(engine, baseline="v1", canary="v2", slice_by=["accent", "region"], since=T, until=AT,
                         price_per_gpu_hour=PRICE)
    # Every session in its accent's slice, the unset ones in `unknown`, from rollups and sessions alike.
    assert {(s.key["accent"], s.key["region"]): (s.canary.sessions, len(s.canary.latency_ms), s.canary.utterances)
            for s in slices} == {("scottish", "eu"): (300, 300, 300), ("welsh", "eu"): (300, 300, 300),
                                 ("general", "eu"): (300, 300, 300), ("unknown", "eu"): (30, 30, 30)}

    service.register(engine, _spec(engine), actor="test", at=T)
    verdict = service.verdict_for(engine, "asr-v2", AT, price_per_gpu_hour=PRICE)
    assert verdict.decision == "rollback", verdict.reasons
    assert any("WER regression in accent=scottish" in r for r in verdict.reasons), verdict.reasons
    by_slice = verdict.metrics["slices"]
    assert by_slice["accent=scottish"]["tests"]["wer"]["regression"] is True
    assert by_slice["accent=scottish"]["family"] == "protected"
    assert by_slice["accent=welsh"]["tests"]["wer"]["regression"] is False
    assert by_slice["accent=general"]["tests"]["wer"]["regression"] is False


def test_an_unknown_dimension_is_an_error_naming_slice_by(engine):
    with pytest.raises(ValueError, match=r"slice_by: unknown dimension\(s\) \['acent'\]; use \[.*'pool', 'accent'\]"):
        _spec(engine, slice_by=["acent"], protected_slices=[])
    with pytest.raises(ValueError, match=r"protected_slices\[0\]: \['accent'\] not in slice_by"):
        _spec(engine, slice_by=["channel"])
    with pytest.raises(ValueError, match=r"slice_by: unknown dimension\(s\) \['acent'\]"):
        load_slices(engine, baseline="v1", canary="v2", slice_by=["acent"], since=T, until=AT,
                    price_per_gpu_hour=PRICE)
    # Without the store's dimensions a spec knows the fixed ones only, and register checks them.
    with pytest.raises(ValueError, match="slice_by: unknown dimension"):
        service.RolloutSpec(name="x", baseline_version="v1", canary_version="v2", slice_by=["accent"])
    unconfigured = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with pytest.raises(ValueError, match=r"slice_by: unknown dimension\(s\) \['accent'\]"):
            service.register(unconfigured, _spec(engine), actor="test", at=T)
        # Registered while `accent` was configured, judged after it left the config: pause, saying why.
        service.register(engine, _spec(engine), actor="test", at=T)
        verdict = service.verdict_for(unconfigured, "asr-v2", AT, price_per_gpu_hour=PRICE)
        assert verdict.decision == "pause"
        assert verdict.reasons[0].startswith("rollout 'asr-v2' cannot be judged: slice_by: unknown dimension(s)")
    finally:
        unconfigured.dispose()


def test_the_api_registers_a_rollout_sliced_by_a_configured_dimension(tmp_path):
    with running_collector(tmp_path, {"dimensions": ["accent"], "evaluator_interval_s": 3600}) as live:
        with live.client("admin") as c:
            body = {"name": "by-accent", "baseline_version": "v1", "canary_version": "v2", "slice_by": ["accent"],
                    "protected_slices": [{"accent": "scottish"}]}
            assert c.post("/api/v1/rollouts", json=body).status_code == 201
            assert c.get("/api/v1/rollouts/by-accent").json()["slice_by"] == ["accent"]
            typo = c.post("/api/v1/rollouts", json={**body, "name": "typo", "slice_by": ["acent"]})
            assert typo.status_code == 422 and typo.json()["detail"][0]["loc"] == ["body", "slice_by"]
            assert "unknown dimension(s) ['acent']" in typo.text and "'accent'" in typo.text
            verdict = c.get("/api/v1/rollouts/by-accent/verdict").json()
            assert verdict["decision"] == "pause" and verdict["reasons"][0].startswith("insufficient data")
