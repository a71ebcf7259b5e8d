"""Reading utterance audio as 16 kHz mono float32, resampling whatever else arrives."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000


class AudioError(ValueError):
    """An utterance's audio is missing or unreadable (the message names the file)."""


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased); identity when the rates match."""
    if rate_in == rate_out:
        return audio
    from scipy.signal import resample_poly

    g = gcd(rate_in, rate_out)
    return resample_poly(audio, rate_out // g, rate_in // g).astype(np.float32)


def to_mono(audio: np.ndarray) -> np.ndarray:
    return audio.mean(axis=1) if audio.ndim == 2 else audio


def read_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Return (samples at `sample_rate`, the file's original rate)."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=False)
    except Exception as exc:  # libsndfile raises its own error types for corrupt files
        raise AudioError(f"unreadable audio file {path}: {exc}") from None
    audio = to_mono(np.asarray(audio, dtype=np.float32))
    if audio.size == 0:
        raise AudioError(f"audio file {path} has no samples")
    return resample(audio, int(rate), sample_rate), int(rate)


def encode_wav(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM WAV bytes, for sending to HTTP endpoints."""
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()
