"""The rollout judge: canary vs baseline, per slice, to `continue | pause | rollback`.

How false rollbacks are controlled (the far-field launch gate is a multiple-comparison
problem: many slices x metrics, each a chance of a fluke):
- every test is one-sided ("canary worse"), so improvements never count as evidence;
- the *protected* family (the pooled fleet, each protected selector pooled, and each slice
  matching a protected selector) is tested with Holm-Bonferroni at `alpha` across all its
  slices and metrics, and a rejection also needs a minimum effect (`wer_min_relative`...),
  so a tiny but significant change on a huge slice does not roll back;
- unprotected slices form a second Holm family; a regression there pauses (a human looks)
  and never rolls back on its own, except for entity recall, a protected metric: its
  significant drop rolls back in any slice (`_PROTECTED_IN_EVERY_SLICE`).
Hard vetoes need no statistics: any privacy error on the canary, or a burn-rate page firing
on the canary's group. Too little data is `pause` with the counts, never `continue`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from collector.measures import entity_recall, finite_or_null
from collector.measures import wer as wer_math
from slo.rollout import stats

Decision = Literal["continue", "pause", "rollback"]
_RANK = {"continue": 0, "pause": 1, "rollback": 2}


@dataclass(frozen=True)
class ArmStats:
    """One model version within one slice over the judged window."""

    # Labeled utterances as (errors, reference units) pairs: WER's for languages written with
    # spaces, CER's for those without (`wer.SPACELESS_LANGUAGES`: their WER counts a sentence as
    # one word), each tested on its own.
    wer_pairs: Mapping[tuple[int, int], int] = field(default_factory=dict)
    cer_pairs: Mapping[tuple[int, int], int] = field(default_factory=dict)
    # Diarized sessions as (error_ms, speech_ms) pairs: DER is the same ratio of sums as WER.
    diar_pairs: Mapping[tuple[int, int], int] = field(default_factory=dict)
    entity_occurrences: int = 0  # in the references of labeled utterances
    entities_found: int = 0  # of those, in the hypotheses
    hallucination_checked: int = 0  # sessions with a hypothesis checked at ingest (label-free)
    hallucination_flagged: int = 0  # of those, flagged as hallucinated
    latency_ms: Sequence[float] = ()
    sessions: int = 0
    failures: int = 0  # decode_error + dropped + timeout (availability SLI's bad events)
    decode_errors: int = 0
    privacy_errors: int = 0
    successful_turns: int = 0
    cost_usd: float = 0.0
    # Under sampled storage: the arm's sessions stored (rows read for latency and privacy errors)
    # beside `sessions`, counted by the rollups; None when every session is stored.
    stored: int | None = None

    @property
    def utterances(self) -> int:
        return stats.utterances(self.wer_pairs) + stats.utterances(self.cer_pairs)

    @property
    def entities_missed(self) -> int:
        return self.entity_occurrences - self.entities_found


def merge_arms(arms: Sequence[ArmStats]) -> ArmStats:
    latency: list[float] = []
    for arm in arms:
        latency.extend(arm.latency_ms)
    return ArmStats(
        wer_pairs=wer_math.merge_pairs(a.wer_pairs for a in arms),
        cer_pairs=wer_math.merge_pairs(a.cer_pairs for a in arms),
        diar_pairs=wer_math.merge_pairs(a.diar_pairs for a in arms),
        entity_occurrences=sum(a.entity_occurrences for a in arms),
        entities_found=sum(a.entities_found for a in arms),
        hallucination_checked=sum(a.hallucination_checked for a in arms),
        hallucination_flagged=sum(a.hallucination_flagged for a in arms),
        latency_ms=latency,
        sessions=sum(a.sessions for a in arms),
        failures=sum(a.failures for a in arms),
        decode_errors=sum(a.decode_errors for a in arms),
        privacy_errors=sum(a.privacy_errors for a in arms),
        successful_turns=sum(a.successful_turns for a in arms),
        cost_usd=sum(a.cost_usd for a in arms),
        stored=None if all(a.stored is None for a in arms) else sum(a.stored or 0 for a in arms),
    )


@dataclass(frozen=True)
class SliceData:
    key: Mapping[str, str]  # e.g. {"channel": "far_field", "region": "eu"}
    canary: ArmStats
    baseline: ArmStats
    sample_rate: float | None = None  # the stored share when the store samples sessions, else None


@dataclass(frozen=True)
class Thresholds:
    alpha: float = 0.05
    min_utterances: int = 200  # pooled, per arm; also per protected selector
    min_sessions: int = 200  # pooled, per arm, for latency / availability
    wer_min_relative: float = 0.03
    latency_min_relative: float = 0.10
    availability_min_abs: float = 0.005
    decode_errors_min_abs: float = 0.005
    cer_min_relative: float = 0.03
    der_min_relative: float = 0.10  # DER +10% relative (e.g. 0.08 -> 0.088)
    entity_recall_min_abs: float = 0.02  # a drop of 2 points of entity recall
    hallucination_min_abs: float = 0.01  # one more session in a hundred flagged as hallucinated
    cost_max_relative: float = 0.25
    bootstrap_iterations: int = 1000  # p-value floor 1/1001: fine for Holm over up to ~50 tests
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"thresholds.alpha: must be in (0, 1), got {self.alpha}")
        if self.min_utterances < 1:
            raise ValueError(f"thresholds.min_utterances: must be >= 1, got {self.min_utterances}")
        if self.bootstrap_iterations < 100:
            raise ValueError("thresholds.bootstrap_iterations: must be >= 100")
        for name in ("entity_recall_min_abs", "hallucination_min_abs"):  # differences of two shares
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"thresholds.{name}: must be in [0, 1), got {getattr(self, name)}")
        for name in ("cer_min_relative", "der_min_relative"):  # relative increases
            if not 0 <= getattr(self, name) < math.inf:
                raise ValueError(f"thresholds.{name}: must be a finite number >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reasons: list[str]
    metrics: dict[str, Any]
    at: datetime
    # Judged on a sample: {"sample_rate", "canary": {"stored", "counted"}, "baseline": {...}}
    # (`sample_sizes`); None when every session is stored.
    sample: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": list(self.reasons), "metrics": finite_or_null(self.metrics),
                "at": self.at.isoformat(), "sample": self.sample}


def sample_sizes(slices: Sequence[SliceData], canary: ArmStats, baseline: ArmStats) -> dict[str, Any] | None:
    """Pure: the verdict's `sample` over the pooled arms, or None when the slices were not sampled."""
    rate = next((s.sample_rate for s in slices if s.sample_rate is not None), None)
    if rate is None:
        return None
    return {"sample_rate": rate,
            "canary": {"stored": canary.stored or 0, "counted": canary.sessions},
            "baseline": {"stored": baseline.stored or 0, "counted": baseline.sessions}}


