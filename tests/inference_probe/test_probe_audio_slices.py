"""Golden set, manifest parsing, audio reading, augmentation slices and blind SNR (no model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from prerequisites import need_module

sf = need_module("soundfile")

from inference_probe.audio_io import AudioError, read_audio  # noqa: E402
from inference_probe.augment import (  # noqa: E402
    SLICES, active_speech_power, babble, make_slice, mix_at_snr, mu_law, noise_type_for, parse_slices, synthetic_rir,
)
from inference_probe.golden import generate  # noqa: E402
from inference_probe.manifest import GOLDEN_MANIFEST, ManifestError, load_manifest, manifest_sha256  # noqa: E402
from inference_probe.wada_snr import wada_snr  # noqa: E402


@pytest.fixture(scope="module")
def clips(golden):
    return [read_audio(u.audio_path)[0] for u in golden[:6]]


def test_golden_set_size_and_reproducible_plan(golden):
    assert len(golden) >= 120
    assert sum(u.duration for u in golden) >= 360
    size = sum(p.stat().st_size for p in (GOLDEN_MANIFEST.parent / "audio").glob("*.flac"))
    assert size < 15e6
    assert len({u.extra["voice"] for u in golden}) >= 4 and len({u.extra["rate_wpm"] for u in golden}) >= 3
    plan = generate.plan()
    assert plan == generate.plan()  # seeded: the same texts, voices and rates every time
    assert [row["text"] for row in plan] == [u.text for u in golden]
    info = sf.info(golden[0].audio_path)
    assert info.samplerate == 16_000 and info.channels == 1 and info.format == "FLAC"
    assert abs(info.frames / 16_000 - golden[0].duration) < 1e-3


def test_manifest_errors_name_the_line_and_field(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"audio_filepath": "a.flac", "duration": 1.0, "text": "hi"}) + "\n"
                    + json.dumps({"audio_filepath": "b.flac", "text": "yo"}) + "\n")
    with pytest.raises(ManifestError, match=r"m.jsonl line 2: missing field 'duration'"):
        load_manifest(path)
    path.write_text('{"audio_filepath": "a.flac", "duration": "1", "text": "hi"}\n')
    with pytest.raises(ManifestError, match="line 1: field 'duration' has the wrong type"):
        load_manifest(path)
    path.write_text("not json\n")
    with pytest.raises(ManifestError, match="line 1: not valid JSON"):
        load_manifest(path)
    with pytest.raises(ManifestError, match="manifest not found"):
        load_manifest(tmp_path / "missing.jsonl")
    path.write_text(json.dumps({"audio_filepath": "sub/a.flac", "duration": 1.5, "text": "hi", "speaker": 3}) + "\n")
    (utt,) = load_manifest(path)
    assert utt.audio_path == tmp_path / "sub" / "a.flac" and utt.utt_id == "a" and utt.extra == {"speaker": 3}
    assert manifest_sha256(path) != manifest_sha256(None)


def test_audio_errors_and_resampling(tmp_path):
    with pytest.raises(AudioError, match="audio file not found"):
        read_audio(tmp_path / "nope.flac")
    (tmp_path / "bad.flac").write_bytes(b"this is not audio")
    with pytest.raises(AudioError, match="unreadable audio file .*bad.flac"):
        read_audio(tmp_path / "bad.flac")
    t = np.arange(44_100) / 44_100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1) * 0.5
    sf.write(tmp_path / "tone.wav", stereo, 44_100)
    audio, rate = read_audio(tmp_path / "tone.wav")
    assert rate == 44_100 and audio.ndim == 1 and abs(len(audio) - 16_000) <= 1
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16_000 / len(audio) - 440) < 2


def test_slices_are_deterministic_per_utterance_and_seed(clips):
    pool = clips[1:]
    for name in SLICES:
        a = make_slice(clips[0], name, "u0", seed=7, babble_pool=pool)
        b = make_slice(clips[0], name, "u0", seed=7, babble_pool=pool)
        assert np.array_equal(a.audio, b.audio) and a.params == b.params
        assert len(a.audio) == len(clips[0]) and a.audio.dtype == np.float32
    assert not np.array_equal(make_slice(clips[0], "noise_10db", "u0", 7, pool).audio,
                              make_slice(clips[0], "noise_10db", "u0", 8, pool).audio)
    assert np.array_equal(make_slice(clips[0], "clean", "u0", 7).audio, clips[0])
    kinds = {noise_type_for(f"g{i:04d}", 0) for i in range(20)}
    assert kinds == {"white", "babble"}


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_noise_is_mixed_at_the_requested_snr(clips, snr_db):
    speech = clips[2]
    rng = np.random.default_rng(0)
    for noise in (rng.standard_normal(len(speech)).astype(np.float32), babble(clips[3:], len(speech), rng)):
        mixed = mix_at_snr(speech, noise, snr_db)
        residual = mixed.astype(np.float64) - speech
        measured = 10 * np.log10(active_speech_power(speech) / np.mean(residual**2))
        assert abs(measured - snr_db) < 0.01
    sl = make_slice(speech, f"noise_{int(snr_db)}db", "u2", seed=0, babble_pool=clips[3:])
    assert sl.mixing_snr_db == snr_db and sl.params["noise"] in ("white", "babble")
    assert np.abs(sl.audio).max() <= 0.99 + 1e-6


def test_telephony_is_band_limited_and_mu_law_quantized(clips):
    sl = make_slice(clips[0], "telephony", "u0", seed=0)
    spectrum = np.abs(np.fft.rfft(sl.audio)) ** 2
    freqs = np.fft.rfftfreq(len(sl.audio), 1 / 16_000)
    assert spectrum[freqs > 4200].sum() < 1e-3 * spectrum.sum()
    assert spectrum[freqs < 150].sum() < 0.02 * spectrum.sum()
    x = np.linspace(-1, 1, 10_001)
    assert len(np.unique(mu_law(x))) <= 256
    assert np.max(np.abs(mu_law(x) - x)) < 0.05


def test_far_field_impulse_response_decays_at_rt60():
    rir = synthetic_rir(np.random.default_rng(0), rt60_s=0.6, drr_db=0.0)
    energy = rir[1:] ** 2
    early = energy[: 1600].mean()
    late = energy[int(0.5 * 16_000): int(0.6 * 16_000)].mean()
    assert 40 < 10 * np.log10(early / late) < 65  # ~50 dB down after 0.5 s of a 60 dB / 0.6 s decay
    assert abs(10 * np.log10(1.0 / energy.sum())) < 0.5  # direct-to-reverberant ratio of 0 dB


def test_wada_snr_recovers_known_snr_on_gamma_speech():
    rng = np.random.default_rng(3)
    speech = rng.gamma(0.4, 1.0, 160_000) * rng.choice((-1.0, 1.0), 160_000)
    speech /= np.sqrt(np.mean(speech**2))
    for snr in (0.0, 10.0, 20.0, 30.0):
        noisy = speech * 10 ** (snr / 20) + rng.standard_normal(speech.size)
        assert abs(wada_snr(noisy) - snr) < 1.5
    assert wada_snr(np.zeros(16_000)) is None


def test_wada_snr_tracks_the_mixing_snr_of_white_noise_on_real_speech(golden, clips):
    idx = next(i for i, u in enumerate(golden[:6]) if noise_type_for(u.utt_id, 0) == "white")
    for name in ("noise_0db", "noise_10db", "noise_20db"):
        sl = make_slice(clips[idx], name, golden[idx].utt_id, 0)
        assert abs(wada_snr(sl.audio) - sl.mixing_snr_db) < 3.0
    # Digital silence (the clips' zero padding) is no evidence of noise: it is skipped, and a
    # clip that is nothing but digital silence has no estimate at all.
    padded = np.concatenate([np.zeros(16_000, np.float32), clips[idx]])
    assert wada_snr(padded) == pytest.approx(wada_snr(clips[idx]))


def test_parse_slices_names_the_unknown_one():
    assert parse_slices(None) == list(SLICES)
    assert parse_slices("clean, noise_0db,clean") == ["clean", "noise_0db"]
    with pytest.raises(ValueError, match="unknown slice.*noise_5db"):
        parse_slices("clean,noise_5db")
