"""Word error rate: normalization, alignment counts, the pair codec, corpus WER and its bootstrap.

The one home of WER math: the collector, the SLO engine, the rollout judge and drift all call
these functions, so they cannot disagree about what a WER is.

Corpus WER is (S + D + I) / N summed over utterances, never a mean of utterance WERs. A labeled
set is summarised as `{(errors, ref_words): utterances}` pairs — rollups store it as JSON keyed
`"errors:ref_words"` — which is all that the corpus figure, per-utterance thresholds and the
bootstrap need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import jiwer
import numpy as np

Pair = tuple[int, int]  # (errors, ref_words) of one utterance
PairKey = str | Sequence[int]  # `"errors:ref_words"` as rollups store it, or an (errors, ref_words) tuple


def utterance_wer(errors: int, ref_words: int) -> float:
    """One utterance's WER; an empty reference scores 0 when nothing was inserted, else 1 (every
    error on an empty reference is an insertion)."""
    if ref_words == 0:
        return 0.0 if errors == 0 else 1.0
    return errors / ref_words


@dataclass(frozen=True)
class WordErrors:
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return utterance_wer(self.errors, self.ref_words)


@lru_cache(maxsize=None)
def normalizer(name: str) -> Callable[[str], str]:
    if name == "whisper_en":
        from whisper_normalizer.english import EnglishTextNormalizer

        english, basic = EnglishTextNormalizer(), normalizer("basic")

        def normalize(text: str) -> str:
            try:
                return english(text)
            except (AssertionError, ValueError, TypeError):
                # Its number parser fails on a run of over 4300 digits (Python's int limit):
                # score such a transcript with the basic normalizer rather than fail the batch.
                return basic(text)

        return normalize
    if name == "basic":
        from whisper_normalizer.basic import BasicTextNormalizer

        return BasicTextNormalizer()
    if name == "none":
        return lambda text: text
    raise ValueError(f"normalizer: unknown normalizer {name!r} (whisper_en, basic or none)")


def word_errors(reference: str, hypothesis: str, normalizer_name: str = "whisper_en") -> WordErrors:
    norm = normalizer(normalizer_name)
    ref = norm(reference).split()
    hyp = norm(hypothesis or "").split()
    if not ref:
        return WordErrors(0, 0, len(hyp), 0)
    if not hyp:
        return WordErrors(0, len(ref), 0, len(ref))
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return WordErrors(out.substitutions, out.deletions, out.insertions, len(ref))


# -- the pair codec ---------------------------------------------------------------------------


def pair_key(errors: int, ref_words: int) -> str:
    return f"{errors}:{ref_words}"


def parse_pair_key(key: PairKey) -> Pair:
    """`"e:n"` or `(e, n)` -> `(e, n)`; a malformed key is a ValueError."""
    if isinstance(key, str):
        errors, sep, words = key.partition(":")
        if not sep:
            raise ValueError(f"WER pair key {key!r} is not 'errors:ref_words'")
        return int(errors), int(words)
    errors, words = key
    return int(errors), int(words)


def pair_counts(pairs: Mapping[PairKey, int]) -> dict[Pair, int]:
    """`{"e:n": count}` (or tuple keys) -> `{(e, n): count}`, keys that name the same pair added up."""
    out: dict[Pair, int] = {}
    for key, count in pairs.items():
        pair = parse_pair_key(key)
        out[pair] = out.get(pair, 0) + int(count)
    return out


def merge_pairs(parts: Iterable[Mapping[PairKey, int]]) -> dict[Pair, int]:
    """Several pair mappings (rollup rows, arms, slices) -> one `{(e, n): count}`."""
    # Added up under the keys as given and parsed once per distinct key: a window of minute
    # rollups repeats the same few keys in every row.
    raw: dict[PairKey, int] = {}
    for part in parts:
        for key, count in part.items():
            raw[key] = raw.get(key, 0) + int(count)
    return pair_counts(raw)


def parse_pairs(pairs: Mapping[PairKey, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`{"e:n": count}` (or tuple keys) -> (errors, ref_words, counts) arrays, in (errors,
    ref_words) order: the bootstrap interval then depends on the pairs only, not on the order
    rows were merged in."""
    parsed = sorted(pair_counts(pairs).items())
    if not parsed:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    errors = np.array([e for (e, _), _ in parsed], dtype=np.int64)
    words = np.array([w for (_, w), _ in parsed], dtype=np.int64)
    counts = np.array([c for _, c in parsed], dtype=np.int64)
    return errors, words, counts


def utterance_pairs(errors: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-utterance (errors, ref_words) arrays -> the same (errors, ref_words, counts) arrays as
    `parse_pairs`, distinct pairs in (errors, ref_words) order."""
    e = np.asarray(errors).astype(np.int64)
    w = np.asarray(words).astype(np.int64)
    if len(e) == 0:
        return e, w, np.zeros(0, dtype=np.int64)
    # One integer per pair (errors-major, so np.unique sorts as parse_pairs does).
    base = int(w.max()) + 1
    keys, counts = np.unique(e * base + w, return_counts=True)
    pair_errors, pair_words = np.divmod(keys, base)
    return pair_errors, pair_words, counts.astype(np.int64)


# -- corpus WER and its bootstrap --------------------------------------------------------------


def corpus_wer(errors: np.ndarray, words: np.ndarray, counts: np.ndarray | None = None) -> float | None:
    """(S + D + I) / N over all utterances (long utterances weigh more, as they should); None when
    there are no reference words. `counts` weighs pairs; without it each entry is one utterance."""
    errors, words = np.asarray(errors), np.asarray(words)
    if counts is not None:
        errors, words = errors * counts, words * counts
    n = words.sum()
    return None if n <= 0 else float(errors.sum() / n)


def bootstrap_wers(
    errors: np.ndarray, words: np.ndarray, counts: np.ndarray, rng: np.random.Generator, resamples: int
) -> np.ndarray:
    """Corpus WER of `resamples` bootstrap resamples of the utterances (resampled with
    replacement, as many as there are); NaN for a resample without reference words.

    Resampling n utterances from distinct (errors, words) pairs weighted by their counts is
    a multinomial draw over the pairs: exact, and the cost scales with distinct pairs, not
    utterances. Drawn in blocks of 200 resamples to bound memory; the draws are the same as
    in one block.
    """
    errors, words, counts = (np.asarray(a, dtype=np.int64) for a in (errors, words, counts))
    n_utt = int(counts.sum())
    out = np.full(resamples, np.nan)
    if n_utt == 0:
        return out
    probs = counts / n_utt
    for start in range(0, resamples, 200):
        size = min(200, resamples - start)
        draws = rng.multinomial(n_utt, probs, size=size)
        total = draws @ words
        np.divide(draws @ errors, total, out=out[start:start + size], where=total > 0)
    return out


def bootstrap_interval(
    errors: np.ndarray,
    words: np.ndarray,
    counts: np.ndarray,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of corpus WER; None without reference words. Seeded so the
    same data always gives the same interval."""
    if corpus_wer(errors, words, counts) is None:
        return None
    stats = bootstrap_wers(errors, words, counts, np.random.default_rng(seed), resamples)
    stats = stats[np.isfinite(stats)]  # resamples that drew only empty references have no WER
    if len(stats) == 0:
        return None
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return float(lo), float(hi)
