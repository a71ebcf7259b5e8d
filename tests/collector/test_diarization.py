"""Diarization at sample ingest, on SQLite and PostgreSQL, against pyannote.metrics itself.

The reference is pyannote.metrics used the way its documentation shows (pyannote/pyannote-metrics
src/pyannote/metrics/diarization.py, `DiarizationErrorRate` docstring: call the metric per file,
`abs(metric)` for the global figure, `metric[...]` for accumulated components), on annotations
built here from the segments as sent, speaker names and all. asrwatch scores anonymized speakers
and keeps milliseconds in its rollups; the group figures must still be pyannote's.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate, DiarizationSpeakerCountError
from rollup_compare import recomputed_rollups, rollup_differences, stored_rollups
from sqlalchemy import select

from collector.measures import diarization, wer
from collector.store import compaction_pass, diarization_by_group, make_engine, migrate
from collector.store.ingest import score_and_store_samples, store_sessions
from collector.store.models import Sample
from collector.store.schemas import SampleIn, SessionIn

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)
# The reference metrics here get no UEM: pyannote takes both extents' union, as asrwatch does.
pytestmark = pytest.mark.filterwarnings("ignore:'uem' was approximated")
NAMES = ["Alice Smith", "Bob Jones", "Carol White", "Dan Brown"]


def _call(rng: random.Random, seconds_per_turn: float, grid: float | None) -> tuple[list[dict], list[dict]]:
    """A multi-speaker call: reference turns by 2-4 named speakers (some overlapping), and a
    hypothesis that shifts boundaries, drops and adds speech and swaps some speakers."""
    speakers = NAMES[:rng.randint(2, 4)]

    def t(x: float) -> float:
        return round(x / grid) * grid if grid else x

    reference, hypothesis, clock = [], [], 0.0
    for _ in range(rng.randint(3, 12)):
        speaker = rng.choice(speakers)
        start, end = t(clock), t(clock + rng.uniform(0.5, seconds_per_turn))
        if end <= start:
            end = start + (grid or 0.1)
        reference.append({"speaker": speaker, "start": start, "end": end})
        if rng.random() < 0.2:  # crosstalk: another speaker overlaps the turn's end
            reference.append({"speaker": rng.choice([s for s in speakers if s != speaker]),
                              "start": t(end - 0.3), "end": t(end + 0.4)})
        if rng.random() > 0.1:  # the system misses some turns
            label = f"spk_{speakers.index(speaker)}" if rng.random() > 0.2 else f"spk_{rng.randint(0, 4)}"
            hyp_start, hyp_end = max(0.0, t(start + rng.uniform(-0.3, 0.3))), t(end + rng.uniform(-0.3, 0.3))
            if hyp_end > hyp_start:
                hypothesis.append({"speaker": label, "start": hyp_start, "end": hyp_end})
        clock = end + rng.uniform(0.0, 1.0)
    if rng.random() < 0.3:  # speech where nobody spoke
        hypothesis.append({"speaker": "spk_9", "start": t(clock + 1), "end": t(clock + 2.5)})
    return reference, hypothesis


def _annotation(segments: list[dict]) -> Annotation:
    out = Annotation()
    for track, s in enumerate(segments):
        out[Segment(s["start"], s["end"]), track] = s["speaker"]
    return out


def _no_self_overlap(segments: list[dict]) -> bool:
    by_speaker: dict[str, list[tuple[float, float]]] = {}
    for s in segments:
        by_speaker.setdefault(s["speaker"], []).append((s["start"], s["end"]))
    return all(a[1] <= b[0] for spans in by_speaker.values() for a, b in zip(sorted(spans), sorted(spans)[1:]))


def _store(url: str, calls: list[tuple[list[dict], list[dict]]], collar: float = 0.0, channel=lambda i: "telephony"):
    engine = make_engine(url)
    migrate(engine)
    sessions = [SessionIn.model_validate({
        "session_id": f"call-{i}", "ts": (T0 + timedelta(minutes=7 * i)).isoformat(), "model_version": "diar-v1",
        "channel": channel(i), "status": "ok", "hypothesis": "hello there"}) for i in range(len(calls))]
    store_sessions(engine, sessions, T0)
    samples = [SampleIn.model_validate({"session_id": f"call-{i}", "reference": "hello there",
                                        "reference_segments": ref, "hypothesis_segments": hyp})
               for i, (ref, hyp) in enumerate(calls)]
    scored, rejected = score_and_store_samples(engine, list(enumerate(samples)), "basic", T0, collar=collar)
    assert rejected == []
    return engine, scored


@pytest.mark.parametrize("grid", [0.25, None], ids=["times-on-a-ms-grid", "arbitrary-times"])
def test_group_der_is_pyannotes_accumulated_der(database_url, grid):
    rng = random.Random(20)
    calls = [_call(rng, 6.0, grid) for _ in range(24)]
    calls = [(ref, hyp) for ref, hyp in calls if _no_self_overlap(ref) and _no_self_overlap(hyp)]
    assert len(calls) >= 12
    engine, scored = _store(database_url, calls)
    metric, count = DiarizationErrorRate(collar=0.0, skip_overlap=False), DiarizationSpeakerCountError()
    for (ref, hyp), (_, item) in zip(calls, scored):
        one = metric(_annotation(ref), _annotation(hyp), detailed=True)
        count(_annotation(ref), _annotation(hyp))
        # Per session: the components pyannote gives for the labels as sent.
        assert item.diarization.errors.missed_s == pytest.approx(one["missed detection"], abs=1e-9)
        assert item.diarization.errors.confusion_s == pytest.approx(one["confusion"], abs=1e-9)
        assert item.diarization.errors.der == pytest.approx(one["diarization error rate"], abs=1e-9)
    [row] = diarization_by_group(engine, ["model_version"], T0, T0 + timedelta(days=1), {})
    assert row["sessions"] == len(calls)
    # Rollups keep whole milliseconds: each of the 3 error components and the speech total of a
    # session is off by at most half a millisecond (none at all for times on a 0.25 s grid).
    slack = 0 if grid else 0.0005 * len(calls)
    assert row["speech_s"] == pytest.approx(metric["total"], abs=slack + 1e-9)
    assert row["missed_s"] == pytest.approx(metric["missed detection"], abs=slack + 1e-9)
    assert row["false_alarm_s"] == pytest.approx(metric["false alarm"], abs=slack + 1e-9)
    assert row["confusion_s"] == pytest.approx(metric["confusion"], abs=slack + 1e-9)
    assert row["der"] == pytest.approx(abs(metric), abs=(4 * slack) / metric["total"] + 1e-12)
    assert 0 < abs(metric) < 1
    assert row["speaker_count_error"] == pytest.approx(abs(count))
    assert row["ci_low"] <= row["der"] <= row["ci_high"] and row["ci_low"] < row["ci_high"]
    again = diarization_by_group(engine, ["model_version"], T0, T0 + timedelta(days=1), {})
    assert (again[0]["ci_low"], again[0]["ci_high"]) == (row["ci_low"], row["ci_high"])  # seeded
    engine.dispose()


def test_collar_is_pyannotes_collar(database_url):
    rng = random.Random(7)
    calls = [_call(rng, 5.0, 0.125) for _ in range(8)]
    calls = [(ref, hyp) for ref, hyp in calls if _no_self_overlap(ref) and _no_self_overlap(hyp)]
    engine, _ = _store(database_url, calls, collar=0.25)
    metric = DiarizationErrorRate(collar=0.25, skip_overlap=False)
    for ref, hyp in calls:
        metric(_annotation(ref), _annotation(hyp))
    [row] = diarization_by_group(engine, [], T0, T0 + timedelta(days=1), {})
    no_collar = DiarizationErrorRate(collar=0.0)
    for ref, hyp in calls:
        no_collar(_annotation(ref), _annotation(hyp))
    assert row["der"] == pytest.approx(abs(metric), abs=1e-9)
    assert row["speech_s"] < no_collar["total"]  # the collar removed time around boundaries
    engine.dispose()


def test_stored_segments_carry_no_speaker_name_and_rollups_match_the_samples(database_url):
    rng = random.Random(3)
    calls = [_call(rng, 4.0, 0.5) for _ in range(14)]
    calls = [(ref, hyp) for ref, hyp in calls if _no_self_overlap(ref) and _no_self_overlap(hyp)]
    engine, _ = _store(database_url, calls, channel=lambda i: ["telephony", "web"][i % 2])
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(Sample.__table__)).mappings()]
        assert rollup_differences(stored_rollups(conn), recomputed_rollups(conn)) == []
    assert len(rows) == len(calls)
    text = repr([(r["reference_segments"], r["hypothesis_segments"]) for r in rows])
    assert not any(name in text or name.split()[0] in text for name in NAMES)
    assert "spk_" not in text
    for row in rows:
        labels = {s[0] for s in row["reference_segments"]}
        assert labels == {f"R{k}" for k in range(1, len(labels) + 1)}
        assert row["ref_speakers"] == len(labels)
        assert all(s[0].startswith("H") for s in row["hypothesis_segments"])
    compaction_pass(engine, T0 + timedelta(days=1))  # the hourly rows add up the same
    by_channel = diarization_by_group(engine, ["channel"], T0, T0 + timedelta(days=1), {})
    assert [r["channel"] for r in by_channel] == ["telephony", "web"]
    assert sum(r["sessions"] for r in by_channel) == len(calls)
    engine.dispose()


def test_anonymized_labels_score_as_the_names_do():
    reference = [("Alice", 0.0, 2.0), ("Bob", 2.0, 4.0), ("Alice", 4.0, 5.0), ("Carol", 4.5, 6.0)]
    hypothesis = [("x", 0.0, 2.5), ("y", 2.5, 5.0), ("x", 5.0, 6.0)]
    anon_ref = diarization.anonymize(reference, "R")
    assert [s[0] for s in anon_ref] == ["R1", "R2", "R1", "R3"]
    named = diarization.diarization_errors(reference, hypothesis)
    anonymous = diarization.diarization_errors(anon_ref, diarization.anonymize(hypothesis, "H"))
    assert named == anonymous
    assert (named.ref_speakers, named.hyp_speakers, named.speaker_count_error) == (3, 2, 1)
    pyannote = DiarizationErrorRate()(_annotation([{"speaker": s, "start": a, "end": b} for s, a, b in reference]),
                                      _annotation([{"speaker": s, "start": a, "end": b} for s, a, b in hypothesis]))
    assert named.der == pytest.approx(pyannote)


def test_session_der_without_reference_speech_follows_pyannote():
    only_false_alarm = diarization.diarization_errors([], [("H1", 0.0, 1.5)])
    assert (only_false_alarm.false_alarm_s, only_false_alarm.speech_s, only_false_alarm.der) == (1.5, 0.0, 1.0)
    assert diarization.diarization_errors([], []).der == 0.0
    # The diarization SLI judges the rollups' pairs as the quality SLI does (`wer.pairs_good`).
    assert wer.pairs_good({"0:0": 2, "1500:0": 1, "200:1000": 3, "300:1000": 4}, 0.25) == (5, 10)
    assert diarization.session_der(0.3, 1.0) == wer.utterance_wer(300, 1000) == 0.3


def test_one_list_without_the_other_and_a_request_past_its_segment_budget_are_refused_by_index():
    from collector.store.sample_diarization import diarize_samples

    def sample(ref, hyp):
        return SampleIn.model_validate({"session_id": "s", "reference": "x", "reference_segments": ref,
                                        "hypothesis_segments": hyp})

    turns = [{"speaker": "a", "start": 2.0 * k, "end": 2.0 * k + 1} for k in range(3)]
    samples = [(0, sample(turns, turns)), (1, sample(turns, None)), (2, sample(turns, turns[:1])),
               (3, sample(turns, turns)), (4, SampleIn.model_validate({"session_id": "s", "reference": "x"}))]
    scored, rejected = diarize_samples(samples, 0.0, limit=10)  # 6 + 4 segments fit, the next 6 do not
    assert sorted(scored) == [0, 2]
    assert scored[0].errors.der == 0.0 and scored[2].errors.missed_s == 2.0
    assert dict(rejected) == {
        1: "hypothesis_segments: required with reference_segments (DER compares the two)",
        3: "reference_segments: the request's samples hold more than 10 segments together; "
           "send this sample in another request"}


def test_the_rollout_judge_reads_each_versions_diarized_sessions_from_the_rollups(database_url):
    from slo.rollout.data import load_slices

    rng = random.Random(11)
    calls = [(ref, hyp) for ref, hyp in (_call(rng, 4.0, 0.25) for _ in range(16))
             if _no_self_overlap(ref) and _no_self_overlap(hyp)]
    engine, scored = _store(database_url, calls)
    [telephony] = load_slices(engine, baseline="nothing", canary="diar-v1", slice_by=["channel"], since=T0,
                              until=T0 + timedelta(days=1), price_per_gpu_hour=lambda pool: 1.0)
    expected: dict[tuple[int, int], int] = {}
    for _, item in scored:
        expected[item.diarization.errors.pair] = expected.get(item.diarization.errors.pair, 0) + 1
    assert telephony.key == {"channel": "telephony"} and dict(telephony.canary.diar_pairs) == expected
    assert dict(telephony.baseline.diar_pairs) == {}
    engine.dispose()
