"""The `diarization-regression` scenario: its ground truth seen in the generated samples (through
the collector's DER measure, pyannote.metrics), then end to end in a live collector's
`/api/v1/diarization` and in the SLO engine's verdict on a `diarization` SLO."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from asrwatch.settings import Settings
from collector.measures import diarization
from collector.store.database import make_engine
from simulator.fleet import FleetConfig
from simulator.generate import generate
from simulator.run import scenario_set, simulate
from simulator.scenarios import SCENARIOS
from slo.snapshot import slo_statuses

START = datetime(2026, 11, 3, 12, 0, tzinfo=timezone.utc)
ONSET = START + timedelta(minutes=30)
pytestmark = pytest.mark.filterwarnings("ignore:'uem' was approximated")


def _samples():
    active = scenario_set("diarization-regression@30m", START, 1.0)
    batches = generate(active, START, 1.0, 120, 4, fleet=FleetConfig(label_fraction=0.3), hypotheses=False)
    return [s for b in batches for s in b.samples]


def _swaps(sample) -> tuple[int, int]:
    """(turns labelled as another speaker, turns) of one sample: the simulator writes hypothesis
    labels `spk_<index of the speaker in order of appearance: agent, caller, specialist>`."""
    order = {"agent": 0, "caller": 1, "specialist": 2}
    swapped = turns = 0
    for hyp in sample.diarization.hypothesis:
        ref = min(sample.diarization.reference,
                  key=lambda r: abs(r["start"] - hyp["start"]) + abs(r["end"] - hyp["end"]))
        turns += 1
        swapped += hyp["speaker"] != f"spk_{order[ref['speaker']]}"
    return swapped, turns


def _der(samples) -> float:
    errors = speech = 0.0
    for s in samples:
        ref = [(t["speaker"], t["start"], t["end"]) for t in s.diarization.reference]
        hyp = [(t["speaker"], t["start"], t["end"]) for t in s.diarization.hypothesis]
        e = diarization.diarization_errors(ref, hyp)
        errors, speech = errors + e.error_s, speech + e.speech_s
    return errors / speech


def test_telephony_samples_carry_turns_and_the_swaps_the_truth_states():
    truth = SCENARIOS["diarization-regression"]
    assert truth.should_fire == ("diarization",)
    samples = _samples()
    telephony = [s for s in samples if s.slice["channel"] == "telephony"]
    assert all(s.diarization is not None for s in telephony)
    assert all(s.diarization is None and "reference_segments" not in s.to_api()
               for s in samples if s.slice["channel"] != "telephony")
    before = [s for s in telephony if s.ts < ONSET]
    after = [s for s in telephony if s.ts >= ONSET]
    assert len(before) > 40 and len(after) > 40
    for group, share in ((before, truth.expected["baseline_speaker_swap_share"]),
                         (after, truth.expected["speaker_swap_share"])):
        swapped, turns = map(sum, zip(*(_swaps(s) for s in group)))
        assert swapped / turns == pytest.approx(share, abs=0.05)
    # Every generated diarization is one the collector takes (no speaker overlapping itself).
    for s in telephony:
        for turns in (s.diarization.reference, s.diarization.hypothesis):
            assert diarization.self_overlap([(t["speaker"], t["start"], t["end"]) for t in turns]) is None
    assert _der(before) < 0.1 and _der(after) > 2 * _der(before) and _der(after) > 0.2


def test_the_collector_sees_the_regression_and_the_slo_pages(collector):
    start = datetime(2026, 10, 27, 12, 0, tzinfo=timezone.utc)  # this test's own event-time day
    onset, end = start + timedelta(minutes=30), start + timedelta(hours=1)
    report = simulate(collector.url, collector.tokens["ingest"], "diarization-regression", start=start, hours=1.0,
                      rate=60, seed=3, label_fraction=0.5, progress=False)
    assert report.stats.rejected == 0, report.stats.first_rejection
    with collector.client("read") as http:
        def rows(since, until):
            got = http.get("/api/v1/diarization", params={"since": since.isoformat(), "until": until.isoformat(),
                                                          "group_by": "channel"})
            assert got.status_code == 200, got.text
            return {r["channel"]: r for r in got.json()}
        before, after = rows(start, onset), rows(onset, end)
    assert set(before) == set(after) == {"telephony"}  # only multi-speaker calls are diarized
    assert before["telephony"]["der"] < 0.1 and after["telephony"]["der"] > 0.2
    assert after["telephony"]["ci_low"] > before["telephony"]["ci_high"]
    assert after["telephony"]["confusion_s"] / after["telephony"]["speech_s"] > 0.1  # confusion moved
    # About 1% of healthy calls score over 0.3 (short calls, jittered boundaries), 33% once regressed.
    spec = {"name": "speaker-attribution", "sli": "diarization", "max_der": 0.3, "objective": 0.98,
            "window": "30d", "group_by": ["channel"]}
    engine = make_engine(collector.database_url)
    try:
        def page_alerts(at):
            (status,) = slo_statuses(engine, Settings(database_url=collector.database_url, slos=[spec]), at)
            return [a for g in status.groups for a in g.alerts if a.severity == "page"]
        assert page_alerts(onset) == []
        (page,) = page_alerts(end)
    finally:
        engine.dispose()
    assert page.labels["channel"] == "telephony" and onset < page.starts_at < end


def test_samples_are_sent_within_a_requests_segment_budget():
    from simulator.post import sample_chunks

    def sample(n):
        return {"session_id": f"s{n}", "reference": "x", "reference_segments": [{}] * n, "hypothesis_segments": [{}] * n}

    chunks = list(sample_chunks([sample(10), sample(0), sample(30), sample(5), {"session_id": "plain"}], 3,
                                max_segments=70))
    assert [[s["session_id"] for s in c] for c in chunks] == [["s10", "s0"], ["s30", "s5", "plain"]]
    # One sample over the budget goes alone: the collector names it, nothing else is refused with it.
    assert [len(c) for c in sample_chunks([sample(50), sample(1)], 10, max_segments=70)] == [1, 1]
