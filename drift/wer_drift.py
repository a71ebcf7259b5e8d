"""Corpus WER drift: current vs reference per slice, with a bootstrap interval of the
relative change, a one-sided p-value for FDR control, and a weekly trend."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class WerComparison:
    reference_wer: float
    current_wer: float
    absolute_delta: float
    relative_delta: float  # (current - reference) / reference; inf when reference WER is 0
    ci_low: float  # interval of the relative delta (bootstrap; delta method when rounds=0)
    ci_high: float
    standard_error: float  # of current - reference WER (delta method)
    z: float
    p_value: float  # one-sided: current WER higher than reference
    n_reference: int
    n_current: int
    words_reference: int
    words_current: int

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def corpus_wer(errors: np.ndarray, words: np.ndarray) -> float:
    """(S + D + I) / N over all utterances: long utterances weigh more, as they should."""
    total = float(np.sum(words))
    return float(np.sum(errors)) / total if total > 0 else math.nan


def ratio_standard_error(errors: np.ndarray, words: np.ndarray) -> float:
    """Delta-method standard error of a ratio of sums over independent utterances."""
    n = len(errors)
    total = float(np.sum(words))
    if n < 2 or total <= 0:
        return math.nan
    residual = errors - (float(np.sum(errors)) / total) * words
    return math.sqrt(n / (n - 1) * float(np.sum(residual**2))) / total


def _bootstrap_wer(errors: np.ndarray, words: np.ndarray, rng: np.random.Generator, rounds: int) -> np.ndarray:
    """Corpus WER of `rounds` Poisson-bootstrap resamples of the utterances.

    Utterances are compressed to distinct (errors, words) pairs, and each pair's count in a
    resample is Poisson(its count) (the Poisson bootstrap: every utterance gets a Poisson(1)
    weight, which approximates multinomial resampling well beyond a few dozen utterances
    and vectorizes over rounds).
    """
    e, w = errors.astype(np.int64), words.astype(np.int64)
    keys, counts = np.unique(e * (int(w.max()) + 1) + w, return_counts=True)
    pair_errors, pair_words = np.divmod(keys, int(w.max()) + 1)
    draws = rng.poisson(counts, size=(rounds, len(counts))).astype(np.float64)
    total_words = draws @ pair_words.astype(np.float64)
    return np.divide(draws @ pair_errors.astype(np.float64), total_words, out=np.full(rounds, np.nan),
                     where=total_words > 0)


def compare_wer(
    reference_errors: np.ndarray,
    reference_words: np.ndarray,
    current_errors: np.ndarray,
    current_words: np.ndarray,
    rng: np.random.Generator,
    rounds: int = 500,
    confidence: float = 0.95,
) -> WerComparison:
    if len(reference_errors) == 0 or len(current_errors) == 0:
        raise ValueError("a WER comparison needs labeled utterances in both windows")
    ref = corpus_wer(reference_errors, reference_words)
    cur = corpus_wer(current_errors, current_words)
    se = math.hypot(ratio_standard_error(reference_errors, reference_words), ratio_standard_error(current_errors, current_words))
    if math.isfinite(se) and se > 0:
        z = (cur - ref) / se
    else:
        z = 0.0 if cur == ref else math.copysign(math.inf, cur - ref)
    p = float(stats.norm.sf(z))
    tail = (1 - confidence) / 2
    if rounds > 0:
        boot_ref = _bootstrap_wer(reference_errors, reference_words, rng, rounds)
        boot_cur = _bootstrap_wer(current_errors, current_words, rng, rounds)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = (boot_cur - boot_ref) / boot_ref
        rel = rel[np.isfinite(rel)]
        low, high = (float(np.quantile(rel, tail)), float(np.quantile(rel, 1 - tail))) if len(rel) else (math.nan, math.nan)
    elif ref > 0 and math.isfinite(se):
        # Without resampling: the delta-method interval (used to rank; findings get the bootstrap).
        half = float(stats.norm.isf(tail)) * se / ref
        low, high = (cur - ref) / ref - half, (cur - ref) / ref + half
    else:
        low, high = math.nan, math.nan
    relative = (cur - ref) / ref if ref > 0 else (0.0 if cur == ref else math.inf)
    return WerComparison(
        reference_wer=ref,
        current_wer=cur,
        absolute_delta=cur - ref,
        relative_delta=relative,
        ci_low=low,
        ci_high=high,
        standard_error=float(se),
        z=float(z),
        p_value=p,
        n_reference=len(reference_errors),
        n_current=len(current_errors),
        words_reference=int(np.sum(reference_words)),
        words_current=int(np.sum(current_words)),
    )


def weekly_trend(
    ts: np.ndarray, errors: np.ndarray, words: np.ndarray, at: datetime, weeks: int = 8
) -> list[dict]:
    """Corpus WER of each of the `weeks` seven-day periods ending at `at` (oldest first)."""
    if at.tzinfo is None:
        raise ValueError("at: must be timezone-aware")
    end = at.timestamp()
    week = 7 * 86400.0
    index = np.floor((end - ts) / week).astype(np.int64)
    keep = (ts < end) & (index >= 0) & (index < weeks)
    err = np.bincount(index[keep], weights=errors[keep], minlength=weeks)
    wrd = np.bincount(index[keep], weights=words[keep], minlength=weeks)
    utt = np.bincount(index[keep], minlength=weeks)
    out = []
    for i in reversed(range(weeks)):
        start = at - timedelta(days=7 * (i + 1))
        out.append(
            {
                "week_start": start.astimezone(timezone.utc).isoformat(),
                "wer": float(err[i] / wrd[i]) if wrd[i] > 0 else None,
                "utterances": int(utt[i]),
                "ref_words": int(wrd[i]),
            }
        )
    return out
