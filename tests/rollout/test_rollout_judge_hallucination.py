"""The rollout judge's `hallucination` metric: a canary that writes text on silence or noise (the
flagged share of its sessions checked at ingest rises) is rolled back in a protected slice,
paused elsewhere; equal flagged shares, or none flagged at all, change nothing."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from slo.rollout.judge import Thresholds, judge

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
from rollout_synthetic import slices, traffic  # noqa: E402

AT = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
FAR = [{"channel": "far_field"}]


def _flag(data, rates: dict[str, float]):
    """Each slice's arms with every session checked and `rates[channel]` of them flagged."""
    out = []
    for s in data:
        arms = [replace(arm, hallucination_checked=arm.sessions,
                        hallucination_flagged=round(arm.sessions * rate))
                for arm, rate in ((s.canary, rates.get(s.key.get("channel"), {}).get("canary", 0.0)),
                                  (s.baseline, rates.get(s.key.get("channel"), {}).get("baseline", 0.0)))]
        out.append(replace(s, canary=arms[0], baseline=arms[1]))
    return out


def _pair():
    return slices(traffic("v2", 6000, seed=4), traffic("v1", 6000, seed=3))


def test_a_canary_hallucinating_on_far_field_is_rolled_back():
    # +4 points on far_field: under the pooled fleet's 1-point floor, over it in the slice.
    data = _flag(_pair(), {"far_field": {"canary": 0.05, "baseline": 0.01}})
    v = judge(data, protected=FAR, thresholds=Thresholds(), at=AT)
    assert v.decision == "rollback", v.reasons
    assert any(r.startswith("hallucination rate regression in channel=far_field") for r in v.reasons), v.reasons
    far = v.metrics["slices"]["channel=far_field"]["tests"]["hallucination"]
    assert far["regression"] is True and abs(far["effect"] - 0.04) < 0.005
    assert v.metrics["slices"]["all"]["tests"]["hallucination"]["regression"] is False
    assert v.metrics["slices"]["channel=far_field"]["canary"]["hallucination_rate"] == far["canary"]
    # Unprotected, the same regression only pauses for a human.
    v = judge(data, protected=[], thresholds=Thresholds(), at=AT)
    assert v.decision == "pause" and any(r.startswith("review: hallucination rate regression") for r in v.reasons)


def test_equal_or_absent_flags_change_nothing():
    plain = judge(_pair(), protected=FAR, thresholds=Thresholds(), at=AT)
    assert plain.decision == "continue", plain.reasons
    same = judge(_flag(_pair(), {c: {"canary": 0.03, "baseline": 0.03} for c in ("far_field", "web", "telephony",
                                                                                      "mobile")}),
                 protected=FAR, thresholds=Thresholds(), at=AT)
    assert same.decision == "continue", same.reasons
    # Checked but none flagged in either arm: the test cannot reject and stays out of the family.
    clean = judge(_flag(_pair(), {}), protected=FAR, thresholds=Thresholds(), at=AT)
    assert clean.decision == "continue"
    assert all(t["hallucination"] is None or "regression" not in t["hallucination"]
               for t in (e["tests"] for e in clean.metrics["slices"].values()))
