"""Deterministic run-time augmentation of clean utterances into evaluation slices.

Every random choice comes from a generator seeded by (seed, utterance id, slice), so a
slice of an utterance is the same audio in every run with the same seed, whatever the
order or subset of utterances processed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 16_000
NOISE_SLICES = {"noise_20db": 20.0, "noise_10db": 10.0, "noise_0db": 0.0}
SLICES = ("clean", *NOISE_SLICES, "far_field", "telephony")
BABBLE_TALKERS = 5
TELEPHONY_RATE = 8_000
MU = 255


@dataclass
class SliceAudio:
    slice: str
    audio: np.ndarray
    mixing_snr_db: float | None = None
    params: dict = field(default_factory=dict)


def parse_slices(text: str | None) -> list[str]:
    """`clean,noise_0db` -> ['clean', 'noise_0db']; None or 'all' -> every slice."""
    if text is None or text.strip() in ("", "all"):
        return list(SLICES)
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in SLICES]
    if unknown:
        raise ValueError(f"--slices: unknown slice(s) {', '.join(unknown)}; choose from {', '.join(SLICES)}")
    return list(dict.fromkeys(names))


def slice_rng(seed: int, utt_id: str, slice_name: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{utt_id}|{slice_name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def active_speech_power(audio: np.ndarray, frame: int = 320, floor_db: float = 40.0) -> float:
    """Mean power over 20 ms frames within `floor_db` of the loudest one (pauses excluded)."""
    n = len(audio) // frame
    if n == 0:
        return float(np.mean(audio.astype(np.float64) ** 2))
    energies = np.mean(audio[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1)
    return active_mean(energies, floor_db)


def active_mean(energies: np.ndarray, floor_db: float = 40.0) -> float:
    """Mean of the frame energies within `floor_db` of the loudest (speech, not its pauses)."""
    return float(energies[energies >= energies.max() * 10 ** (-floor_db / 10)].mean())


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Scale `noise` so active-speech power / noise power equals `snr_db`, then add."""
    noise_power = float(np.mean(noise.astype(np.float64) ** 2))
    if noise_power == 0.0:
        raise ValueError("noise signal is silent")
    gain = np.sqrt(active_speech_power(speech) / (noise_power * 10 ** (snr_db / 10)))
    return (speech + gain * noise).astype(np.float32)


def babble(pool: list[np.ndarray], length: int, rng: np.random.Generator, talkers: int = BABBLE_TALKERS) -> np.ndarray:
    """Overlapping other talkers, each looped from a random offset and equalized in level."""
    if not pool:
        raise ValueError("babble noise needs at least one other utterance in the pool")
    picks = rng.choice(len(pool), size=min(talkers, len(pool)), replace=False)
    out = np.zeros(length, dtype=np.float64)
    for idx in picks:
        talker = pool[int(idx)].astype(np.float64)
        looped = np.resize(np.roll(talker, -int(rng.integers(len(talker)))), length)
        out += looped / np.sqrt(max(active_speech_power(looped), 1e-12))
    return out.astype(np.float32)


def synthetic_rir(rng: np.random.Generator, rt60_s: float, drr_db: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Direct path + exponentially decaying diffuse tail (60 dB of decay per rt60)."""
    length = int(rt60_s * rate)
    t = np.arange(length) / rate
    tail = rng.standard_normal(length) * np.exp(-6.908 * t / rt60_s)
    predelay = int(0.004 * rate)
    tail[:predelay] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    tail[0] = 1.0
    return tail


def far_field(audio: np.ndarray, rng: np.random.Generator) -> SliceAudio:
    from scipy.signal import fftconvolve

    rt60 = float(rng.uniform(0.4, 0.9))
    drr = float(rng.uniform(-6.0, 0.0))
    wet = fftconvolve(audio.astype(np.float64), synthetic_rir(rng, rt60, drr))[: len(audio)]
    wet *= np.abs(audio).max() / max(np.abs(wet).max(), 1e-12)
    return SliceAudio("far_field", wet.astype(np.float32), None, {"rt60_s": round(rt60, 3), "drr_db": round(drr, 2)})


def mu_law(audio: np.ndarray, mu: int = MU) -> np.ndarray:
    """8-bit mu-law encode then decode (G.711-style companding and quantization)."""
    x = np.clip(audio, -1.0, 1.0)
    compressed = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    codes = np.round((compressed + 1) / 2 * mu)
    y = codes / mu * 2 - 1
    return (np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu).astype(np.float32)


def telephony(audio: np.ndarray) -> SliceAudio:
    from scipy.signal import butter, resample_poly, sosfilt

    narrow = resample_poly(audio.astype(np.float64), 1, SAMPLE_RATE // TELEPHONY_RATE)
    sos = butter(4, [300, 3400], btype="bandpass", fs=TELEPHONY_RATE, output="sos")
    narrow = sosfilt(sos, narrow)
    peak = np.abs(narrow).max()
    if peak > 1.0:
        narrow /= peak
    coded = mu_law(narrow)
    wide = resample_poly(coded.astype(np.float64), SAMPLE_RATE // TELEPHONY_RATE, 1)[: len(audio)]
    return SliceAudio("telephony", wide.astype(np.float32), None, {"band_hz": [300, 3400], "codec": "mu-law-8bit"})


def noise_type_for(utt_id: str, seed: int) -> str:
    """Half the utterances get white noise and half babble, stable per utterance."""
    return ("white", "babble")[hashlib.sha256(f"{seed}|{utt_id}|noise".encode()).digest()[0] % 2]


def make_slice(audio: np.ndarray, slice_name: str, utt_id: str, seed: int,
               babble_pool: list[np.ndarray] | None = None) -> SliceAudio:
    """The `slice_name` version of a clean 16 kHz utterance."""
    if slice_name not in SLICES:
        raise ValueError(f"slice: unknown slice {slice_name!r}; choose from {', '.join(SLICES)}")
    rng = slice_rng(seed, utt_id, slice_name)
    if slice_name == "clean":
        return SliceAudio("clean", audio)
    if slice_name in NOISE_SLICES:
        snr = NOISE_SLICES[slice_name]
        kind = noise_type_for(utt_id, seed)
        if kind == "babble" and babble_pool:
            noise = babble(babble_pool, len(audio), rng)
        else:
            kind = "white"
            noise = rng.standard_normal(len(audio)).astype(np.float32)
        mixed = mix_at_snr(audio, noise, snr)
        peak = np.abs(mixed).max()
        if peak > 0.99:  # keep the mix unclipped; scaling leaves the SNR unchanged
            mixed = mixed * (0.99 / peak)
        return SliceAudio(slice_name, mixed.astype(np.float32), snr, {"noise": kind})
    if slice_name == "far_field":
        return far_field(audio, rng)
    return telephony(audio)
