"""The simulated ASR fleet: its slices and the distributions each slice draws from.

Pure model, no I/O. A session is drawn in two steps: `draw_draft` picks the slice (tenant,
channel, region, language, model version, pool) and the audio (length, SNR); scenarios may
then edit the draft's knobs (error multiplier, queueing, failure odds...); `realize` turns
the draft into the outcome (word errors, latency, status, confidence, GPU time).

Numbers are chosen to look like a production streaming ASR fleet:
- word error rate by channel (web 8%, mobile 10%, telephony 14%, far-field 20% at the
  channel's typical SNR), scaled by language and by exp(0.05 x dB below that typical SNR);
- final latency = queue + a log-normal decode time (median ~0.5 s) with a 0.5% Pareto tail,
  so ~0.4% of sessions exceed 2 s (a 99% latency SLO burns at ~0.4x); timeouts at 10 s;
- status: ~99.6% ok; confidence falls with the utterance's actual error rate;
- GPU time = audio x real-time factor of the pool (a100: 0.04, l4-batch: 0.08) x retries.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime

from simulator.diarization import BASELINE_SWAP_P

TIMEOUT_MS = 10_000.0
SNR_SLOPE_PER_DB = 0.05
WORDS_PER_SECOND = 2.4
MAX_UTTERANCE_WER = 0.9


@dataclass(frozen=True)
class ChannelProfile:
    base_wer: float
    snr_mean_db: float
    snr_sd_db: float
    audio_median_s: float
    audio_sigma: float
    first_partial_median_ms: float
    pool: str


CHANNELS: dict[str, ChannelProfile] = {
    "web": ChannelProfile(0.08, 25.0, 5.0, 5.0, 0.5, 240.0, "a100"),
    "mobile": ChannelProfile(0.10, 20.0, 6.0, 4.0, 0.5, 260.0, "a100"),
    "telephony": ChannelProfile(0.14, 15.0, 5.0, 8.0, 0.6, 320.0, "l4-batch"),
    "far_field": ChannelProfile(0.20, 10.0, 5.0, 3.0, 0.4, 280.0, "a100"),
}

POOL_REAL_TIME_FACTOR = {"a100": 0.04, "l4-batch": 0.08}

TENANTS: dict[str, tuple[float, dict[str, float]]] = {
    # tenant: (traffic share, channel mix)
    "acme-bank": (0.20, {"telephony": 0.5, "web": 0.3, "mobile": 0.2}),
    "medicorp": (0.15, {"telephony": 0.4, "web": 0.4, "mobile": 0.2}),
    "retail-co": (0.25, {"web": 0.5, "mobile": 0.4, "telephony": 0.1}),
    "voice-assist": (0.25, {"far_field": 0.8, "mobile": 0.2}),
    "callcenter-x": (0.15, {"telephony": 0.9, "web": 0.1}),
}

REGIONS: dict[str, tuple[float, dict[str, float]]] = {
    # region: (traffic share, language mix)
    "us-east": (0.40, {"en-US": 0.85, "es-US": 0.15}),
    "us-west": (0.20, {"en-US": 0.8, "es-US": 0.2}),
    "eu-west": (0.25, {"en-GB": 0.6, "de-DE": 0.4}),
    "ap-south": (0.10, {"en-IN": 1.0}),
    "sa-east": (0.05, {"es-US": 0.7, "en-US": 0.3}),
}

LANGUAGE_WER_FACTOR = {"en-US": 1.0, "en-GB": 1.05, "en-IN": 1.15, "es-US": 1.15, "de-DE": 1.2}

BASELINE_STATUS_ODDS = {"partial": 0.0015, "decode_error": 0.0005, "dropped": 0.001}
# Channels with a transcript cache in front of the recognizer (IVR prompts and hold messages
# repeat), and their hit rate; other channels report no cache. Every session names its backend:
# the self-hosted recognizer, or the paid API it falls back to when the circuit breaker is open.
CACHE_HIT_RATE = {"telephony": 0.35}
BASELINE_FALLBACK_P = 0.002
# Nodes per pool (sessions name theirs: `node`), and the streams a node serves at once on a
# normal day; GPU utilisation follows the streams (`simulator.generate._serve`).
NODES_PER_POOL = {"a100": 8, "l4-batch": 4}
BASELINE_STREAMS = 6.0
BASELINE_RETRY_P = 0.02


@dataclass(frozen=True)
class FleetConfig:
    stable_version: str = "whisper-large-v3@2026-10-01"
    canary_version: str = "whisper-large-v3@2026-11-15"
    label_fraction: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_fraction <= 1.0:
            raise ValueError(f"label_fraction: must be within 0..1, got {self.label_fraction}")
        if not self.stable_version or not self.canary_version:
            raise ValueError("stable_version/canary_version: must be non-empty")
        if self.stable_version == self.canary_version:
            raise ValueError("canary_version: must differ from stable_version")


@dataclass
class Draft:
    """One session before its outcome is drawn; scenarios edit the knobs below."""

    ts: datetime
    model_version: str
    tenant: str
    channel: str
    region: str
    language: str
    pool: str
    audio_seconds: float
    snr_db: float
    wer_factor: float = 1.0
    queue_median_ms: float = 8.0
    queue_sigma: float = 0.8
    decode_ms_factor: float = 1.0
    first_partial_factor: float = 1.0
    rewrite_factor: float = 1.0
    decode_error_p: float = BASELINE_STATUS_ODDS["decode_error"]
    empty_hypothesis_p: float = 0.0
    retry_p: float = BASELINE_RETRY_P
    max_retries: int = 1
    shadow_p: float = 0.0
    new_terms: dict[str, str] = field(default_factory=dict)
    new_term_rate: float = 0.0
    new_term_miss: float = 0.85  # share of new-term occurrences the model mishears
    # Share of sessions whose audio holds no speech and whose text is hallucinated (`simulator.hallucinations`).
    hallucination_p: float = 0.0
    # Multi-speaker channels: share of turns the diarizer gives the wrong speaker (`simulator.diarization`).
    diarization_swap_p: float = BASELINE_SWAP_P
    # Share answered by the transcript cache (None: the channel has no cache, `cache_hit` unset),
    # and share served by the paid API (`backend: api`) instead of the self-hosted recognizer.
    cache_hit_p: float | None = None
    fallback_p: float = BASELINE_FALLBACK_P
    # Mean concurrent streams on the serving node when the session starts (load).
    streams_mean: float = BASELINE_STREAMS
    attributes: dict[str, str] = field(default_factory=dict)

    def slice(self) -> dict[str, str]:
        return {
            "model_version": self.model_version,
            "region": self.region,
            "tenant": self.tenant,
            "channel": self.channel,
            "language": self.language,
            "pool": self.pool,
        }


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    x = rng.random() * sum(weights.values())
    for key, w in weights.items():
        x -= w
        if x < 0:
            return key
    return key


def draw_draft(rng: random.Random, ts: datetime, model_version: str) -> Draft:
    tenant = _pick(rng, {t: share for t, (share, _) in TENANTS.items()})
    channel = _pick(rng, TENANTS[tenant][1])
    region = _pick(rng, {r: share for r, (share, _) in REGIONS.items()})
    language = _pick(rng, REGIONS[region][1])
    profile = CHANNELS[channel]
    audio = min(120.0, max(0.5, rng.lognormvariate(math.log(profile.audio_median_s), profile.audio_sigma)))
    snr = rng.gauss(profile.snr_mean_db, profile.snr_sd_db)
    return Draft(
        ts=ts,
        model_version=model_version,
        tenant=tenant,
        channel=channel,
        region=region,
        language=language,
        pool=profile.pool,
        audio_seconds=round(audio, 3),
        snr_db=round(snr, 2),
        cache_hit_p=CACHE_HIT_RATE.get(channel),
    )


def utterance_error_rate(draft: Draft) -> float:
    """The expected WER of this utterance: channel x language x SNR x scenario factor."""
    profile = CHANNELS[draft.channel]
    snr_factor = math.exp(SNR_SLOPE_PER_DB * (profile.snr_mean_db - draft.snr_db))
    rate = profile.base_wer * LANGUAGE_WER_FACTOR.get(draft.language, 1.0) * snr_factor * draft.wer_factor
    return min(MAX_UTTERANCE_WER, max(0.0, rate))


def binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(1 for _ in range(n) if rng.random() < p)


@dataclass
class Outcome:
    status: str
    ref_words: int
    substitutions: int
    deletions: int
    insertions: int
    empty_hypothesis: bool
    first_partial_ms: float | None
    final_latency_ms: float | None
    queue_ms: float
    partial_rewrites: int
    confidence: float | None
    gpu_seconds: float
    retries: int
    turn_success: bool | None
    stage_ms: dict[str, float]


def realize(rng: random.Random, draft: Draft) -> Outcome:
    """Draw the outcome of one session from its (possibly scenario-edited) draft."""
    n_words = max(2, round(draft.audio_seconds * WORDS_PER_SECOND * rng.uniform(0.85, 1.15)))
    rate = utterance_error_rate(draft)
    # S/D/I split typical of ASR: mostly substitutions. Drawn per word so the
    # corpus WER of a slice converges on its rate.
    subs = dels = ins = 0
    for _ in range(n_words):
        if rng.random() < rate:
            u = rng.random()
            if u < 0.6:
                subs += 1
            elif u < 0.85:
                dels += 1
            else:
                ins += 1

    queue = rng.lognormvariate(math.log(draft.queue_median_ms), draft.queue_sigma)
    decode = rng.lognormvariate(math.log(450.0 + 20.0 * draft.audio_seconds), 0.4) * draft.decode_ms_factor
    if rng.random() < 0.005:
        decode += 1500.0 * rng.paretovariate(1.5) - 1000.0
    final = queue + decode
    first_partial = queue + rng.lognormvariate(
        math.log(CHANNELS[draft.channel].first_partial_median_ms * draft.first_partial_factor), 0.35
    )

    status = "ok"
    u = rng.random()
    if final > TIMEOUT_MS:
        status = "timeout"
    elif u < draft.decode_error_p:
        status = "decode_error"
    elif u < draft.decode_error_p + BASELINE_STATUS_ODDS["dropped"]:
        status = "dropped"
    elif u < draft.decode_error_p + BASELINE_STATUS_ODDS["dropped"] + BASELINE_STATUS_ODDS["partial"]:
        status = "partial"
    empty = status == "decode_error" or (status == "ok" and rng.random() < draft.empty_hypothesis_p)
    if empty:
        subs, dels, ins = 0, n_words, 0

    retries = 0
    if rng.random() < draft.retry_p:
        retries = rng.randint(1, max(1, draft.max_retries))
    rtf = POOL_REAL_TIME_FACTOR.get(draft.pool, 0.05)
    gpu = (draft.audio_seconds * rtf * rng.lognormvariate(0.0, 0.15) + 0.02) * (1 + retries)

    actual_rate = (subs + dels + ins) / n_words
    confidence: float | None = None
    if status in ("ok", "partial"):
        confidence = 0.05 if empty else min(0.995, max(0.02, rng.gauss(0.96 - 1.4 * actual_rate, 0.035)))
    turn_success: bool | None = None
    if status == "ok":
        turn_success = (not empty) and rng.random() < max(0.0, 0.98 - 1.0 * actual_rate)
    elif status in ("decode_error", "dropped", "timeout", "partial"):
        turn_success = False

    rewrites_mean = 0.3 * draft.audio_seconds * draft.rewrite_factor
    partial_rewrites = _poisson(rng, rewrites_mean)

    if status in ("dropped", "timeout"):
        final_ms: float | None = TIMEOUT_MS if status == "timeout" else None
    else:
        final_ms = final
    stage_ms = _stages(rng, queue, min(final, TIMEOUT_MS) - queue)
    return Outcome(
        status=status,
        ref_words=n_words,
        substitutions=subs,
        deletions=dels,
        insertions=ins,
        empty_hypothesis=empty,
        first_partial_ms=None if status == "dropped" else round(min(first_partial, TIMEOUT_MS), 1),
        final_latency_ms=None if final_ms is None else round(final_ms, 1),
        queue_ms=round(queue, 1),
        partial_rewrites=partial_rewrites,
        confidence=None if confidence is None else round(confidence, 4),
        gpu_seconds=round(gpu, 4),
        retries=retries,
        turn_success=turn_success,
        stage_ms=stage_ms,
    )


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _stages(rng: random.Random, queue_ms: float, work_ms: float) -> dict[str, float]:
    """Split the session's wall time into the pipeline stages that the traces show."""
    work_ms = max(work_ms, 1.0)
    weights = {
        "preprocess": rng.uniform(0.03, 0.06),
        "features": rng.uniform(0.05, 0.1),
        "inference": rng.uniform(0.6, 0.7),
        "decode": rng.uniform(0.1, 0.15),
        "postprocess": rng.uniform(0.02, 0.04),
    }
    scale = work_ms / sum(weights.values())
    stages = {"ingest": round(queue_ms, 2)}
    stages.update({name: round(w * scale, 2) for name, w in weights.items()})
    return stages
