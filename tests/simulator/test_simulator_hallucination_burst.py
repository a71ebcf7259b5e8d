"""The `hallucination-burst` scenario, generated (no collector): its ground truth seen through the
collector's own checks (`collector.measures.hallucination`) and scorer (`word_errors`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from collector.measures import hallucination as h
from collector.measures import word_errors
from simulator.fleet import FleetConfig
from simulator.generate import generate
from simulator.hallucinations import PHRASES
from simulator.run import scenario_set
from simulator.scenarios import SCENARIOS

START = datetime(2026, 11, 3, 12, 0, tzinfo=timezone.utc)
ONSET = START + timedelta(minutes=30)


def _run(scenario: str, hypotheses: bool = True):
    active = scenario_set(scenario, START, 1.0)
    return list(generate(active, START, 1.0, 150, 3, fleet=FleetConfig(label_fraction=0.3), hypotheses=hypotheses))


def _flags(records):
    return [h.hallucination_reasons(r["hypothesis"], h.no_speech_prob(r.get("attributes")))
            for r in records if r.get("hypothesis") is not None]


def test_truth_is_what_the_collectors_checks_see():
    truth = SCENARIOS["hallucination-burst"]
    assert truth.should_fire == ("hallucination",)
    share = truth.expected["hallucinated_share"]
    batches = _run("hallucination-burst@30m")
    records = [r for b in batches for r in b.all_records() if not r.get("shadow")]
    before = [r for r in records if r["ts"] < ONSET.isoformat()]
    far_after = [r for r in records if r["ts"] >= ONSET.isoformat() and r["channel"] == "far_field"]
    others_after = [r for r in records if r["ts"] >= ONSET.isoformat() and r["channel"] != "far_field"]
    assert len(far_after) > 300

    # Before the onset and outside far_field the checks flag nothing of the fleet's normal text.
    for group in (before, others_after):
        flags = _flags(group)
        assert len(flags) > 300 and not any(flags)
        assert not any("no_speech_prob" in (r.get("attributes") or {}) for r in group)
    # On far_field after it, about the stated share is flagged, half of it as text on non-speech audio.
    flags = _flags(far_after)
    flagged = [f for f in flags if f]
    assert len(flagged) / len(flags) == pytest.approx(share, abs=0.06)
    silent = sum(bool(f & h.NO_SPEECH) for f in flagged)
    assert silent / len(flagged) == pytest.approx(truth.expected["silent_share_of_hallucinated"], abs=0.1)
    assert all(f & (h.NO_SPEECH | h.LOOP) for f in flagged)  # every one is flagged by design
    marked = [r for r in far_after if "no_speech_prob" in (r.get("attributes") or {})]
    assert len(marked) == len(flagged)  # sessions without text (dropped, timeouts) carry none


def test_labeled_hallucinations_are_insertions_on_an_empty_reference():
    batches = _run("hallucination-burst@30m", hypotheses=False)
    made_up = [s for b in batches for s in b.samples if s.utterance.reference == ""]
    assert len(made_up) > 20
    for sample in made_up:
        u = sample.utterance
        assert sample.slice["channel"] == "far_field" and sample.ts >= ONSET
        assert any(u.hypothesis.startswith(p) for p in PHRASES)
        for normalizer in ("whisper_en", "basic"):
            errors = word_errors(u.reference, u.hypothesis, normalizer)
            assert (errors.insertions, errors.ref_words, errors.errors) == (u.insertions, 0, u.errors) > (0, 0, 0)
    # Without --hypotheses, only labeled sessions send their text, hallucinated or not.
    records = [r for b in batches for r in b.all_records()]
    labeled = {s.session_id for b in batches for s in b.samples}
    assert {r["session_id"] for r in records if r.get("hypothesis")} <= labeled


def test_the_collector_sees_the_burst(collector):
    """Posted to a live collector: the flags per channel in /api/v1/status and the labeled
    insertion rate in /api/v1/wer move on far_field only, from the onset."""
    from simulator.run import simulate

    start = datetime(2026, 10, 20, 12, 0, tzinfo=timezone.utc)  # an event-time day of its own
    onset, end = start + timedelta(minutes=30), start + timedelta(hours=1)
    report = simulate(collector.url, collector.tokens["ingest"], "hallucination-burst@30m", start=start, hours=1.0,
                      rate=60, seed=2, label_fraction=0.3, hypotheses=True, progress=False)
    assert report.stats.rejected == 0 and report.stats.samples_scored == report.stats.samples

    def by_channel(path, since, until):
        params = {"since": since.isoformat(), "until": until.isoformat(), "group_by": "channel"}
        with collector.client("read") as http:
            response = http.get(path, params=params)
        assert response.status_code == 200, response.text
        return {r["channel"]: r for r in response.json()}

    before, after = by_channel("/api/v1/status", start, onset), by_channel("/api/v1/status", onset, end)
    assert all(r["hallucination_flagged"] == 0 and r["hallucination_checked"] > 100 for r in before.values())
    share = SCENARIOS["hallucination-burst"].expected["hallucinated_share"]
    assert after["far_field"]["hallucination_rate"] == pytest.approx(share, abs=0.08)
    assert {c: r["hallucination_flagged"] for c, r in after.items() if c != "far_field"} == \
        {c: 0 for c in after if c != "far_field"}
    wer_before, wer_after = by_channel("/api/v1/wer", start, onset), by_channel("/api/v1/wer", onset, end)
    assert wer_after["far_field"]["insertion_rate"] > 3 * wer_before["far_field"]["insertion_rate"]
    assert wer_after["web"]["insertion_rate"] == pytest.approx(wer_before["web"]["insertion_rate"], abs=0.02)
