import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from collector.measures import wer
from slo.rollout import stats
from slo.rollout.judge import ArmStats, SliceData, Thresholds, judge

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
from rollout_synthetic import LAUNCH_GATE_SCALE, slices, traffic  # noqa: E402

AT = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
FAR = [{"channel": "far_field"}]


def test_launch_gate_far_field_regression_vetoes_average_gain():
    base = traffic("v1", 20000, seed=1)
    canary = traffic("v2", 20000, wer_scale=LAUNCH_GATE_SCALE, seed=2)
    v = judge(slices(canary, base), protected=FAR, thresholds=Thresholds(), at=AT)
    overall = v.metrics["slices"]["all"]["tests"]["wer"]
    assert overall["effect"] < -0.02  # the average improved...
    assert v.decision == "rollback"  # ...and still the canary goes
    assert any("far_field" in r and "WER regression" in r for r in v.reasons), v.reasons
    far = v.metrics["slices"]["channel=far_field"]["tests"]["wer"]
    assert far["regression"] is True and 0.03 < far["effect"] < 0.15
    assert far["low"] > 0  # the bootstrap interval excludes "no change"


def test_same_canary_without_protection_only_pauses():
    base = traffic("v1", 20000, seed=1)
    canary = traffic("v2", 20000, wer_scale=LAUNCH_GATE_SCALE, seed=2)
    v = judge(slices(canary, base), protected=[], thresholds=Thresholds(), at=AT)
    assert v.decision == "pause"
    assert any(r.startswith("review: WER regression in channel=far_field") for r in v.reasons), v.reasons


def test_benign_canary_continues():
    base = traffic("v1", 6000, seed=3)
    canary = traffic("v2", 6000, seed=4)
    v = judge(slices(canary, base), protected=FAR, thresholds=Thresholds(), at=AT)
    assert v.decision == "continue", v.reasons
    assert v.metrics["canary"]["utterances"] > 5000


def test_benign_canaries_rarely_roll_back_across_seeds():
    # Family-wise error control: identical versions must almost never be rolled back.
    rollbacks = 0
    for seed in range(8):
        base = traffic("v1", 2500, seed=100 + seed)
        canary = traffic("v2", 2500, seed=200 + seed)
        v = judge(slices(canary, base), protected=FAR, at=AT,
                  thresholds=Thresholds(bootstrap_iterations=500, seed=seed))
        rollbacks += v.decision == "rollback"
    assert rollbacks <= 1


def test_sparse_data_pauses_with_counts():
    base = traffic("v1", 120, seed=5)
    canary = traffic("v2", 60, seed=6)
    v = judge(slices(canary, base), protected=FAR, thresholds=Thresholds(min_utterances=200), at=AT)
    assert v.decision == "pause"
    first = v.reasons[0]
    assert "insufficient data" in first
    assert f"canary {v.metrics['canary']['utterances']}" in first
    assert v.metrics["canary"]["utterances"] < 200


def test_privacy_error_forces_rollback_even_when_better():
    base = traffic("v1", 4000, seed=7)
    canary = traffic("v2", 4000, wer_scale={c: 0.8 for c in LAUNCH_GATE_SCALE}, seed=8)
    parts = slices(canary, base)
    s0 = parts[0]
    parts[0] = SliceData(s0.key, ArmStats(**{**s0.canary.__dict__, "privacy_errors": 1}), s0.baseline)
    v = judge(parts, protected=FAR, thresholds=Thresholds(), at=AT)
    assert v.decision == "rollback"
    assert v.reasons[0].startswith("privacy:")


def test_burn_rate_page_on_canary_forces_rollback():
    base = traffic("v1", 3000, seed=9)
    canary = traffic("v2", 3000, seed=10)
    v = judge(slices(canary, base), protected=FAR, thresholds=Thresholds(), at=AT,
              canary_pages=["SLOBurnRatePage slo=final-latency model_version=v2"])
    assert v.decision == "rollback"
    assert "burn-rate page" in v.reasons[0]


def test_latency_regression_detected_with_mann_whitney():
    base = traffic("v1", 3000, seed=11)
    canary = traffic("v2", 3000, latency_scale=1.4, seed=12)
    v = judge(slices(canary, base), protected=FAR, thresholds=Thresholds(), at=AT)
    assert v.decision == "rollback"
    assert any("latency p95 regression in all" in r for r in v.reasons)


def test_decode_errors_two_proportion():
    r = stats.proportion_increase(40, 2000, 8, 2000)
    assert r.p_value < 1e-4 and r.effect == pytest.approx(0.016)
    assert stats.proportion_increase(8, 2000, 40, 2000).p_value > 0.99


def test_holm_is_step_down():
    assert stats.holm([0.01, 0.04, 0.03], 0.05) == [True, False, False]
    assert stats.holm([0.01, 0.02, 0.03], 0.1) == [True, True, True]


def test_wer_pairs_parse_rollup_json():
    pairs = wer.pair_counts({"2:10": 3, "0:5": 1})
    assert wer.corpus_wer(*wer.parse_pairs(pairs)) == pytest.approx(6 / 35)


def test_naive_at_rejected():
    with pytest.raises(ValueError, match="at"):
        judge([], protected=[], thresholds=Thresholds(), at=datetime(2026, 1, 1))


def test_zero_baseline_wer_gives_json_safe_metrics():
    import json

    perfect = ArmStats(wer_pairs={(0, 10): 300}, latency_ms=[500.0] * 300, sessions=300, successful_turns=300)
    worse = ArmStats(wer_pairs={(1, 10): 300}, latency_ms=[500.0] * 300, sessions=300, successful_turns=300)
    v = judge([SliceData({"channel": "web"}, worse, perfect)], protected=[], thresholds=Thresholds(), at=AT)
    assert v.decision == "rollback"  # pooled WER 0 -> 10% is a protected-family regression
    text = json.dumps(v.to_dict(), allow_nan=False)
    assert '"effect": null' in text
