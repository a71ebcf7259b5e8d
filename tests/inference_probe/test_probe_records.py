"""Pure builders: session records valid under the collector's strict schema, span
attributes, corpus WER per slice."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from collector.store.schemas import SampleIn, SessionIn
from inference_probe.records import sample_record, session_id_for, session_record, span_attributes
from inference_probe.summary import format_table, summarize


def _record(**overrides):
    fields = dict(session_id="probe-r-g1-clean", ts=datetime(2026, 11, 21, 12, tzinfo=timezone.utc),
                  model_version="whisper-tiny.en@abc", channel="clean", audio_seconds=3.5, final_latency_ms=120,
                  status="ok", confidence=0.8123456789, snr_db=21, hypothesis="hello", trace_id="ab" * 16,
                  attributes={"token_probs": [0.9, 0.7], "no_speech_prob": 0.01, "mixing_snr_db": 10.0})
    fields.update(overrides)
    return session_record(**fields)


def test_session_record_passes_the_collector_schema():
    record = SessionIn.model_validate(_record())
    assert record.tenant == "probe" and record.channel == "clean" and record.language == "en"
    assert record.snr_db == 21.0 and record.attributes["token_probs"] == [0.9, 0.7]
    assert record.gpu_seconds is None and record.region is None  # unknowns are left out, not faked
    assert SessionIn.model_validate(_record(confidence=1.0000001)).confidence == 1.0  # clamped to the schema
    assert SampleIn.model_validate(sample_record("s", "ref", "hyp")).source == "probe"
    with pytest.raises(ValueError, match="ts: must be timezone-aware"):
        _record(ts=datetime(2026, 11, 21, 12))


def test_span_attributes_carry_the_scalars_with_the_asr_prefix():
    attrs = span_attributes(_record())
    assert attrs["asr.session_id"] == "probe-r-g1-clean" and attrs["asr.channel"] == "clean"
    assert attrs["asr.confidence"] == pytest.approx(0.812346) and attrs["asr.mixing_snr_db"] == 10.0
    assert "asr.hypothesis" not in attrs and "asr.attributes" not in attrs and "asr.token_probs" not in attrs


def test_session_ids_stay_unique_and_short():
    long_a, long_b = "x" * 200, "x" * 199 + "y"
    assert session_id_for("run", long_a, "clean") != session_id_for("run", long_b, "clean")
    assert len(session_id_for("run", long_a, "noise_10db")) <= 128
    assert session_id_for("run", "g0001", "telephony") == "probe-run-g0001-telephony"


def test_wer_per_slice_is_corpus_wer_not_a_mean():
    rows = [{"slice": "clean", "errors": 1, "ref_words": 10, "confidence": 0.9, "snr_est_db": 30.0,
             "latency_ms": 100.0, "audio_seconds": 2.0, "status": "ok"},
            {"slice": "clean", "errors": 3, "ref_words": 2, "confidence": 0.5, "snr_est_db": None,
             "latency_ms": 300.0, "audio_seconds": 4.0, "status": "ok"},
            {"slice": "noise_0db", "errors": 0, "ref_words": 0, "confidence": None, "snr_est_db": None,
             "latency_ms": 50.0, "audio_seconds": 1.0, "status": "dropped"}]
    clean, noisy = summarize(rows, ["clean", "noise_0db", "far_field"])
    assert clean.wer == pytest.approx(4 / 12) and clean.mean_confidence == pytest.approx(0.7)
    assert clean.mean_snr_est_db == 30.0 and clean.failed == 0
    assert noisy.wer is None and noisy.failed == 1
    assert clean.rtfx == pytest.approx(6.0 / 0.4) and noisy.rtfx == pytest.approx(20.0)
    table = format_table([clean, noisy])
    assert "33.3%" in table and "far_field" not in table
