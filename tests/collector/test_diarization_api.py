"""Diarization over HTTP against a live collector (SQLite and PostgreSQL): segment validation
names the field, `GET /api/v1/diarization` answers pyannote's figures with the configured collar,
/metrics counts each diarized session for the exported rules, and a `diarization` SLO judges it."""

from __future__ import annotations


import pytest
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate

from live_collector import running_collector
from postgres import create_database, drop_database

COLLAR = 0.25
DAY = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-02T00:00:00Z"}
pytestmark = pytest.mark.filterwarnings("ignore:'uem' was approximated")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live(request, tmp_path_factory):
    url = None if request.param == "sqlite" else create_database()
    config = {"diarization_collar_s": COLLAR, "evaluator_enabled": False,
              "slos": [{"name": "speaker-attribution", "sli": "diarization", "max_der": 0.2, "objective": 0.9,
                        "window": "1d", "group_by": ["channel"]}]}
    try:
        with running_collector(tmp_path_factory.mktemp(f"diar-{request.param}"), config=config,
                               database_url=url) as collector:
            yield collector
    finally:
        if url:
            drop_database(url)


def _session(uid: str, i: int, channel: str) -> dict:
    return {"session_id": f"{uid}-{i}", "ts": f"2026-11-01T10:{i:02d}:00Z", "model_version": f"mv-{uid}",
            "channel": channel, "status": "ok", "hypothesis": "hello how can i help"}


def _seg(speaker: str, start: float, end: float) -> dict:
    return {"speaker": speaker, "start": start, "end": end}


# Agent and customer turns; the hypotheses shift boundaries, swap a turn and miss one.
CALLS = [
    ([_seg("Agent Kim", 0, 4), _seg("Customer Ann Lee", 4.5, 9), _seg("Agent Kim", 9, 12)],
     [_seg("spk0", 0, 4.25), _seg("spk1", 4.25, 9), _seg("spk0", 9, 12)]),
    ([_seg("Agent Kim", 0, 3), _seg("Customer Bo", 3, 8), _seg("Agent Kim", 7.5, 10)],
     [_seg("spk0", 0, 3), _seg("spk0", 3, 5), _seg("spk1", 5, 8)]),
    ([_seg("A", 0, 6), _seg("B", 6, 10), _seg("C", 10, 11)],
     [_seg("x", 0.5, 6), _seg("y", 6, 11), _seg("z", 11, 13)]),
]


def _annotation(segments: list[dict]) -> Annotation:
    out = Annotation()
    for track, s in enumerate(segments):
        out[Segment(s["start"], s["end"]), track] = s["speaker"]
    return out


def test_samples_are_scored_and_grouped_as_pyannote_scores_them(live, uid):
    channels = ["telephony", "telephony", "web"]
    with live.client("ingest") as http:
        assert http.post("/api/v1/sessions", json=[_session(uid, i, c) for i, c in enumerate(channels)]).json()[
            "accepted"] == 3
        body = http.post("/api/v1/samples", json=[
            {"session_id": f"{uid}-{i}", "reference": "hello how can i help", "reference_segments": ref,
             "hypothesis_segments": hyp} for i, (ref, hyp) in enumerate(CALLS)]).json()
        again = http.post("/api/v1/samples", json=[
            {"session_id": f"{uid}-0", "reference": "hello how can i help", "reference_segments": CALLS[0][0],
             "hypothesis_segments": CALLS[0][1]}]).json()
    assert body["rejected"] == [] and again["results"][0]["duplicate"] is True
    per_channel = {"telephony": DiarizationErrorRate(collar=COLLAR), "web": DiarizationErrorRate(collar=COLLAR)}
    for (ref, hyp), channel, result in zip(CALLS, channels, body["results"]):
        one = per_channel[channel](_annotation(ref), _annotation(hyp), detailed=True)
        assert result["diarization"]["der"] == pytest.approx(one["diarization error rate"], abs=1e-9)
        assert result["diarization"]["speech_s"] == pytest.approx(one["total"], abs=1e-9)
    assert [r["diarization"]["speaker_count_error"] for r in body["results"]] == [0, 0, 0]
    with live.client("read") as http:
        rows = {r["channel"]: r for r in http.get("/api/v1/diarization", params={
            **DAY, "group_by": "channel", "model_version": f"mv-{uid}"}).json()}
        # `at` alone: the day before it.
        at_rows = http.get("/api/v1/diarization", params={"at": "2026-11-01T12:00:00Z", "model_version": f"mv-{uid}"})
        before = http.get("/api/v1/diarization", params={"at": "2026-11-01T10:00:30Z", "model_version": f"mv-{uid}"})
        metrics = http.get("/metrics").text
    for channel, metric in per_channel.items():
        row = rows[channel]
        assert row["der"] == pytest.approx(abs(metric), abs=1e-9)
        assert row["confusion_s"] == pytest.approx(metric["confusion"], abs=1e-9)
        assert row["missed_s"] == pytest.approx(metric["missed detection"], abs=1e-9)
        assert row["false_alarm_s"] == pytest.approx(metric["false alarm"], abs=1e-9)
        assert row["ci_low"] <= row["der"] <= row["ci_high"]
    assert rows["telephony"]["sessions"] == 2 and rows["web"]["sessions"] == 1
    assert at_rows.status_code == 200 and at_rows.json()[0]["sessions"] == 3
    assert before.json()[0]["sessions"] == 1  # only the call at 10:00 is before `at`
    # /metrics: one observation per diarized session, with the SLO's max_der as a bucket edge.
    count = f'asrwatch_session_der_count{{channel="telephony",model_version="mv-{uid}",region="unknown"}} 2.0'
    assert count in metrics
    assert f'asrwatch_session_der_bucket{{channel="web",le="0.2",model_version="mv-{uid}",region="unknown"}}' in metrics


