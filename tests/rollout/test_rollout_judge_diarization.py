"""The rollout judge's `der` metric: a canary whose diarizer confuses speakers on telephony (DER up
over diarized sessions, tested by the WER bootstrap over (error_ms, speech_ms) pairs) is rolled
back when telephony is protected and paused for review when not; an equal DER, or no diarized
sessions at all, changes nothing. The arms' DERs are drawn per call from pyannote-like
components: speech of 30-300 s, errors a share of it."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from collector.measures import wer as wer_math
from slo.rollout.judge import Thresholds, judge

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
from rollout_synthetic import slices, traffic  # noqa: E402

AT = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
TELEPHONY = [{"channel": "telephony"}]


def _calls(n: int, der: float, seed: int) -> dict[tuple[int, int], int]:
    """`n` diarized calls as {(error_ms, speech_ms): count}, their DER around `der`."""
    rng = np.random.default_rng(seed)
    speech = rng.integers(30_000, 300_000, size=n)
    errors = np.round(speech * np.clip(rng.normal(der, 0.04, size=n), 0, 1)).astype(np.int64)
    return wer_math.pair_counts({(int(e), int(s)): 1 for e, s in zip(errors, speech)})


def _diarize(data, ders: dict[str, tuple[float, float]], calls: int = 150, others: int = 0):
    """Each slice of a channel in `ders` (two regions each) gets `calls` diarized calls per arm at
    its (canary, baseline) DER; with `others`, every other channel's slices get that many at 0.08."""
    out = []
    for k, s in enumerate(data):
        canary, baseline = ders.get(s.key.get("channel"), (0.08, 0.08))
        n = calls if s.key.get("channel") in ders else others
        if not n:
            out.append(s)
            continue
        out.append(replace(s, canary=replace(s.canary, diar_pairs=_calls(n, canary, 100 + k)),
                           baseline=replace(s.baseline, diar_pairs=_calls(n, baseline, 200 + k))))
    return out


def _pair():
    return slices(traffic("v2", 6000, seed=4), traffic("v1", 6000, seed=3))


def test_a_canary_confusing_speakers_on_telephony_is_rolled_back():
    data = _diarize(_pair(), {"telephony": (0.16, 0.08)})
    v = judge(data, protected=TELEPHONY, thresholds=Thresholds(), at=AT)
    assert v.decision == "rollback", v.reasons
    assert any(r.startswith("DER regression in channel=telephony") for r in v.reasons), v.reasons
    test = v.metrics["slices"]["channel=telephony"]["tests"]["der"]
    assert test["regression"] is True and 0.8 < test["effect"] < 1.2  # about +100% relative
    summary = v.metrics["slices"]["channel=telephony"]["canary"]
    assert summary["diarized_sessions"] == 300 and abs(summary["der"] - 0.16) < 0.02
    # Unprotected and diluted in the fleet's DER (+50% on telephony, 8x as many calls elsewhere at an
    # equal DER: the pooled DER moves under the 10% floor), the regression only pauses for a human.
    data = _diarize(_pair(), {"telephony": (0.12, 0.08)}, others=400)
    v = judge(data, protected=[], thresholds=Thresholds(), at=AT)
    assert v.metrics["slices"]["all"]["tests"]["der"]["regression"] is False
    assert v.decision == "pause" and any(r.startswith("review: DER regression in channel=telephony")
                                         for r in v.reasons), v.reasons


def test_equal_or_absent_diarization_changes_nothing():
    assert judge(_pair(), protected=TELEPHONY, thresholds=Thresholds(), at=AT).decision == "continue"
    same = judge(_diarize(_pair(), {"telephony": (0.08, 0.08)}), protected=TELEPHONY, thresholds=Thresholds(), at=AT)
    assert same.decision == "continue", same.reasons
    assert same.metrics["slices"]["channel=telephony"]["tests"]["der"]["regression"] is False
    # A DER regression the canary improves on is never evidence (one-sided).
    better = judge(_diarize(_pair(), {"telephony": (0.04, 0.08)}), protected=TELEPHONY, thresholds=Thresholds(),
                   at=AT)
    assert better.decision == "continue", better.reasons
