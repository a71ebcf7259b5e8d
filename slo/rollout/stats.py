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

WerPairs = Mapping[tuple[int, int], int]  # (errors, ref_words) -> utterances


@dataclass(frozen=True)
class TestResult:
    effect: float | None  # relative (WER, latency, cost) or absolute (rates) canary-minus-baseline
    p_value: float  # one-sided: small means "canary significantly worse"
    low: float | None = None
    high: float | None = None
    canary: float | None = None
    baseline: float | None = None


def parse_wer_pairs(raw: Mapping[str, int] | Mapping[tuple[int, int], int]) -> dict[tuple[int, int], int]:
    """Accept rollup JSON (`{"errors:ref_words": n}`) or tuple keys."""
    out: dict[tuple[int, int], int] = {}
    for key, count in raw.items():
        if isinstance(key, str):
            errors_s, _, words_s = key.partition(":")
            pair = (int(errors_s), int(words_s))
        else:
            pair = (int(key[0]), int(key[1]))
        out[pair] = out.get(pair, 0) + int(count)
    return out


def merge_wer_pairs(parts: Sequence[WerPairs]) -> dict[tuple[int, int], int]:
    out: dict[tuple[int, int], int] = {}
    for part in parts:
        for pair, count in part.items():
            out[pair] = out.get(pair, 0) + count
    return out


def corpus_wer(pairs: WerPairs) -> float | None:
    words = sum(w * n for (_, w), n in pairs.items())
    if words == 0:
        return None
    return sum(e * n for (e, _), n in pairs.items()) / words


def utterances(pairs: WerPairs) -> int:
    return sum(pairs.values())


def _bootstrap_wer(pairs: WerPairs, iterations: int, rng: np.random.Generator) -> np.ndarray:
    # Resampling n utterances with replacement from the distinct (errors, words) pairs is a
    # multinomial draw over the pairs: exact, and cheap however many utterances there are.
    keys = list(pairs)
    counts = np.array([pairs[k] for k in keys], dtype=float)
    errors = np.array([k[0] for k in keys], dtype=float)
    words = np.array([k[1] for k in keys], dtype=float)
    n = int(counts.sum())
    draws = rng.multinomial(n, counts / counts.sum(), size=iterations)
    total_words = draws @ words
    return (draws @ errors) / np.maximum(total_words, 1.0)


def wer_relative_delta(
    canary: WerPairs, baseline: WerPairs, *, iterations: int = 2000, confidence: float = 0.95, seed: int = 0
) -> TestResult | None:
    """Relative corpus-WER change with a percentile bootstrap over utterances.

    The p-value is the bootstrap share of resamples where the canary is not worse (plus one,
    so it is never zero): a one-sided test of "canary WER > baseline WER".
    """
    wc, wb = corpus_wer(canary), corpus_wer(baseline)
    if wc is None or wb is None:
        return None
    rng = np.random.default_rng(seed)
    bc = _bootstrap_wer(canary, iterations, rng)
    bb = _bootstrap_wer(baseline, iterations, rng)
    diff = bc - bb
    rel = diff / np.maximum(bb, 1e-9)
    tail = (1 - confidence) / 2
    p = (1 + int(np.sum(diff <= 0))) / (iterations + 1)
    effect = (wc - wb) / wb if wb > 0 else (math.inf if wc > 0 else 0.0)
    return TestResult(
        effect=effect,
        p_value=p,
        low=float(np.quantile(rel, tail)),
        high=float(np.quantile(rel, 1 - tail)),
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
