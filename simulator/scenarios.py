"""Named incident timelines, each with its ground truth (what changed, where, from when).

A scenario is off before its onset and on from it (until an optional end). Its onset is a
parameter: an offset from the run's start ("90m", "2h", "45s") or a fraction of the run
("0.5"); `name@onset` on the command line. `truth(...)` states what a detector should find:
the affected slice (`where`, empty = the whole fleet), the expected effect sizes
(`expected`) and which signals must fire (`should_fire`, empty = nothing may fire).

Sizes are chosen so that an incident that should page burns a 99% / 99.5% budget at more
than 14.4x (the SRE Workbook's fast-burn page), and a benign change stays within noise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from simulator.diarization import BASELINE_SWAP_P
from simulator.fleet import BASELINE_FALLBACK_P, CACHE_HIT_RATE, CHANNELS, SNR_SLOPE_PER_DB, TENANTS, Draft, FleetConfig
from simulator.transcripts import NEW_PRODUCT_TERMS

CANARY_WEIGHT = 0.25


def _mean_words(channel: str) -> float:
    p = CHANNELS[channel]
    return p.audio_median_s * math.exp(p.audio_sigma**2 / 2)


def channel_error_shares() -> tuple[dict[str, float], dict[str, float]]:
    """(share of reference words, share of word errors) per channel, from the fleet model."""
    sessions = {c: 0.0 for c in CHANNELS}
    for share, mix in TENANTS.values():
        for channel, w in mix.items():
            sessions[channel] += share * w
    words = {c: sessions[c] * _mean_words(c) for c in CHANNELS}
    errors = {
        c: words[c] * CHANNELS[c].base_wer * math.exp((SNR_SLOPE_PER_DB * CHANNELS[c].snr_sd_db) ** 2 / 2)
        for c in CHANNELS
    }
    total_w, total_e = sum(words.values()), sum(errors.values())
    return {c: v / total_w for c, v in words.items()}, {c: v / total_e for c, v in errors.items()}


def _solve_other_channels_factor(target_avg: float, channel: str, factor: float) -> float:
    """Factor for every other channel so that the corpus WER changes by `target_avg`."""
    _, err = channel_error_shares()
    return (1 + target_avg - err[channel] * (1 + factor)) / (1 - err[channel]) - 1


@dataclass(frozen=True)
class ScenarioTruth:
    scenario: str
    what: str
    where: dict[str, str]
    onset: datetime
    until: datetime | None
    expected: dict[str, float]
    should_fire: tuple[str, ...]

    def as_dict(self) -> dict:
        return {
            "scenario": self.scenario,
            "what": self.what,
            "where": self.where,
            "onset": self.onset.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "expected": self.expected,
            "should_fire": list(self.should_fire),
        }


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    should_fire: tuple[str, ...]
    # scope(fleet): the sessions the edit touches; where(fleet): the slice a detector should
    # point at (defaults to the scope; narrower for the far-field canary).
    scope: Callable[[FleetConfig], dict[str, str]]
    expected: dict[str, float]
    edit: Callable[[Draft, float, FleetConfig], None] = lambda draft, since_s, fleet: None
    canary_weight: float = 0.0
    default_onset: str = "0.5"
    where: Callable[[FleetConfig], dict[str, str]] | None = None

    def applies(self, draft: Draft, fleet: FleetConfig) -> bool:
        return all(getattr(draft, key) == value for key, value in self.scope(fleet).items())

    def where_of(self, fleet: FleetConfig) -> dict[str, str]:
        return (self.where or self.scope)(fleet)


def _ramp(since_s: float, over_s: float) -> float:
    return min(1.0, max(0.0, since_s / over_s))


# --- the scenarios ----------------------------------------------------------------------

_FAR_FIELD_REGRESSION = 0.08
_CANARY_AVG_GAIN = -0.04
_CANARY_OTHER_FACTOR = _solve_other_channels_factor(_CANARY_AVG_GAIN, "far_field", _FAR_FIELD_REGRESSION)


def _canary_far_field(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    draft.wer_factor *= 1 + (_FAR_FIELD_REGRESSION if draft.channel == "far_field" else _CANARY_OTHER_FACTOR)


def _canary_far_field_endpointing(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    _canary_far_field(draft, since_s, fleet)
    if draft.channel == "far_field":
        # The canary's new endpointer gives up on reverberant audio: far-field sessions fail.
        draft.decode_error_p = 0.20


def _benign_canary(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    draft.wer_factor *= 0.95
    draft.decode_ms_factor *= 0.98


def _regional(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    draft.wer_factor *= 1.6


def _cost_spike(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    draft.shadow_p = 0.6
    draft.retry_p = 0.35
    draft.max_retries = 2
    draft.decode_ms_factor *= 0.92  # hedged retries trim the tail a little


def _saturation(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    level = _ramp(since_s, 15 * 60)
    draft.queue_median_ms = draft.queue_median_ms + level * (1200.0 - draft.queue_median_ms)
    draft.queue_sigma = 0.8 + 0.2 * level
    # The load behind the queue: the nodes carry four times the streams, their GPUs near full.
    draft.streams_mean = draft.streams_mean + level * (_SATURATED_STREAMS - draft.streams_mean)


_SATURATED_STREAMS = 24.0


def _decode_failures(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    draft.decode_error_p = 0.08
    draft.empty_hypothesis_p = 0.04


def _client_audio(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    draft.snr_db = round(draft.snr_db - 9.0, 2)
    draft.attributes["client_version"] = "mobile-sdk-7.4.0"  # the clue a slice analysis can find


def _new_products(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    draft.new_terms = NEW_PRODUCT_TERMS
    draft.new_term_rate = 0.06


_CANARY_NAME_MISS, _STABLE_NAME_MISS = 0.85, 0.05
_CANARY_NAMES_WER_FACTOR = 0.9


def _canary_misses_product_names(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    # retail-co launched products whose names the stable model was taught (a biasing list) and
    # the canary was not; elsewhere the canary is better.
    canary = draft.model_version == fleet.canary_version
    if draft.tenant == "retail-co":
        draft.new_terms = NEW_PRODUCT_TERMS
        draft.new_term_rate = 0.06
        draft.new_term_miss = _CANARY_NAME_MISS if canary else _STABLE_NAME_MISS
    elif canary:
        draft.wer_factor *= _CANARY_NAMES_WER_FACTOR


_HALLUCINATION_SHARE = 0.3


def _hallucination_burst(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    draft.hallucination_p = _HALLUCINATION_SHARE


_DIARIZATION_SWAP_P = 0.3


def _diarization_regression(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    draft.diarization_swap_p = _DIARIZATION_SWAP_P


_COLD_CACHE_HIT_RATE = 0.05


def _cache_cold(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    if draft.cache_hit_p is not None:
        draft.cache_hit_p = _COLD_CACHE_HIT_RATE


_BREAKER_OPEN_FALLBACK_P = 0.6


def _circuit_breaker_open(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    draft.fallback_p = _BREAKER_OPEN_FALLBACK_P


def _partial_churn(draft: Draft, since_s: float, fleet: FleetConfig) -> None:
    draft.rewrite_factor *= 3.5
    draft.first_partial_factor *= 0.85


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="steady",
            summary="No incident: the fleet's normal day (baseline and load generation).",
            should_fire=(),
            scope=lambda fleet: {},
            expected={},
        ),
        Scenario(
            name="canary-far-field-regression",
            summary=(
                f"A canary takes {CANARY_WEIGHT:.0%} of traffic; it improves corpus WER "
                f"{-_CANARY_AVG_GAIN:.0%} relative but regresses far_field {_FAR_FIELD_REGRESSION:.0%} relative: "
                "the rollout judge must roll it back."
            ),
            should_fire=("rollback",),
            scope=lambda fleet: {"model_version": fleet.canary_version},
            where=lambda fleet: {"model_version": fleet.canary_version, "channel": "far_field"},
            expected={
                "canary_weight": CANARY_WEIGHT,
                "canary_wer_relative_change": _CANARY_AVG_GAIN,
                "far_field_wer_relative_change": _FAR_FIELD_REGRESSION,
                "other_channels_wer_relative_change": round(_CANARY_OTHER_FACTOR, 4),
            },
            edit=_canary_far_field,
            canary_weight=CANARY_WEIGHT,
            default_onset="0.25",
        ),
        Scenario(
            name="canary-far-field-endpointing",
            summary=(
                f"The far-field canary regression ({CANARY_WEIGHT:.0%} of traffic, WER "
                f"{-_CANARY_AVG_GAIN:.0%} better on average, far_field {_FAR_FIELD_REGRESSION:.0%} worse) "
                "whose new endpointer also fails 20% of far_field sessions with decode_error: its "
                "availability budget pages, and the judge must roll it back (the demo's closed loop)."
            ),
            should_fire=("page", "rollback"),
            scope=lambda fleet: {"model_version": fleet.canary_version},
            where=lambda fleet: {"model_version": fleet.canary_version, "channel": "far_field"},
            expected={
                "canary_weight": CANARY_WEIGHT,
                "far_field_wer_relative_change": _FAR_FIELD_REGRESSION,
                "far_field_decode_error_rate": 0.20,
            },
            edit=_canary_far_field_endpointing,
            canary_weight=CANARY_WEIGHT,
            default_onset="0.25",
        ),
        Scenario(
            name="regional-regression",
            summary="A bad language-model push in the small sa-east region (5% of traffic) raises its WER 60%; global WER barely moves.",
            should_fire=("quality-alert", "slice-finding"),
            scope=lambda fleet: {"region": "sa-east"},
            expected={"wer_relative_change": 0.6, "traffic_share": 0.05},
            edit=_regional,
        ),
        Scenario(
            name="gpu-cost-spike",
            summary="Shadow traffic (60% of sessions mirrored) and retries double GPU spend; quality flat, latency slightly better.",
            should_fire=("cost-anomaly",),
            scope=lambda fleet: {},
            expected={
                "gpu_seconds_ratio": (1 + 0.6 + 0.35 * 1.5) / (1 + 0.02),
                "cost_per_successful_turn_ratio": (1 + 0.6 + 0.35 * 1.5) / (1 + 0.02),
                "wer_relative_change": 0.0,
                "decode_latency_factor": 0.92,
            },
            edit=_cost_spike,
        ),
        Scenario(
            name="latency-saturation",
            summary="The us-east pool saturates: queueing ramps to a 1.2 s median over 15 min, p99 climbs, sessions time out at 10 s.",
            should_fire=("page",),
            scope=lambda fleet: {"region": "us-east"},
            expected={"queue_median_ms": 1200.0, "fraction_over_2000ms": 0.42, "timeout_fraction": 0.02},
            edit=_saturation,
        ),
        Scenario(
            name="decode-failures",
            summary="A decoder change fleet-wide: 8% of sessions fail with decode_error and 4% return empty transcripts.",
            should_fire=("page",),
            scope=lambda fleet: {},
            expected={"decode_error_fraction": 0.08, "empty_hypothesis_fraction": 0.04},
            edit=_decode_failures,
        ),
        Scenario(
            name="client-audio-degradation",
            summary="A mobile client update drops SNR by 9 dB on the mobile channel; its WER rises ~57%.",
            should_fire=("drift", "quality-alert"),
            scope=lambda fleet: {"channel": "mobile"},
            expected={"snr_shift_db": -9.0, "wer_relative_change": round(math.exp(9 * SNR_SLOPE_PER_DB) - 1, 4)},
            edit=_client_audio,
        ),
        Scenario(
            name="new-product-names",
            summary="retail-co launches products (zorvex, quintara...): 6% of its words are new names, 85% misrecognized.",
            should_fire=("drift",),
            scope=lambda fleet: {"tenant": "retail-co"},
            expected={"new_term_word_rate": 0.06, "misrecognition_rate": 0.85, "wer_absolute_change": 0.051},
            edit=_new_products,
        ),
        Scenario(
            name="canary-misses-product-names",
            summary=(
                f"retail-co launches products (zorvex, quintara...: 6% of its words); a canary ({CANARY_WEIGHT:.0%} "
                f"of traffic) with WER -10% on every other tenant never learned the names: it mishears "
                f"{_CANARY_NAME_MISS:.0%} of them, the stable model {_STABLE_NAME_MISS:.0%}. Entity recall "
                "drops for retail-co on the canary: the judge rolls it back if retail-co is protected."
            ),
            should_fire=("entity-recall", "rollout-veto"),
            scope=lambda fleet: {},
            where=lambda fleet: {"model_version": fleet.canary_version, "tenant": "retail-co"},
            expected={"canary_weight": CANARY_WEIGHT, "new_term_word_rate": 0.06,
                      "canary_name_miss_rate": _CANARY_NAME_MISS, "stable_name_miss_rate": _STABLE_NAME_MISS,
                      "other_tenants_wer_relative_change": _CANARY_NAMES_WER_FACTOR - 1},
            edit=_canary_misses_product_names,
            canary_weight=CANARY_WEIGHT,
        ),
        Scenario(
            name="partial-churn",
            summary="An endpointing change makes partials eager: partial rewrites x3.5, first partial 15% sooner, final WER unchanged.",
            should_fire=("partial-churn",),
            scope=lambda fleet: {},
            expected={"partial_rewrites_factor": 3.5, "first_partial_factor": 0.85, "wer_relative_change": 0.0},
            edit=_partial_churn,
        ),
        Scenario(
            name="hallucination-burst",
            summary=(
                f"A wake-word update on far_field devices triggers on TV noise and silence: {_HALLUCINATION_SHARE:.0%} "
                "of far_field sessions hold no speech, and the model writes text on them (stock phrases on "
                "silence, looped phrases on noise): label-free hallucination flags and the labeled insertion rate rise."
            ),
            should_fire=("hallucination",),
            scope=lambda fleet: {"channel": "far_field"},
            # Every hallucinated session is flagged (`simulator.hallucinations`): half as text on
            # non-speech audio (no_speech_prob >= 0.6), half as an n-gram loop.
            expected={"hallucinated_share": _HALLUCINATION_SHARE, "silent_share_of_hallucinated": 0.5},
            edit=_hallucination_burst,
        ),
        Scenario(
            name="diarization-regression",
            summary=(
                f"A diarization model push for telephony (agent/caller calls, some with a transferred third "
                f"party) gives {_DIARIZATION_SWAP_P:.0%} of speaker turns to the wrong speaker (was "
                f"{BASELINE_SWAP_P:.0%}): speaker confusion, and so DER, rises on telephony only."
            ),
            should_fire=("diarization",),
            scope=lambda fleet: {"channel": "telephony"},
            expected={"speaker_swap_share": _DIARIZATION_SWAP_P, "baseline_speaker_swap_share": BASELINE_SWAP_P},
            edit=_diarization_regression,
        ),
        Scenario(
            name="cache-cold",
            summary=(
                f"The transcript cache in front of telephony (IVR prompts repeat) is restarted with a new key: its "
                f"hit rate falls from {CACHE_HIT_RATE['telephony']:.0%} to {_COLD_CACHE_HIT_RATE:.0%}, so more audio "
                "reaches the recognizer (GPU time and cost rise); nothing fails (a ticket, not a page)."
            ),
            should_fire=("cache_hit",),
            scope=lambda fleet: {"channel": "telephony"},
            expected={"cache_hit_rate_before": CACHE_HIT_RATE["telephony"], "cache_hit_rate": _COLD_CACHE_HIT_RATE},
            edit=_cache_cold,
        ),
        Scenario(
            name="circuit-breaker-open",
            summary=(
                f"The self-hosted recognizer in eu-west fails and the circuit breaker opens: "
                f"{_BREAKER_OPEN_FALLBACK_P:.0%} of eu-west sessions (was {BASELINE_FALLBACK_P:.1%}) are served by "
                "the paid API, which spends no GPU time but is billed per audio minute (a page)."
            ),
            should_fire=("fallback",),
            scope=lambda fleet: {"region": "eu-west"},
            expected={"fallback_share": _BREAKER_OPEN_FALLBACK_P, "fallback_share_before": BASELINE_FALLBACK_P},
            edit=_circuit_breaker_open,
        ),
        Scenario(
            name="benign-canary",
            summary=f"A genuinely better canary ({CANARY_WEIGHT:.0%} of traffic, WER -5% in every slice, latency -2%): nothing may fire.",
            should_fire=(),
            scope=lambda fleet: {"model_version": fleet.canary_version},
            expected={"canary_weight": CANARY_WEIGHT, "canary_wer_relative_change": -0.05},
            edit=_benign_canary,
            canary_weight=CANARY_WEIGHT,
        ),
    )
}


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)\s*$")


def parse_offset(text: str, hours: float) -> timedelta:
    """'90m' / '2h' / '30s' -> that offset; a bare number in 0..1 is a fraction of the run."""
    match = _DURATION.match(text)
    if match:
        value, unit = float(match.group(1)), match.group(2)
        return timedelta(seconds=value * {"s": 1, "m": 60, "h": 3600}[unit])
    try:
        fraction = float(text)
    except ValueError:
        raise ValueError(f"onset: {text!r} is neither a duration like 90m/2h nor a fraction 0..1") from None
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"onset: fraction {text!r} must be within 0..1 (or give a duration like 90m)")
    return timedelta(hours=hours * fraction)


@dataclass(frozen=True)
class ActiveScenario:
    scenario: Scenario
    onset: datetime
    until: datetime | None = None

    def is_on(self, at: datetime) -> bool:
        return at >= self.onset and (self.until is None or at < self.until)

    def truth(self, fleet: FleetConfig) -> ScenarioTruth:
        s = self.scenario
        return ScenarioTruth(s.name, s.summary, s.where_of(fleet), self.onset, self.until, dict(s.expected), s.should_fire)


def activate(spec: str, start: datetime, hours: float) -> ActiveScenario:
    """`name`, `name@onset` or `name@onset-end` (e.g. `decode-failures@2h-3h`)."""
    name, _, when = spec.strip().partition("@")
    if name not in SCENARIOS:
        raise ValueError(f"scenario: unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    scenario = SCENARIOS[name]
    onset_text, _, until_text = (when or scenario.default_onset).partition("-")
    onset = start + parse_offset(onset_text, hours)
    until = start + parse_offset(until_text, hours) if until_text else None
    if until is not None and until <= onset:
        raise ValueError(f"scenario {name}: the end {until_text!r} must come after the onset {onset_text!r}")
    return ActiveScenario(scenario, onset, until)


@dataclass
class ScenarioSet:
    """Several scenarios on one timeline (a day with several incidents)."""

    active: list[ActiveScenario] = field(default_factory=list)

    def canary_weight(self, at: datetime) -> float:
        weights = [a.scenario.canary_weight for a in self.active if a.scenario.canary_weight and a.is_on(at)]
        return max(weights, default=0.0)

    def apply(self, draft: Draft, fleet: FleetConfig) -> None:
        for a in self.active:
            if a.is_on(draft.ts) and a.scenario.applies(draft, fleet):
                a.scenario.edit(draft, (draft.ts - a.onset).total_seconds(), fleet)

    def truths(self, fleet: FleetConfig) -> list[ScenarioTruth]:
        return [a.truth(fleet) for a in self.active]