def test_bad_segments_are_rejected_naming_the_field(live, uid):
    good = [_seg("a", 0, 1)]
    cases = {
        0: ({"reference_segments": [_seg("a", 0, 1), _seg("a", 1, 2), _seg("b", 2, 3), _seg("b", 4, 3.5)],
             "hypothesis_segments": good}, "reference_segments.3.end:"),
        1: ({"reference_segments": good, "hypothesis_segments": [_seg("a\x1b[31m", 0, 1)]},
            "hypothesis_segments.0.speaker: must not contain control characters"),
        2: ({"reference_segments": [_seg("a", -1, 1)], "hypothesis_segments": good}, "reference_segments.0.start:"),
        3: ({"reference_segments": good}, "hypothesis_segments: required with reference_segments"),
        4: ({"reference_segments": [_seg("a", 0, 2), _seg("a", 1, 3)], "hypothesis_segments": good},
            "reference_segments.1: overlaps reference_segments.0 of the same speaker"),
        5: ({"reference_segments": [_seg("a" * 65, 0, 1)], "hypothesis_segments": good},
            "reference_segments.0.speaker:"),
        6: ({"reference_segments": [_seg("a", 2 * k, 2 * k + 1) for k in range(1001)], "hypothesis_segments": good},
            "reference_segments: List should have at most 1000 items"),
        7: ({"reference_segments": [{"speaker": "a", "start": 0, "end": 1, "gender": "f"}],
             "hypothesis_segments": good}, "reference_segments.0.gender: unknown field"),
    }
    with live.client("ingest") as http:
        http.post("/api/v1/sessions", json=[_session(uid, 0, "telephony")])
        response = http.post("/api/v1/samples", json=[
            {"session_id": f"{uid}-0", "reference": "hello", **fields} for fields, _ in cases.values()])
    assert response.status_code == 422  # nothing valid: nothing stored
    errors = {r["index"]: r["error"] for r in response.json()["rejected"]}
    for index, (_, expected) in cases.items():
        assert errors[index].startswith(expected), errors[index]
    assert "Kim" not in response.text


def test_slo_of_kind_diarization_judges_sessions_by_max_der(live, uid):
    channel = f"conference-{uid}"
    reference = [_seg("A", 0, 5), _seg("B", 5, 10)]
    hypotheses = [  # two at or under max_der 0.2, two over it (with the 0.25 s collar)
        [_seg("x", 0, 5), _seg("y", 5, 10)], [_seg("x", 0, 6), _seg("y", 6, 10)],
        [_seg("x", 0, 5), _seg("y", 5, 7.5)], [_seg("x", 0, 10)]]
    with live.client("ingest") as http:
        http.post("/api/v1/sessions", json=[_session(uid, i, channel) for i in range(4)])
        body = http.post("/api/v1/samples", json=[
            {"session_id": f"{uid}-{i}", "reference": "hello", "reference_segments": reference,
             "hypothesis_segments": hyp} for i, hyp in enumerate(hypotheses)]).json()
    expected = [DiarizationErrorRate(collar=COLLAR)(_annotation(reference), _annotation(hyp)) for hyp in hypotheses]
    assert [r["diarization"]["der"] for r in body["results"]] == pytest.approx(expected, abs=1e-9)
    assert [d <= 0.2 for d in expected] == [True, True, False, False]
    with live.client("read") as http:
        slos = http.get("/api/v1/slos", params={"at": "2026-11-01T12:00:00Z"}).json()
    [slo] = [s for s in slos["slos"] if s["name"] == "speaker-attribution"]
    assert slo["sli"] == "diarization" and slo["max_der"] == 0.2
    [group] = [g for g in slo["groups"] if g["group"] == {"channel": channel}]
    assert (group["good"], group["events"]) == (2, 4)