def slice_name(key: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in key.items()) or "all"


def matches(key: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(key.get(k) == v for k, v in selector.items())


# Metrics whose significant drop rolls back in any slice, protected or not: the issue (#20) makes
# entity recall "a protected metric (a significant drop in any slice vetoes an average WER gain)".
_PROTECTED_IN_EVERY_SLICE = frozenset({"entity_recall"})
_METRICS = ("wer", "cer", "entity_recall", "latency_p95", "availability", "decode_errors", "hallucination", "der")


def _tests(canary: ArmStats, baseline: ArmStats, th: Thresholds, seed: int) -> dict[str, stats.TestResult | None]:
    return {
        "wer": stats.wer_relative_delta(canary.wer_pairs, baseline.wer_pairs, iterations=th.bootstrap_iterations,
                                        confidence=th.confidence, seed=seed),
        "cer": stats.wer_relative_delta(canary.cer_pairs, baseline.cer_pairs, iterations=th.bootstrap_iterations,
                                        confidence=th.confidence, seed=seed),
        # DER over diarized sessions: the WER bootstrap over (error_ms, speech_ms) pairs.
        "der": stats.wer_relative_delta(canary.diar_pairs, baseline.diar_pairs, iterations=th.bootstrap_iterations,
                                        confidence=th.confidence, seed=seed),
        # Entity recall's drop is the rise of the missed share of entity occurrences.
        "entity_recall": stats.proportion_increase(canary.entities_missed, canary.entity_occurrences,
                                                   baseline.entities_missed, baseline.entity_occurrences),
        "latency_p95": stats.latency_shift(canary.latency_ms, baseline.latency_ms),
        "availability": stats.proportion_increase(canary.failures, canary.sessions,
                                                  baseline.failures, baseline.sessions),
        "decode_errors": stats.proportion_increase(canary.decode_errors, canary.sessions,
                                                   baseline.decode_errors, baseline.sessions),
        # Label-free: the share of sessions checked that were flagged (`collector.measures.hallucination`).
        "hallucination": stats.proportion_increase(canary.hallucination_flagged, canary.hallucination_checked,
                                                   baseline.hallucination_flagged, baseline.hallucination_checked),
    }


def _min_effect(metric: str, th: Thresholds) -> float:
    return {
        "wer": th.wer_min_relative,
        "cer": th.cer_min_relative,
        "der": th.der_min_relative,
        "entity_recall": th.entity_recall_min_abs,
        "latency_p95": th.latency_min_relative,
        "availability": th.availability_min_abs,
        "decode_errors": th.decode_errors_min_abs,
        "hallucination": th.hallucination_min_abs,
    }[metric]


def _enough(metric: str, canary: ArmStats, baseline: ArmStats, th: Thresholds) -> bool:
    # Below these counts a test is not run at all: its p-value would be noise in the family.
    if metric in ("wer", "cer", "der"):
        pairs = {"wer": "wer_pairs", "cer": "cer_pairs", "der": "diar_pairs"}[metric]
        return min(stats.utterances(getattr(canary, pairs)), stats.utterances(getattr(baseline, pairs))) \
            >= max(30, th.min_utterances // 4)
    if metric == "entity_recall":
        return min(canary.entity_occurrences, baseline.entity_occurrences) >= max(30, th.min_utterances // 4)
    if metric == "latency_p95":
        return min(len(canary.latency_ms), len(baseline.latency_ms)) >= max(30, th.min_sessions // 4)
    if metric == "hallucination":
        # With no session flagged in either arm the test cannot reject: it is left out of the family.
        return canary.hallucination_flagged + baseline.hallucination_flagged > 0 and \
            min(canary.hallucination_checked, baseline.hallucination_checked) >= max(30, th.min_sessions // 4)
    return min(canary.sessions, baseline.sessions) >= max(30, th.min_sessions // 4)


def _describe(metric: str, where: str, r: stats.TestResult, p_adj_note: str) -> str:
    if metric in ("wer", "cer", "der"):
        return (f"{metric.upper()} regression in {where}: {r.baseline:.4f} -> {r.canary:.4f} "
                f"({r.effect:+.1%}, 95% CI {r.low:+.1%}..{r.high:+.1%}, p={r.p_value:.4f}{p_adj_note})")
    if metric == "entity_recall":
        return (f"entity recall drop in {where}: {1 - r.baseline:.3%} -> {1 - r.canary:.3%} "
                f"({-r.effect:+.3%}, two-proportion p={r.p_value:.2g}{p_adj_note})")
    if metric == "latency_p95":
        return (f"latency p95 regression in {where}: {r.baseline:.0f} ms -> {r.canary:.0f} ms "
                f"({r.effect:+.1%}, Mann-Whitney p={r.p_value:.2g}{p_adj_note})")
    label = {"availability": "failure rate", "decode_errors": "decode error rate",
             "hallucination": "hallucination rate"}[metric]
    return (f"{label} regression in {where}: {r.baseline:.3%} -> {r.canary:.3%} "
            f"({r.effect:+.3%}, two-proportion p={r.p_value:.2g}{p_adj_note})")


def _result_dict(r: stats.TestResult | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"canary": r.canary, "baseline": r.baseline, "effect": r.effect, "p_value": r.p_value,
            "low": r.low, "high": r.high}


def _arm_summary(arm: ArmStats) -> dict[str, Any]:
    return {
        "utterances": arm.utterances,
        "sessions": arm.sessions,
        **({} if arm.stored is None else {"stored_sessions": arm.stored}),
        "latency_samples": len(arm.latency_ms),
        "wer": wer_math.corpus_wer(*wer_math.parse_pairs(arm.wer_pairs)),
        "cer": wer_math.corpus_wer(*wer_math.parse_pairs(arm.cer_pairs)),
        "entity_recall": entity_recall.corpus_recall(arm.entities_found, arm.entity_occurrences),
        "entity_occurrences": arm.entity_occurrences,
        "der": wer_math.corpus_wer(*wer_math.parse_pairs(arm.diar_pairs)),  # errors over reference speech
        "diarized_sessions": stats.utterances(arm.diar_pairs),
        "hallucination_checked": arm.hallucination_checked,
        "hallucination_rate": (arm.hallucination_flagged / arm.hallucination_checked
                               if arm.hallucination_checked else None),
        "failures": arm.failures,
        "decode_errors": arm.decode_errors,
        "privacy_errors": arm.privacy_errors,
        "successful_turns": arm.successful_turns,
        "cost_usd": round(arm.cost_usd, 6),
        "cost_per_successful_turn": (arm.cost_usd / arm.successful_turns) if arm.successful_turns else None,
    }


def judge(
    slices: Sequence[SliceData],
    *,
    protected: Sequence[Mapping[str, str]],
    thresholds: Thresholds,
    at: datetime,
    canary_pages: Sequence[str] = (),
) -> Verdict:
    """Compare canary to baseline. `canary_pages` names burn-rate pages firing on the canary."""
    if at.tzinfo is None:
        raise ValueError("at: must be timezone-aware UTC")
    th = thresholds
    hard: list[str] = []
    pause: list[str] = []
    soft: list[str] = []

    overall = SliceData({}, merge_arms([s.canary for s in slices]), merge_arms([s.baseline for s in slices]))
    if overall.canary.privacy_errors:
        hard.append(f"privacy: {overall.canary.privacy_errors} privacy error(s) on the canary")
    for alert in canary_pages:
        hard.append(f"burn-rate page firing on the canary's group: {alert}")

    c, b = overall.canary, overall.baseline
    if c.utterances < th.min_utterances or b.utterances < th.min_utterances:
        pause.append(f"insufficient data: canary {c.utterances}, baseline {b.utterances} labeled utterances "
                     f"(need {th.min_utterances})")
    if c.sessions < th.min_sessions or b.sessions < th.min_sessions:
        pause.append(f"insufficient data: canary {c.sessions}, baseline {b.sessions} sessions "
                     f"(need {th.min_sessions})")

    # Candidates in the protected family: pooled fleet, each protected selector pooled, each
    # slice under a protected selector. Everything else is the unprotected family.
    protected_units: list[tuple[str, SliceData]] = [("all", overall)]
    for selector in protected:
        members = [s for s in slices if matches(s.key, selector)]
        name = slice_name(selector)
        pooled = SliceData(dict(selector), merge_arms([s.canary for s in members]),
                           merge_arms([s.baseline for s in members]))
        protected_units.append((name, pooled))
        if pooled.canary.utterances < th.min_utterances or pooled.baseline.utterances < th.min_utterances:
            pause.append(f"insufficient data in protected slice {name}: canary {pooled.canary.utterances}, "
                         f"baseline {pooled.baseline.utterances} labeled utterances (need {th.min_utterances})")
        for s in members:
            if slice_name(s.key) not in {n for n, _ in protected_units}:  # a slice may match two selectors
                protected_units.append((slice_name(s.key), s))
    unprotected_units = [(slice_name(s.key), s) for s in slices
                         if not any(matches(s.key, sel) for sel in protected)]

    metrics: dict[str, Any] = {"canary": _arm_summary(c), "baseline": _arm_summary(b), "slices": {},
                               "alpha": th.alpha, "correction": "holm"}

    def run_family(units: list[tuple[str, SliceData]], family: str) -> list[tuple[str, str]]:
        """The family's significant regressions as (metric, reason)."""
        candidates: list[tuple[str, str, stats.TestResult]] = []
        for index, (name, unit) in enumerate(units):
            results = _tests(unit.canary, unit.baseline, th, th.seed + index)
            entry = metrics["slices"].setdefault(name, {
                "family": family, "canary": _arm_summary(unit.canary), "baseline": _arm_summary(unit.baseline),
                "tests": {}})
            for metric in _METRICS:
                r = results[metric]
                entry["tests"][metric] = _result_dict(r)
                if r is not None and _enough(metric, unit.canary, unit.baseline, th):
                    candidates.append((name, metric, r))
        rejected = stats.holm([r.p_value for _, _, r in candidates], th.alpha)
        found = []
        for (name, metric, r), rej in zip(candidates, rejected):
            significant = rej and r.effect is not None and r.effect >= _min_effect(metric, th)
            metrics["slices"][name]["tests"][metric]["regression"] = significant
            if significant:
                found.append((metric, _describe(metric, name, r, f", Holm over {len(candidates)} tests")))
        return found

    hard.extend(reason for _, reason in run_family(protected_units, "protected"))
    for metric, reason in run_family(unprotected_units, "unprotected"):
        (hard if metric in _PROTECTED_IN_EVERY_SLICE else soft).append(reason)

    cost_c = c.cost_usd / c.successful_turns if c.successful_turns else None
    cost_b = b.cost_usd / b.successful_turns if b.successful_turns else None
    if cost_c is not None and cost_b and min(c.successful_turns, b.successful_turns) >= th.min_sessions:
        rel = (cost_c - cost_b) / cost_b
        metrics["cost_per_successful_turn"] = {"canary": cost_c, "baseline": cost_b, "effect": rel}
        if rel > th.cost_max_relative:
            soft.append(f"cost per successful turn up {rel:+.1%} (${cost_b:.5f} -> ${cost_c:.5f})")

    if hard:
        decision: Decision = "rollback"
        reasons = hard + pause + soft
    elif pause or soft:
        decision = "pause"
        reasons = pause + [f"review: {r}" for r in soft]
    else:
        decision = "continue"
        wer = metrics["slices"]["all"]["tests"]["wer"]
        reasons = [f"no significant regression in {len(protected_units) + len(unprotected_units)} slices "
                   f"(alpha={th.alpha}, Holm); corpus WER "
                   f"{wer['baseline']:.4f} -> {wer['canary']:.4f}" if wer else "no significant regression"]
    return Verdict(decision=decision, reasons=reasons, metrics=metrics, at=at, sample=sample_sizes(slices, c, b))


def worse(a: Decision, b: Decision) -> Decision:
    return a if _RANK[a] >= _RANK[b] else b
