"""Word and character error rates: normalization (chosen by language), alignment counts, the pair
codec, corpus WER and its bootstrap.

The one home of WER math: the collector, the SLO engine, the rollout judge and drift all call
these functions, so they cannot disagree about what a WER is.

Corpus WER is (S + D + I) / N summed over utterances, never a mean of utterance WERs. A labeled
set is summarised as `{(errors, ref_words): utterances}` pairs — rollups store it as JSON keyed
`"errors:ref_words"` — which is all that the corpus figure, per-utterance thresholds and the
bootstrap need. Character errors (CER) use the same codec and math with characters for words.

Languages written without spaces between words (`SPACELESS_LANGUAGES`) have no meaningful WER
(a sentence is one "word"): CER is their quality measure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import jiwer
import numpy as np
from rapidfuzz.distance import Levenshtein

from collector.measures import entity_recall

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
    """A sample's scores: word errors, and character errors (CER) with its reference characters.
    Ingest adds the entity counts (`collector.measures.entity_recall`), scored on the same texts."""

    substitutions: int
    deletions: int
    insertions: int
    ref_words: int
    char_errors: int = 0
    ref_chars: int = 0
    entity_occurrences: int = 0  # entity occurrences in the reference
    entities_found: int = 0  # of those, found in the hypothesis

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return utterance_wer(self.errors, self.ref_words)

    @property
    def cer(self) -> float:
        return utterance_wer(self.char_errors, self.ref_chars)


# Whisper splits words on characters, not spaces, for these (openai/whisper whisper/tokenizer.py,
# `Tokenizer.split_to_word_tokens`: zh, ja, th, lo, my, yue); Korean is written with spaces, but
# its words are long agglutinated units and CER is how Korean ASR is scored, as the issue asks.
SPACELESS_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue", "ko"})
# A session's `language` when the sender set none (`collector.store.session_batch`).
UNSET_LANGUAGE = "unknown"
# Settings.normalizer: one of `normalizer`'s names, or "language" (the session's language picks).
BY_LANGUAGE = "language"
# The normalizer of languages written without spaces and of CER (`marks_kept`).
MARKS_KEPT = "marks_kept"


def language_code(language: str | None) -> str | None:
    """The primary subtag of a BCP 47 tag or locale, lower case ("zh-Hant-TW", "en_US" -> "zh",
    "en"); None when the language is unset."""
    if not language or language == UNSET_LANGUAGE:
        return None
    return language.replace("_", "-").split("-", 1)[0].strip().lower() or None


def normalizer_for(language: str | None, configured: str = BY_LANGUAGE) -> str:
    """The normalizer a session's text is scored with. A configured name other than "language"
    applies to every language. By language: Whisper's English normalizer for English, its basic
    (language-neutral) one for other spaced languages, as Whisper's own evaluation does
    (openai/whisper whisper/normalizers/english.py, basic.py), and `MARKS_KEPT` for languages
    written without spaces (see there). A session without a language is scored as English, as
    every session was before languages chose (the default stays the same)."""
    if configured != BY_LANGUAGE:
        return configured
    code = language_code(language)
    if code in (None, "en"):
        return "whisper_en"
    return MARKS_KEPT if code in SPACELESS_LANGUAGES else "basic"


def char_normalizer_for(language: str | None, configured: str = BY_LANGUAGE) -> str:
    """The normalizer CER is counted on: `MARKS_KEPT`, except that English keeps Whisper's
    English normalizer (its spellings and numbers; English text has no combining marks once
    NFKC-composed) and "none" stays none. Whisper's basic and English normalizers turn every
    Unicode mark into a space or drop it, so CER on their text is blind to Thai, Lao, Burmese
    and Devanagari vowel and tone marks (openai/whisper PR #2849)."""
    name = normalizer_for(language, configured)
    if name == "none" or (name == "whisper_en" and not written_without_spaces(language)):
        return name
    return MARKS_KEPT


def written_without_spaces(language: str | None) -> bool:
    return language_code(language) in SPACELESS_LANGUAGES


def characters(normalized: str, spaceless: bool) -> str:
    """The characters CER counts: for a language written without spaces, every character but
    whitespace (the normalizers turn punctuation into spaces: those are no characters of the
    text; `MARKS_KEPT` keeps the marks, which are); otherwise the words joined by single spaces,
    which count as characters, as `jiwer.cer` counts them."""
    words = normalized.split()
    return "".join(words) if spaceless else " ".join(words)


def char_counts(reference: str, hypothesis: str) -> tuple[int, int]:
    """(character errors, reference characters) of two strings as `characters` gives them."""
    # The edit distance is jiwer's S + D + I: jiwer counts them on rapidfuzz's minimal
    # `Levenshtein.opcodes` (jitsi/jiwer src/jiwer/process.py); the distance alone skips building
    # its alignment, which cost three times the rest of a short sample's scoring.
    return Levenshtein.distance(reference, hypothesis), len(reference)


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
    if name == MARKS_KEPT:
        return marks_kept
    if name == "none":
        return lambda text: text
    raise ValueError(f"normalizer: unknown normalizer {name!r} (whisper_en, basic, {MARKS_KEPT} or none)")


# Whisper's basic normalizer, less its one flaw for CER: it replaces every Unicode mark
# (category M*) with a space (openai/whisper whisper/normalizers/basic.py `remove_symbols`), so
# Thai 'ค่ะ' and 'คะ' normalize alike (openai/whisper PR #2849, kurianbenoy/whisper_normalizer
# issue 25). This keeps marks and replaces only punctuation (P*) and symbols (S*).
_ANNOTATION = re.compile(r"[<\[][^>\]]*[>\]]|\(([^)]+?)\)")  # basic.py's "[noise]", "<unk>", "(laughs)"


def marks_kept(text: str) -> str:
    """NFKC, case-folded, bracketed annotations removed as Whisper's basic normalizer removes
    them, punctuation and symbols turned into spaces, marks kept; whitespace collapsed."""
    text = _ANNOTATION.sub("", unicodedata.normalize("NFKC", text).casefold())
    return " ".join("".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text).split())


