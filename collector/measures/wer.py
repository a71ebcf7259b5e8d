"""Word error rate: normalization, alignment counts, corpus WER and its bootstrap interval.

Corpus WER is (S + D + I) / N summed over utterances, never a mean of utterance WERs. A labeled
set is summarised as `{(errors, ref_words): utterances}` pairs — the same form rollups store —
which is all that the corpus figure, per-utterance thresholds and the bootstrap need.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import jiwer
import numpy as np


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
        """Utterance WER; an empty reference scores 0 when nothing was inserted, else 1."""
        if self.ref_words == 0:
            return 0.0 if self.insertions == 0 else 1.0
        return self.errors / self.ref_words


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


def pair_key(errors: int, ref_words: int) -> str:
    return f"{errors}:{ref_words}"


def parse_pairs(pairs: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`{"e:n": count}` -> (errors, ref_words, counts) arrays, in (errors, ref_words) order: the
    bootstrap interval then depends on the pairs only, not on the order rows were merged in."""
    if not pairs:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    parsed = sorted((*(int(x) for x in k.split(":")), int(v)) for k, v in pairs.items())
    errors, words, counts = (np.array(column, dtype=np.int64) for column in zip(*parsed))
    return errors, words, counts


def corpus_wer(errors: np.ndarray, words: np.ndarray, counts: np.ndarray) -> float | None:
    n = int((words * counts).sum())
    return None if n == 0 else float((errors * counts).sum() / n)


def bootstrap_interval(
    errors: np.ndarray,
    words: np.ndarray,
    counts: np.ndarray,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap of corpus WER, resampling utterances with replacement.

    Resampling n utterances from distinct (errors, words) pairs weighted by their counts is
    a multinomial draw over the pairs, so the cost scales with distinct pairs, not utterances.
    Seeded so the same data always gives the same interval.
    """
    n_utt = int(counts.sum())
    if n_utt == 0 or int((words * counts).sum()) == 0:
        return None
    rng = np.random.default_rng(seed)
    probs = counts / n_utt
    stats = np.empty(resamples)
    for start in range(0, resamples, 200):
        size = min(200, resamples - start)
        draws = rng.multinomial(n_utt, probs, size=size)
        err = draws @ errors
        tot = draws @ words
        stats[start:start + size] = np.divide(err, tot, out=np.zeros(size), where=tot > 0)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return float(lo), float(hi)
