"""The probe's per-utterance Whisper figures (avg_logprob, compression_ratio, no_speech_prob)
against openai-whisper's own `whisper.decode` (whisper/decoding.py `DecodingTask.run`) on the
same audio: golden speech, silence and noise, tiny.en on CPU."""

from __future__ import annotations

import numpy as np
import pytest
from prerequisites import need_module

need_module("torch")
whisper = need_module("whisper")

from collector.measures import hallucination  # noqa: E402
from inference_probe.audio_io import SAMPLE_RATE, read_audio  # noqa: E402
from inference_probe.backends.whisper_backend import WhisperBackend  # noqa: E402
from inference_probe.timing import StageTimer  # noqa: E402
from inference_probe.whisper_decode import DecodingSettings, token_budget  # noqa: E402


@pytest.fixture(scope="module")
def full_window(whisper_backend):
    # Whisper's reference decodes a 30 s window: the probe's `full` context does the same.
    return WhisperBackend(whisper_backend.weights, device="cpu", fp16=False,
                          settings=DecodingSettings(encoder_context="full"))


def _audios(golden) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    clips = {f"speech-{u.utt_id}": read_audio(u.audio_path)[0] for u in golden[:2]}
    clips["silence"] = np.zeros(3 * SAMPLE_RATE, dtype=np.float32)
    clips["noise"] = (0.1 * rng.standard_normal(3 * SAMPLE_RATE)).astype(np.float32)
    return clips


def test_figures_match_whisper_decode(full_window, golden):
    checked = 0
    for name, audio in _audios(golden).items():
        (ours,) = full_window.transcribe_batch([audio], StageTimer("cpu"))
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio))
        options = whisper.DecodingOptions(language="en", without_timestamps=True, fp16=False, temperature=0.0,
                                          sample_len=token_budget(len(audio) / SAMPLE_RATE, full_window.settings))
        reference = whisper.decode(full_window.model, mel, options)
        assert ours.text == reference.text, name
        assert ours.avg_logprob == pytest.approx(reference.avg_logprob, abs=2e-3), name
        assert ours.no_speech_prob == pytest.approx(reference.no_speech_prob, abs=2e-3), name
        assert ours.compression_ratio == pytest.approx(reference.compression_ratio, abs=1e-6), name
        assert ours.compression_ratio == pytest.approx(hallucination.compression_ratio(ours.text), abs=1e-6)
        checked += 1
    assert checked == 4
