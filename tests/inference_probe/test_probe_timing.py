"""Probe timing as the Open ASR Leaderboard does it: a batch's time split evenly over its
samples, warm-up batches excluded, RTFx = sum of audio / sum of transcription time per
slice. A fake backend drives the timing module's clock, so every figure is exact."""

from __future__ import annotations

import pytest

from inference_probe import timing
from inference_probe.backends.base import Transcription
from inference_probe.run import plan_batches, run_probe
from inference_probe.summary import summarize
from inference_probe.timing import rtfx, split_evenly

WARMUP_MS = 5_000  # the first call pays this (lazy init); it must show up nowhere
PER_CALL_MS, PER_CLIP_MS = 3, 7
N_CLIPS, BATCH = 5, 2


class FakeClock:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


class FakeBackend:
    """Costs PER_CALL_MS + PER_CLIP_MS per clip on the driven clock, plus WARMUP_MS once."""

    kind, device, model_version, weights_sha256 = "fake", "cpu", "fake@0", "0" * 64

    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.calls: list[int] = []

    def describe(self) -> dict:
        return {"backend": self.kind, "decoding": {"temperature": 0.0}}

    def transcribe_batch(self, audios, timer):
        with timer.stage("inference"):
            cost_ms = PER_CALL_MS + PER_CLIP_MS * len(audios) + (WARMUP_MS if not self.calls else 0)
            self.clock.ns += cost_ms * 1_000_000
        self.calls.append(len(audios))
        return [Transcription(text="hello", confidence=0.9) for _ in audios]

    def close(self) -> None:
        pass


@pytest.fixture
def fake(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing, "clock_ns", clock)
    return FakeBackend(clock)


def _probe(backend, warmup_batches):
    return run_probe(None, backend=backend, limit=N_CLIPS, slices="clean,noise_0db", batch_size=BATCH,
                     warmup_batches=warmup_batches, show_progress=False)


def test_each_utterance_gets_its_batch_time_split_evenly_and_warm_up_is_excluded(fake):
    run = _probe(fake, warmup_batches=1)
    # Batches never mix slices: per slice 2 + 2 + 1 clips, after one untimed warm-up batch of 2.
    assert fake.calls == [2, 2, 2, 1, 2, 2, 1]
    assert run.totals["warmup_batches"] == 1
    batch_ms = {2: PER_CALL_MS + 2 * PER_CLIP_MS, 1: PER_CALL_MS + PER_CLIP_MS}
    # Pairs share 17 ms (8.5 each), the odd clip out has its 10 ms alone; before, every
    # utterance reported its whole batch's time.
    assert sorted(round(r["latency_ms"], 6) for r in run.rows) == [8.5] * 8 + [10.0] * 2
    assert run.totals["compute_seconds"] == pytest.approx(2 * (2 * batch_ms[2] + batch_ms[1]) / 1000)
    assert run.totals["rtfx"] == pytest.approx(run.totals["audio_seconds"] / run.totals["compute_seconds"], rel=1e-3)
    for s in run.summaries:
        assert s.transcription_seconds == pytest.approx((2 * batch_ms[2] + batch_ms[1]) / 1000)
        assert s.rtfx == pytest.approx(s.audio_seconds / s.transcription_seconds)
    assert "RTFx" in run.table()


def test_without_warm_up_the_first_batch_carries_the_cold_call(fake):
    run = _probe(fake, warmup_batches=0)
    assert fake.calls == [2, 2, 1, 2, 2, 1] and run.totals["warmup_batches"] == 0
    slow = [r for r in run.rows if r["latency_ms"] > 1000]
    assert len(slow) == 2 and {r["slice"] for r in slow} == {"clean"}
    assert slow[0]["latency_ms"] == pytest.approx((WARMUP_MS + PER_CALL_MS + 2 * PER_CLIP_MS) / 2)


def test_sessions_carry_the_share_and_the_batch_it_came_from(fake):
    run = _probe(fake, warmup_batches=1)
    by_slice = {s.slice: s for s in run.summaries}
    assert set(by_slice) == {"clean", "noise_0db"}
    out = run.to_json()
    assert {row["slice"]: row["rtfx"] for row in out["slices"]} == pytest.approx(
        {name: s.audio_seconds / s.transcription_seconds for name, s in by_slice.items()})
    assert out["totals"]["preprocess_seconds"] >= 0 and "warmup_seconds" in out["totals"]


def test_plan_batches_keeps_slices_apart_longest_first():
    plan = plan_batches([100, 300, 200], ["clean", "telephony"], 2)
    assert plan == [[(1, "clean"), (2, "clean")], [(0, "clean")],
                    [(1, "telephony"), (2, "telephony")], [(0, "telephony")]]


def test_split_evenly_and_rtfx_are_the_leaderboards_arithmetic():
    assert split_evenly(0.9, 3) == [0.3, 0.3, 0.3]
    assert sum(split_evenly(1.0, 7)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one sample"):
        split_evenly(1.0, 0)
    # RTFx is a ratio of sums, not a mean of per-utterance ratios.
    assert rtfx(10.0 + 2.0, 1.0 + 1.0) == pytest.approx(6.0)
    assert rtfx(5.0, 0.0) is None


def test_summary_rtfx_is_a_ratio_of_sums_per_slice():
    rows = [{"slice": "clean", "errors": 0, "ref_words": 4, "confidence": 0.9, "snr_est_db": 20.0,
             "latency_ms": 100.0, "audio_seconds": 10.0, "status": "ok"},
            {"slice": "clean", "errors": 1, "ref_words": 4, "confidence": 0.8, "snr_est_db": 20.0,
             "latency_ms": 900.0, "audio_seconds": 2.0, "status": "ok"},
            {"slice": "telephony", "errors": 0, "ref_words": 4, "confidence": 0.9, "snr_est_db": 20.0,
             "latency_ms": 500.0, "audio_seconds": 5.0, "status": "ok"}]
    clean, tel = summarize(rows, ["clean", "telephony"])
    assert clean.rtfx == pytest.approx(12.0) and tel.rtfx == pytest.approx(10.0)  # not mean(100, 2.2)


def test_warmup_batches_must_not_be_negative(fake):
    from inference_probe.errors import ProbeError

    with pytest.raises(ProbeError, match="--warmup-batches must be >= 0"):
        _probe(fake, warmup_batches=-1)
