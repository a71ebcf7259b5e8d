"""Corpus WER drift: current vs reference per slice, with a bootstrap interval of the
relative change, a one-sided p-value for FDR control, and a weekly trend."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from scipy import stats

from collector.measures import wer as wer_math


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


def ratio_standard_error(errors: np.ndarray, words: np.ndarray) -> float:
    """Delta-method standard error of a ratio of sums over independent utterances."""
    n = len(errors)
    wer = wer_math.corpus_wer(errors, words)
    if n < 2 or wer is None:
        return math.nan
    total = float(np.sum(words))
    residual = errors - wer * words
    return math.sqrt(n / (n - 1) * float(np.sum(residual**2))) / total


def _nan_if_none(value: float | None) -> float:
    # WerComparison holds floats (NaN where undefined; to_dict turns it into null), while the
    # measures module says "no reference words" with None.
    return math.nan if value is None else value


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
    ref = _nan_if_none(wer_math.corpus_wer(reference_errors, reference_words))
    cur = _nan_if_none(wer_math.corpus_wer(current_errors, current_words))
    se = math.hypot(ratio_standard_error(reference_errors, reference_words), ratio_standard_error(current_errors, current_words))
    if math.isfinite(se) and se > 0:
        z = (cur - ref) / se
    else:
        z = 0.0 if cur == ref else math.copysign(math.inf, cur - ref)
    p = float(stats.norm.sf(z))
    tail = (1 - confidence) / 2
    if rounds > 0:
        ref_pairs = wer_math.utterance_pairs(reference_errors, reference_words)
        cur_pairs = wer_math.utterance_pairs(current_errors, current_words)
        boot_ref = wer_math.bootstrap_wers(*ref_pairs, rng, rounds)
        boot_cur = wer_math.bootstrap_wers(*cur_pairs, rng, rounds)
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
                "wer": wer_math.corpus_wer(err[i], wrd[i]),  # of the week's summed counts
                "utterances": int(utt[i]),
                "ref_words": int(wrd[i]),
            }
        )
    return out
