"""The pure generator: determinism, fleet distributions, scenario effects, router obedience."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from scipy.stats import spearmanr

from simulator.fleet import CHANNELS, WORDS_PER_SECOND, FleetConfig, draw_draft, utterance_error_rate
from simulator.generate import diurnal_factor, generate
from simulator.run import scenario_set
from simulator.scenarios import SCENARIOS, activate, channel_error_shares, parse_offset
from simulator.traffic_router import RouterState

START = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)


def run(scenarios="steady", hours=0.5, rate=200, seed=7, label_fraction=0.2, start=START, **kw):
    active = scenario_set(scenarios, start, hours)
    fleet = kw.pop("fleet", FleetConfig(label_fraction=label_fraction))
    return list(generate(active, start, hours, rate, seed, fleet=fleet, **kw))


def records(batches):
    return [r for b in batches for r in b.all_records()]


def samples(batches):
    return [s for b in batches for s in b.samples]


def corpus_wer(items):
    words = sum(s.utterance.ref_words for s in items)
    return sum(s.utterance.errors for s in items) / words


def test_same_seed_same_fleet_and_different_seed_different_fleet():
    a, b = run(seed=1, hours=0.1), run(seed=1, hours=0.1)
    assert records(a) == records(b)
    assert [s.to_api() for s in samples(a)] == [s.to_api() for s in samples(b)]
    c = run(seed=2, hours=0.1)
    assert {r["session_id"] for r in records(a)}.isdisjoint({r["session_id"] for r in records(c)})


def test_sending_every_transcript_changes_nothing_else():
    plain, full = records(run(hours=0.1)), records(run(hours=0.1, hypotheses=True))
    assert len(plain) == len(full)
    strip = lambda r: {k: v for k, v in r.items() if k != "hypothesis"}  # noqa: E731
    assert [strip(r) for r in plain] == [strip(r) for r in full]
    assert sum("hypothesis" in r for r in full) > sum("hypothesis" in r for r in plain)


def test_bad_arguments_name_the_field():
    active = scenario_set("steady", START, 1)
    with pytest.raises(ValueError, match="start"):
        next(generate(active, START.replace(tzinfo=None), 1, 10, 0))
    with pytest.raises(ValueError, match="otlp_fraction"):
        next(generate(active, START, 1, 10, 0, otlp_fraction=1.5))
    with pytest.raises(ValueError, match="label_fraction"):
        FleetConfig(label_fraction=2)
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        scenario_set("nope", START, 1)
    with pytest.raises(ValueError, match="onset"):
        activate("decode-failures@soon", START, 1)


def test_traffic_follows_the_day_and_the_label_fraction():
    assert diurnal_factor(START.replace(hour=15)) == pytest.approx(1.35)
    assert diurnal_factor(START.replace(hour=3)) == pytest.approx(0.65)
    peak = run(hours=0.25, start=START.replace(hour=15), rate=100)
    trough = run(hours=0.25, start=START.replace(hour=3), rate=100)
    ratio = len(records(peak)) / len(records(trough))
    assert 1.7 < ratio < 2.5  # 1.35 / 0.65 = 2.08
    batches = run(hours=0.5, rate=200, label_fraction=0.2)
    assert len(samples(batches)) / len(records(batches)) == pytest.approx(0.2, abs=0.02)


def test_slices_draw_realistic_audio_errors_latency_and_confidence():
    batches = run(hours=0.5, rate=300, label_fraction=0.5)
    recs = records(batches)
    by_channel = defaultdict(list)
    for s in samples(batches):
        by_channel[s.slice["channel"]].append(s)
    wers = {c: corpus_wer(v) for c, v in by_channel.items()}
    assert wers["web"] < wers["mobile"] < wers["telephony"] < wers["far_field"]
    for channel, value in wers.items():  # the channel's base rate, within the SNR/language spread
        assert CHANNELS[channel].base_wer * 0.9 < value < CHANNELS[channel].base_wer * 1.3

    # Lower SNR raises errors within a channel.
    snr = {r["session_id"]: r["snr_db"] for r in recs}
    low = [s for s in by_channel["mobile"] if snr[s.session_id] < CHANNELS["mobile"].snr_mean_db]
    high = [s for s in by_channel["mobile"] if snr[s.session_id] >= CHANNELS["mobile"].snr_mean_db]
    assert corpus_wer(low) > corpus_wer(high) * 1.2

    # Far-field audio is noisier than web audio.
    mean_snr = {c: np.mean([r["snr_db"] for r in recs if r["channel"] == c]) for c in CHANNELS}
    assert mean_snr["far_field"] < mean_snr["telephony"] < mean_snr["mobile"] < mean_snr["web"]

    # Confidence tracks the real errors (what label-free WER estimation relies on).
    conf = {r["session_id"]: r.get("confidence") for r in recs}
    pairs = [(conf[s.session_id], s.utterance.errors / s.utterance.ref_words)
             for s in samples(batches) if conf[s.session_id] is not None]
    rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
    assert rho < -0.5

    # Final latency is long-tailed and a 2 s / 99% SLO has headroom in a normal hour.
    latency = np.array([r["final_latency_ms"] for r in recs if "final_latency_ms" in r])
    p50, p99 = np.percentile(latency, [50, 99])
    assert p99 > 2.5 * p50
    assert 0.0005 < (latency > 2000).mean() < 0.01
    statuses = defaultdict(int)
    for r in recs:
        statuses[r["status"]] += 1
    assert statuses["ok"] / len(recs) > 0.99
    # Telephony runs on its own pool; GPU time scales with audio where our recognizer ran (not
    # on a cache hit, not on the paid API: those spend none).
    assert {r["pool"] for r in recs if r["channel"] == "telephony"} == {"l4-batch"}
    ran = [r for r in recs if r.get("backend") == "self_hosted"]
    assert all(r["gpu_seconds"] == 0.0 for r in recs if r.get("cache_hit") or r.get("backend") == "api")
    gpu = np.array([r["gpu_seconds"] for r in ran])
    audio = np.array([r["audio_seconds"] for r in ran])
    assert np.corrcoef(gpu, audio)[0, 1] > 0.8


def test_labeled_samples_belong_to_sessions_that_can_have_transcripts():
    batches = run(hours=0.15, label_fraction=1.0, scenarios="decode-failures@0")
    by_id = {r["session_id"]: r for r in records(batches)}
    assert all(by_id[s.session_id]["status"] in ("ok", "partial", "decode_error") for s in samples(batches))
    empties = [s for s in samples(batches) if s.utterance.hypothesis == ""]
    assert empties and all(s.utterance.deletions == s.utterance.ref_words for s in empties)
    assert all(by_id[s.session_id].get("hypothesis") == "" for s in empties)


def test_the_far_field_canary_gains_on_average_and_loses_on_far_field():
    # The design, in expectation: the solved factor for the other channels gives -4% overall...
    words, errors = channel_error_shares()
    assert sum(words.values()) == pytest.approx(1) and sum(errors.values()) == pytest.approx(1)
    other = SCENARIOS["canary-far-field-regression"].expected["other_channels_wer_relative_change"]
    assert errors["far_field"] * 1.08 + (1 - errors["far_field"]) * (1 + other) - 1 == pytest.approx(-0.04, abs=1e-3)
    # ...and on drafted traffic, paired (each session's expected errors on both versions).
    fleet, scenario = FleetConfig(), SCENARIOS["canary-far-field-regression"]
    rng = random.Random(9)
    expected = defaultdict(lambda: [0.0, 0.0, 0.0])  # channel -> [stable errors, canary errors, words]
    for _ in range(20000):
        draft = draw_draft(rng, START, fleet.canary_version)
        words_n = draft.audio_seconds * WORDS_PER_SECOND
        stable = utterance_error_rate(draft)
        scenario.edit(draft, 0.0, fleet)
        acc = expected[draft.channel]
        acc[0] += stable * words_n
        acc[1] += utterance_error_rate(draft) * words_n
        acc[2] += words_n
    total = [sum(v[i] for v in expected.values()) for i in range(3)]
    assert total[1] / total[0] - 1 == pytest.approx(-0.04, abs=0.005)
    assert expected["far_field"][1] / expected["far_field"][0] - 1 == pytest.approx(0.08, abs=0.002)
    # The canary gets its 25% of generated traffic from the onset on.
    recs = records(run("canary-far-field-regression@0", hours=0.3, rate=300, label_fraction=0.0))
    share = sum(r["model_version"] == fleet.canary_version for r in recs) / len(recs)
    assert share == pytest.approx(0.25, abs=0.02)


def test_a_rolled_back_canary_gets_no_traffic():
    hours, rollback_at = 1.0, START + timedelta(minutes=30)

    def router(minute):
        return RouterState({FleetConfig().canary_version: 0.0}) if minute >= rollback_at else None

    batches = run("canary-far-field-regression@0", hours=hours, rate=60, router=router, label_fraction=0.0)
    canary = FleetConfig().canary_version
    before = [r for b in batches if b.minute < rollback_at for r in b.all_records()]
    after = [r for b in batches if b.minute >= rollback_at for r in b.all_records()]
    assert sum(r["model_version"] == canary for r in before) / len(before) == pytest.approx(0.25, abs=0.05)
    assert not any(r["model_version"] == canary for r in after)
    assert all(b.canary_weight == 0.0 for b in batches if b.minute >= rollback_at)
    # The router can also promote: weight 1 sends everything to the canary.
    full = run("steady", hours=0.1, rate=100, router=lambda m: RouterState({canary: 1.0}))
    assert {r["model_version"] for r in records(full)} == {canary}


def test_versions_are_configurable():
    fleet = FleetConfig(stable_version="conformer@1", canary_version="conformer@2")
    recs = records(run("benign-canary@0", hours=0.1, fleet=fleet))
    assert {r["model_version"] for r in recs} == {"conformer@1", "conformer@2"}
    with pytest.raises(ValueError, match="canary_version"):
        FleetConfig(stable_version="x", canary_version="x")


def test_onsets_and_truths():
    assert parse_offset("90m", 4) == timedelta(minutes=90)
    assert parse_offset("0.25", 4) == timedelta(hours=1)
    assert parse_offset("30s", 4) == timedelta(seconds=30)
    active = scenario_set("latency-saturation@1h-2h,decode-failures", START, 4)
    truths = active.truths(FleetConfig())
    assert [t.scenario for t in truths] == ["latency-saturation", "decode-failures"]
    assert truths[0].onset == START + timedelta(hours=1) and truths[0].until == START + timedelta(hours=2)
    assert truths[0].where == {"region": "us-east"}
    assert truths[1].onset == START + timedelta(hours=2) and truths[1].until is None
    for name, scenario in SCENARIOS.items():
        truth = activate(name, START, 2).truth(FleetConfig())
        assert truth.what and truth.onset >= START
        if name not in ("steady", "benign-canary"):
            assert truth.should_fire and truth.expected
        assert truth.as_dict()["scenario"] == name
    assert activate("benign-canary", START, 2).truth(FleetConfig()).should_fire == ()
    with pytest.raises(ValueError, match="after the onset"):
        activate("decode-failures@2h-1h", START, 4)


def test_incidents_switch_on_at_their_onset_and_off_at_their_end():
    onset, end = START + timedelta(minutes=20), START + timedelta(minutes=40)
    batches = run("decode-failures@20m-40m", hours=1.0, rate=120, label_fraction=0.0)

    def failure_rate(lo, hi):
        recs = [r for b in batches if lo <= b.minute < hi for r in b.all_records()]
        return sum(r["status"] == "decode_error" for r in recs) / len(recs)

    assert failure_rate(START, onset) < 0.01
    assert failure_rate(onset, end) == pytest.approx(0.08, abs=0.02)
    assert failure_rate(end, START + timedelta(hours=1)) < 0.01
