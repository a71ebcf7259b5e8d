"""Canary-vs-baseline tests, all one-sided ("is the canary worse?").

Pure functions over counts and arrays. Every test returns the observed effect, a p-value for
"canary worse than baseline" and, where it makes sense, an interval, so the verdict can show
its numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from collector.measures import wer as wer_math

WerPairs = Mapping[tuple[int, int], int]  # (errors, ref_words) -> utterances


@dataclass(frozen=True)
class TestResult:
    effect: float | None  # relative (WER, latency, cost) or absolute (rates) canary-minus-baseline
    p_value: float  # one-sided: small means "canary significantly worse"
    low: float | None = None
    high: float | None = None
    canary: float | None = None
    baseline: float | None = None


def utterances(pairs: WerPairs) -> int:
    return sum(pairs.values())


def wer_relative_delta(
    canary: WerPairs, baseline: WerPairs, *, iterations: int = 2000, confidence: float = 0.95, seed: int = 0
) -> TestResult | None:
    """Relative corpus-WER change with a percentile bootstrap over utterances.

    The p-value is the bootstrap share of resamples where the canary is not worse (plus one,
    so it is never zero): a one-sided test of "canary WER > baseline WER".
    """
    canary_arrays, baseline_arrays = wer_math.parse_pairs(canary), wer_math.parse_pairs(baseline)
    wc, wb = wer_math.corpus_wer(*canary_arrays), wer_math.corpus_wer(*baseline_arrays)
    if wc is None or wb is None:
        return None
    rng = np.random.default_rng(seed)
    bc = wer_math.bootstrap_wers(*canary_arrays, rng, iterations)
    bb = wer_math.bootstrap_wers(*baseline_arrays, rng, iterations)
    defined = np.isfinite(bc) & np.isfinite(bb)  # a resample of only empty references has no WER
    diff = bc[defined] - bb[defined]
    rel = diff / np.maximum(bb[defined], 1e-9)
    tail = (1 - confidence) / 2
    p = (1 + int(np.sum(diff <= 0))) / (len(diff) + 1)
    effect = (wc - wb) / wb if wb > 0 else (math.inf if wc > 0 else 0.0)
    return TestResult(
        effect=effect,
        p_value=p,
        low=float(np.quantile(rel, tail)) if len(rel) else None,
        high=float(np.quantile(rel, 1 - tail)) if len(rel) else None,
        canary=wc,
        baseline=wb,
    )


def latency_shift(
    canary_ms: Sequence[float], baseline_ms: Sequence[float], *, quantile: float = 0.95
) -> TestResult | None:
    """Mann-Whitney U (canary stochastically greater), as Kayenta's classifier uses; the
    effect reported and gated on is the relative change of the p95."""
    c = np.asarray(canary_ms, dtype=float)
    b = np.asarray(baseline_ms, dtype=float)
    if c.size == 0 or b.size == 0:
        return None
    p = float(sps.mannwhitneyu(c, b, alternative="greater", method="asymptotic").pvalue)
    qc, qb = float(np.quantile(c, quantile)), float(np.quantile(b, quantile))
    effect = (qc - qb) / qb if qb > 0 else (math.inf if qc > 0 else 0.0)
    return TestResult(effect=effect, p_value=p, canary=qc, baseline=qb)


def proportion_increase(
    canary_bad: int, canary_total: int, baseline_bad: int, baseline_total: int
) -> TestResult | None:
    """Two-proportion z-test (pooled), one-sided: canary failure rate higher."""
    if canary_total <= 0 or baseline_total <= 0:
        return None
    pc, pb = canary_bad / canary_total, baseline_bad / baseline_total
    pooled = (canary_bad + baseline_bad) / (canary_total + baseline_total)
    se = math.sqrt(pooled * (1 - pooled) * (1 / canary_total + 1 / baseline_total))
    if se == 0:
        p = 1.0 if pc <= pb else 0.0
    else:
        p = float(sps.norm.sf((pc - pb) / se))
    # Wald interval of the difference, for display.
    se_diff = math.sqrt(pc * (1 - pc) / canary_total + pb * (1 - pb) / baseline_total)
    return TestResult(effect=pc - pb, p_value=p, low=pc - pb - 1.96 * se_diff, high=pc - pb + 1.96 * se_diff,
                      canary=pc, baseline=pb)


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Holm-Bonferroni step-down: which hypotheses are rejected with family-wise error <= alpha."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    m = len(p_values)
    for rank, index in enumerate(order):
        if p_values[index] <= alpha / (m - rank):
            rejected[index] = True
        else:
            break
    return rejected
