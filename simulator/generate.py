"""Deterministic generation of the simulated fleet's traffic, one event-time minute at a time.

`generate(...)` yields a `MinuteBatch` per simulated minute: session records for
`POST /api/v1/sessions`, sessions to send as OTLP traces instead, and labeled samples with
the word errors injected into them (the ground truth the collector must reproduce).

Each minute draws from its own RNG seeded by (seed, scenarios, minute), so the same
arguments always give the same sessions (and the same session ids: re-posting a run is
idempotent), and a router change in one minute does not reshuffle the others.
Traffic follows a diurnal curve peaking at 15:00 UTC (x1.35) with a trough at 03:00 (x0.65);
`rate` is the day's mean sessions per minute.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from simulator.fleet import NODES_PER_POOL, Draft, FleetConfig, Outcome, draw_draft, realize
from simulator.diarization import MULTI_SPEAKER_CHANNELS, Diarization, diarize
from simulator.hallucinations import hallucinate
from simulator.scenarios import ScenarioSet
from simulator.traffic_router import RouterState
from simulator.transcripts import DOMAIN_TERMS, Utterance, corrupt, make_reference, vocabulary_for

DIURNAL_AMPLITUDE = 0.35
DOMAIN_TERM_RATE = 0.08
LABELABLE_STATUSES = ("ok", "partial", "decode_error")
_HALLUCINATION_SALT = 0x9A11  # the hallucination draw's seed: the session's text seed with this mixed in
_DIARIZATION_SALT = 0xD1A2  # the speaker turns' seed, likewise
_BACKEND_SALT = 0xCAC4  # the cache hit and backend draws' seed, likewise
_SHADOW_BACKEND_SALT = 0x5AD0  # and a shadow copy's


@dataclass(frozen=True)
class LabeledSample:
    session_id: str
    ts: datetime
    slice: dict[str, str]
    utterance: Utterance
    # The entity terms of the sample's tenant (its domain terms and any launched product names):
    # the collector scores entity recall on them.
    entities: tuple[str, ...] = ()
    # Multi-speaker calls: the speaker turns and the diarizer's (the collector scores DER).
    diarization: Diarization | None = None

    def to_api(self) -> dict:
        record = {
            "session_id": self.session_id,
            "reference": self.utterance.reference,
            "hypothesis": self.utterance.hypothesis,
            "source": "human",
        }
        if self.entities:
            record["entities"] = list(self.entities)
        if self.diarization is not None:
            record["reference_segments"] = self.diarization.reference
            record["hypothesis_segments"] = self.diarization.hypothesis
        return record


@dataclass(frozen=True)
class TracedSession:
    """A session sent as an OTLP trace: its record plus the stage durations of its spans."""

    record: dict
    stage_ms: dict[str, float]


@dataclass
class MinuteBatch:
    minute: datetime
    sessions: list[dict] = field(default_factory=list)
    traced: list[TracedSession] = field(default_factory=list)
    samples: list[LabeledSample] = field(default_factory=list)
    canary_weight: float = 0.0

    @property
    def session_count(self) -> int:
        return len(self.sessions) + len(self.traced)

    def all_records(self) -> list[dict]:
        return self.sessions + [t.record for t in self.traced]


def diurnal_factor(at: datetime) -> float:
    hour = at.hour + at.minute / 60.0
    return 1.0 + DIURNAL_AMPLITUDE * math.sin(2 * math.pi * (hour - 9.0) / 24.0)


def _count(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _check_time(name: str, at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"{name}: must be timezone-aware (UTC)")
    return at.astimezone(timezone.utc)


def generate(
    scenarios: ScenarioSet,
    start: datetime,
    hours: float,
    rate: float,
    seed: int,
    *,
    fleet: FleetConfig | None = None,
    otlp_fraction: float = 0.0,
    router: Callable[[datetime], RouterState | None] | None = None,
    hypotheses: bool = False,
) -> Iterator[MinuteBatch]:
    """Yield one batch per event-time minute from `start` for `hours`.

    `router(minute)` is consulted before each minute; a weight it gives for the canary
    version overrides the scenarios' schedule (0.0 after a rollback). Session records carry
    their transcript when labeled or empty; `hypotheses=True` adds it to every record
    (slower: text is then written for every session).
    """
    fleet = fleet or FleetConfig()
    start = _check_time("start", start).replace(second=0, microsecond=0)
    if hours <= 0:
        raise ValueError(f"hours: must be > 0, got {hours}")
    if rate < 0:
        raise ValueError(f"rate: must be >= 0 sessions per minute, got {rate}")
    if not 0.0 <= otlp_fraction <= 1.0:
        raise ValueError(f"otlp_fraction: must be within 0..1, got {otlp_fraction}")
    names = ",".join(sorted(f"{a.scenario.name}@{a.onset.isoformat()}" for a in scenarios.active))
    minutes = max(1, round(hours * 60))
    for index in range(minutes):
        minute = start + timedelta(minutes=index)
        state = router(minute) if router else None
        canary_weight = scenarios.canary_weight(minute)
        override = state.weight_for(fleet.canary_version) if state else None
        if override is not None:
            canary_weight = override
        rng = random.Random(f"{seed}|{names}|{int(minute.timestamp())}")
        batch = MinuteBatch(minute=minute, canary_weight=canary_weight)
        for _ in range(_count(rng, rate * diurnal_factor(minute))):
            ts = minute + timedelta(milliseconds=rng.randrange(60_000))
            version = fleet.canary_version if rng.random() < canary_weight else fleet.stable_version
            draft = draw_draft(rng, ts, version)
            scenarios.apply(draft, fleet)
            _emit(rng, draft, fleet, otlp_fraction, hypotheses, batch)
        yield batch


def _emit(
    rng: random.Random,
    draft: Draft,
    fleet: FleetConfig,
    otlp_fraction: float,
    hypotheses: bool,
    batch: MinuteBatch,
) -> None:
    outcome = realize(rng, draft)
    trace_id = f"{rng.getrandbits(128):032x}"
    session_id = f"sim-{trace_id}"
    labeled = outcome.status in LABELABLE_STATUSES and rng.random() < fleet.label_fraction
    # Text has its own RNG so that writing transcripts or not leaves every other draw alone.
    text_seed = rng.getrandbits(64)
    utterance = _utterance(random.Random(text_seed), draft, outcome) if (labeled or hypotheses) else None
    if draft.hallucination_p and outcome.status in LABELABLE_STATUSES and not outcome.empty_hypothesis:
        # Its own RNG too (from the text seed): the other scenarios' draws stay as they were.
        made_up = hallucinate(random.Random(text_seed ^ _HALLUCINATION_SALT), draft.hallucination_p)
        if made_up is not None:  # the audio held no speech: an empty reference, every word inserted
            draft.attributes = {**draft.attributes, "no_speech_prob": made_up.no_speech_prob}
            if utterance is not None:
                utterance = Utterance("", made_up.text, 0, 0, made_up.words, 0)
    # Dropped and timed-out sessions produced no transcript; an empty one is always reported
    # (it is what the empty-transcript rate counts), others only when asked or labeled.
    transcript = None
    if outcome.empty_hypothesis:
        transcript = ""
    elif utterance is not None and outcome.status in LABELABLE_STATUSES and (hypotheses or labeled):
        transcript = utterance.hypothesis
    record = _record(session_id, trace_id, draft, outcome, transcript)
    _serve(random.Random(text_seed ^ _BACKEND_SALT), draft, record)  # its own RNG: the other draws stay
    # A trace's root span stands for the final latency, so only sessions that have one are traced.
    if rng.random() < otlp_fraction and "final_latency_ms" in record:
        batch.traced.append(TracedSession(record, outcome.stage_ms))
    else:
        batch.sessions.append(record)
    if labeled and utterance is not None:
        turns = diarize(random.Random(text_seed ^ _DIARIZATION_SALT), draft.audio_seconds, draft.diarization_swap_p) \
            if draft.channel in MULTI_SPEAKER_CHANNELS else None  # its own RNG: the other draws stay as they were
        batch.samples.append(LabeledSample(session_id, draft.ts, draft.slice(), utterance, entity_terms(draft), turns))
    if rng.random() < draft.shadow_p:
        # Mirrored traffic: same audio, spends GPU, never a user-facing turn, never labeled.
        shadow_outcome = realize(rng, draft)
        shadow_trace = f"{rng.getrandbits(128):032x}"
        shadow = _record(f"sim-{shadow_trace}", shadow_trace, draft, shadow_outcome, None)
        _serve(random.Random(text_seed ^ _SHADOW_BACKEND_SALT), draft, shadow)  # mirrored to a node too
        shadow["shadow"] = True
        shadow["turn_success"] = None
        batch.sessions.append(shadow)


def _serve(rng: random.Random, draft: Draft, record: dict) -> None:
    """Which path answered the session: the transcript cache (where the channel has one: no
    recognizer ran, so no backend, no GPU time and no node), else the self-hosted recognizer (on a
    node, with its concurrent streams and GPU utilisation) or, with `fallback_p`, the paid API,
    which spends none of our GPU time. The fallback share is so a share of recognizer traffic."""
    hit = draft.cache_hit_p is not None and rng.random() < draft.cache_hit_p
    if draft.cache_hit_p is not None:
        record["cache_hit"] = hit
    if hit:
        record["gpu_seconds"] = 0.0
        return
    api = rng.random() < draft.fallback_p
    record["backend"] = "api" if api else "self_hosted"
    if api:
        record["gpu_seconds"] = 0.0
        return
    record["node"] = f"{draft.pool}-{rng.randrange(NODES_PER_POOL.get(draft.pool, 1))}"
    streams = max(0, round(rng.gauss(draft.streams_mean, draft.streams_mean ** 0.5)))
    record["concurrent_streams"] = streams
    record["gpu_utilization"] = round(min(1.0, max(0.0, 0.1 + 0.035 * streams + rng.gauss(0, 0.03))), 3)


def entity_terms(draft: Draft) -> tuple[str, ...]:
    """The terms a draft's references draw besides the general vocabulary: its tenant's domain
    terms (English only, as `_utterance` draws them) and launched product names."""
    terms = DOMAIN_TERMS.get(draft.tenant, ()) if draft.language.startswith("en") else ()
    return (*terms, *draft.new_terms)


def _utterance(rng: random.Random, draft: Draft, outcome: Outcome) -> Utterance:
    vocabulary = vocabulary_for(draft.language)
    terms = DOMAIN_TERMS.get(draft.tenant, ()) if draft.language.startswith("en") else ()
    words = make_reference(rng, outcome.ref_words, vocabulary, terms, DOMAIN_TERM_RATE)
    if outcome.empty_hypothesis:
        return Utterance(" ".join(words), "", 0, len(words), 0, len(words))
    forced: dict[int, str] = {}
    if draft.new_terms and draft.new_term_rate > 0:
        names = list(draft.new_terms)
        for i in range(len(words)):
            if rng.random() < draft.new_term_rate:
                words[i] = rng.choice(names)
                if rng.random() < draft.new_term_miss:
                    forced[i] = draft.new_terms[words[i]]
        # A lookalike must not be a word of this reference (keeps the count exact).
        forced = {i: w for i, w in forced.items() if w not in words}
    return corrupt(rng, words, outcome.substitutions, outcome.deletions, outcome.insertions, vocabulary, forced)


def _record(session_id: str, trace_id: str, draft: Draft, outcome: Outcome, hypothesis: str | None) -> dict:
    record = {
        "session_id": session_id,
        "ts": draft.ts.isoformat(timespec="milliseconds"),
        **draft.slice(),
        "audio_seconds": draft.audio_seconds,
        "queue_ms": outcome.queue_ms,
        "partial_rewrites": outcome.partial_rewrites,
        "status": outcome.status,
        "snr_db": draft.snr_db,
        "gpu_seconds": outcome.gpu_seconds,
        "retries": outcome.retries,
        "shadow": False,
        "trace_id": trace_id,
    }
    for key in ("first_partial_ms", "final_latency_ms", "confidence", "turn_success"):
        value = getattr(outcome, key)
        if value is not None:
            record[key] = value
    if hypothesis is not None:
        record["hypothesis"] = hypothesis
    if draft.attributes:
        record["attributes"] = dict(draft.attributes)
    return record
