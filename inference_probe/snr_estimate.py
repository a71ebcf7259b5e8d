"""Blind SNR of an utterance, plausible for wideband and band-limited (telephony) audio.

WADA-SNR (`wada_snr`) assumes full-band speech whose amplitudes follow a Gamma law. A
telephone channel breaks that: band-limited to 300-3400 Hz, its speech is less peaky
(WADA reads +5 to +9 dB too high at 20 dB), and mu-law turns the pauses into a constant
idle code, which WADA takes for a perfectly clean floor and answers 100 dB. So the
estimator first looks at where the long-term spectrum carries power:

- wideband audio keeps the WADA estimate, exactly as before (method `wada`);
- band-limited audio gets an energy-percentile estimate inside its band (method
  `band_energy`): frame powers after a band-pass that also removes the codec's idle
  offset, noise = a low percentile of the non-silent frames, speech = the mean of the
  frames within 40 dB of the loudest, the same "active speech" measure the augmentation
  mixes noise by (`augment.active_speech_power`).

On the golden set with white or pink noise mixed at 0-20 dB and then the telephony
slice's channel, `band_energy` lands within about 1.5 dB of the in-band SNR (speech and
noise passed through the same band separately), which is what the model hears.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference_probe.augment import active_mean
from inference_probe.wada_snr import DIGITAL_SILENCE, MIN_SAMPLES, SNR_GRID_DB, wada_snr

# Where 99.99% of the long-term power lies below `BAND_EDGE_FRACTION`'s edge. Wideband
# speech puts 1-2% of its power above 4 kHz (the golden set: -17 to -20 dB), telephony
# under 0.001% (-52 to -57 dB); any broadband noise also fills the top of the band.
BAND_POWER_FRACTION = 1e-4
BAND_LIMITED_BELOW = 0.75  # of Nyquist: 3.4 kHz telephony and 11 kHz sources upsampled fall under it
DC_BLOCK_HZ = 60.0  # the lowest band edge: removes DC and a codec's constant idle level
FRAME_S = 0.02
NOISE_PERCENTILE = 10.0  # pauses are noise-only frames; the golden clips have 20-30% of them
ACTIVE_FLOOR_DB = 40.0  # as augment.active_speech_power
MIN_FRAMES = 5


@dataclass(frozen=True)
class SnrEstimate:
    db: float | None
    method: str  # wada | band_energy
    band_hz: tuple[float, float]  # the band that carries the signal's power


def occupied_band(audio: np.ndarray, rate: int) -> tuple[float, float]:
    """(low, high) Hz edges that leave out BAND_POWER_FRACTION of the power on each side."""
    from scipy.fft import next_fast_len, rfft, rfftfreq

    x = np.asarray(audio, dtype=np.float64)
    # One periodogram of the whole clip: single bins are noisy, their running sum is not.
    # Zero padding to a fast length (clip lengths can have large prime factors) only
    # interpolates the spectrum.
    n = next_fast_len(len(x), real=True)
    power = np.abs(rfft(x, n)) ** 2
    freqs = rfftfreq(n, 1.0 / rate)
    total = power.sum()
    if total <= 0.0:
        return 0.0, rate / 2
    cumulative = np.cumsum(power) / total
    low = freqs[min(np.searchsorted(cumulative, BAND_POWER_FRACTION), len(freqs) - 1)]
    high = freqs[min(np.searchsorted(cumulative, 1.0 - BAND_POWER_FRACTION), len(freqs) - 1)]
    return float(low), float(high)


MIN_BAND_HZ = 200.0  # narrower than any telephony band: the "band" of a tone or hum


def frame_powers(audio: np.ndarray, rate: int, frame_s: float = FRAME_S) -> np.ndarray:
    """Mean power per frame, leaving out frames of digital silence (muted, idle or padding)."""
    frame = max(1, int(frame_s * rate))
    n = len(audio) // frame
    powers = np.mean(np.asarray(audio[: n * frame], dtype=np.float64).reshape(n, frame) ** 2, axis=1)
    return powers[powers >= DIGITAL_SILENCE**2]


def snr_from_frame_powers(powers: np.ndarray) -> float | None:
    """Active speech power over the noise floor (a low percentile of frame powers), in dB."""
    if powers.size < MIN_FRAMES:
        return None
    noise = float(np.percentile(powers, NOISE_PERCENTILE))
    active = active_mean(powers, ACTIVE_FLOOR_DB)
    lo, hi = float(SNR_GRID_DB[0]), float(SNR_GRID_DB[-1])
    if noise <= 0.0:
        return hi
    return float(np.clip(10 * np.log10(max(active - noise, 1e-30) / noise), lo, hi))


def band_energy_snr(audio: np.ndarray, rate: int, band: tuple[float, float]) -> float | None:
    from scipy.signal import butter, sosfiltfilt

    x = np.asarray(audio, dtype=np.float64)
    if x.size < MIN_SAMPLES:
        return None
    low, high = max(band[0], DC_BLOCK_HZ), min(band[1], 0.99 * rate / 2)
    if high - low < MIN_BAND_HZ:
        # A tone or a hum, not speech in a channel: no band-pass to design (butter needs low < high)
        # and no noise floor to read inside it. No estimate beats a made-up one.
        return None
    # Zero-phase, so the idle segments around speech stay silent instead of ringing.
    sos = butter(4, [low, high], btype="bandpass", fs=rate, output="sos")
    return snr_from_frame_powers(frame_powers(sosfiltfilt(sos, x), rate))


def estimate_snr(audio: np.ndarray, rate: int = 16_000) -> SnrEstimate:
    """The probe's per-utterance SNR: WADA on wideband audio, in-band energy on band-limited."""
    x = np.asarray(audio, dtype=np.float64)
    if np.count_nonzero(np.abs(x) >= DIGITAL_SILENCE) < MIN_SAMPLES:
        return SnrEstimate(None, "wada", (0.0, rate / 2))
    band = occupied_band(x, rate)
    if band[1] >= BAND_LIMITED_BELOW * rate / 2:
        return SnrEstimate(wada_snr(x), "wada", band)
    return SnrEstimate(band_energy_snr(x, rate, band), "band_energy", band)
