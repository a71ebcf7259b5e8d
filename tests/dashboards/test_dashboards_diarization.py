"""Diarization in the console: the model-owner page's DER table is the API's, and the debug page
shows a diarized call's DER and its speaker turns as the collector stored them (anonymous ids).
The seeded fleet's telephony samples carry speaker turns (`simulator.diarization`)."""

from __future__ import annotations

import pytest
from console_pages import labeled_sample, metrics, seeded_page, table, window

from dashboards import transforms as tf

pytestmark = pytest.mark.filterwarnings("ignore:'uem' was approximated")


def test_model_owner_shows_the_apis_der_per_version_and_channel(seeded, api_get):
    at = seeded_page(seeded, "model_owner")
    rows = api_get("/api/v1/diarization", group_by="model_version,channel", **window(seeded))
    assert rows and {r["channel"] for r in rows} == {"telephony"}
    shown = table(at, "confusion_s")
    assert list(zip(shown["model_version"], shown["channel"], shown["der"], shown["sessions"])) == [
        (r["model_version"], r["channel"], r["der"], r["sessions"]) for r in rows]


def test_debug_shows_a_diarized_calls_der_and_turns(seeded, api_get):
    session, sample = labeled_sample(api_get, seeded, "der_speech_s", channel="telephony")
    at = seeded_page(seeded, "debug", session_id=session["session_id"])
    shown = metrics(at)
    assert shown["DER"] == tf.fmt_pct(tf.sample_der(sample))
    assert shown["Confusion"] == f"{sample['der_confusion_s']:.2f} s"
    assert shown["Speakers (ref / hyp)"] == f"{sample['ref_speakers']} / {sample['hyp_speakers']}"
    turns = tf.speaker_turns_frame(sample)
    assert len(turns) == len(sample["reference_segments"]) + len(sample["hypothesis_segments"])
    assert set(turns["speaker"]) <= {f"{p}{k}" for p in "RH" for k in range(1, 4)}  # no sender label survives


def test_sample_der_follows_pyannotes_rule_without_reference_speech():
    base = {"der_missed_s": 0.0, "der_false_alarm_s": 0.5, "der_confusion_s": 0.0}
    assert tf.sample_der({**base, "der_speech_s": 0.0}) == 1.0
    assert tf.sample_der({**base, "der_speech_s": 5.0}) == pytest.approx(0.1)
    assert tf.sample_der({"wer": 0.2}) is None
    frame = tf.speaker_turns_frame({"reference_segments": [["R1", 0.0, 1.5]], "hypothesis_segments": []})
    assert frame.to_dict("records") == [{"track": "reference", "speaker": "R1", "start_s": 0.0, "end_s": 1.5}]