def word_errors(reference: str, hypothesis: str, normalizer_name: str = "whisper_en", *,
                language: str | None = None, entities: Iterable[str] = ()) -> WordErrors:
    """Word and character errors of the normalized texts, and the `entities` (terms as
    configured or sent) the reference holds and the hypothesis found
    (`collector.measures.entity_recall`), on the same normalized texts. `normalizer_name` may be
    "language": `language` then picks it (`normalizer_for`); `language` also says whether the
    text is written without spaces (`characters`)."""
    name, char_name = normalizer_for(language, normalizer_name), char_normalizer_for(language, normalizer_name)
    norm = normalizer(name)
    ref_text, hyp_text = norm(reference), norm(hypothesis or "")
    spaceless = written_without_spaces(language)
    if char_name != name:  # CER keeps the marks the word normalizer drops (`char_normalizer_for`)
        char_norm = normalizer(char_name)
        ref_chars, hyp_chars = char_norm(reference), char_norm(hypothesis or "")
    else:
        ref_chars, hyp_chars = ref_text, hyp_text
    chars = char_counts(characters(ref_chars, spaceless), characters(hyp_chars, spaceless))
    terms = entity_recall.terms_of(entities, norm, spaceless)
    found = entity_recall.entity_counts(entity_recall.units(ref_text, spaceless),
                                        entity_recall.units(hyp_text, spaceless), terms) if terms \
        else entity_recall.EntityCounts(0, 0)
    scores = (*chars, found.occurrences, found.found)
    ref, hyp = ref_text.split(), hyp_text.split()
    if not ref:
        return WordErrors(0, 0, len(hyp), 0, *scores)
    if not hyp:
        return WordErrors(0, len(ref), 0, len(ref), *scores)
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return WordErrors(out.substitutions, out.deletions, out.insertions, len(ref), *scores)


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


def pairs_good(pairs: Mapping[PairKey, int] | None, limit: float) -> tuple[int, int]:
    """(good, total) from `{"errors:ref_words": count}`: good when the pair's ratio
    (`utterance_wer`) is at or under `limit`. The quality SLI judges utterance WER (or CER) pairs
    with it, the diarization SLI session DER's `"error_ms:speech_ms"` pairs."""
    good = total = 0
    for key, count in (pairs or {}).items():
        n = int(count)
        total += n
        good += n if utterance_wer(*parse_pair_key(key)) <= limit else 0
    return good, total


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
