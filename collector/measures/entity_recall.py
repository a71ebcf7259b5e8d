"""Entity recall: the share of the reference's entity occurrences that the hypothesis got right.

Entities are terms (product names, drug names, places: the words a domain cannot afford to get
wrong) normalized like the text they are looked for in. Texts and terms are compared as units:
words, or characters for languages written without spaces (`wer.characters`), so "Acme Cloud"
matches the words "acme cloud" and never the inside of "acme cloudy".

Counting: the reference is scanned left to right and, at each position, the longest term that
starts there counts as one occurrence (a multi-word term is one occurrence, and "new york"
inside "new york city" does not count again); the hypothesis is counted the same way. A term
occurring r times in the reference and h times in the hypothesis is found min(r, h) times:
recall = sum of min(r, h) / sum of r. Position is not compared: an entity said once in each
text is found wherever the hypothesis put it (WER judges word order already).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

Term = tuple[str, ...]


@dataclass(frozen=True)
class EntityCounts:
    occurrences: int  # entity occurrences in the reference
    found: int  # of those, also in the hypothesis

    @property
    def recall(self) -> float | None:
        return None if self.occurrences == 0 else self.found / self.occurrences


def units(normalized: str, spaceless: bool) -> Term:
    """A normalized text as the units terms are matched on: words, or characters (whitespace
    dropped) for a language written without spaces."""
    return tuple("".join(normalized.split())) if spaceless else tuple(normalized.split())


def terms_of(raw: Iterable[str], normalize: Callable[[str], str], spaceless: bool) -> frozenset[Term]:
    """Terms normalized like the text (empty results dropped: a term of only punctuation)."""
    return frozenset(t for t in (_term(term, normalize, spaceless) for term in raw) if t)


@lru_cache(maxsize=65536)
def _term(term: str, normalize: Callable[[str], str], spaceless: bool) -> Term:
    # The same few configured terms are normalized for every sample: once is enough.
    return units(normalize(term), spaceless)


def occurrences(text: Sequence[str], terms: frozenset[Term]) -> Counter[Term]:
    """Each term's occurrences in `text` (units), longest match first, never overlapping."""
    found: Counter[Term] = Counter()
    if not terms or not text:
        return found
    lengths = sorted({len(t) for t in terms}, reverse=True)
    i = 0
    while i < len(text):
        for n in lengths:
            candidate = tuple(text[i:i + n])
            if len(candidate) == n and candidate in terms:
                found[candidate] += 1
                i += n
                break
        else:
            i += 1
    return found


def entity_counts(reference: Sequence[str], hypothesis: Sequence[str], terms: frozenset[Term]) -> EntityCounts:
    """Occurrences of the terms in the reference, and how many of them the hypothesis has."""
    ref = occurrences(reference, terms)
    if not ref:
        return EntityCounts(0, 0)
    hyp = occurrences(hypothesis, terms)  # counted as the reference was, with every term
    return EntityCounts(sum(ref.values()), sum(min(n, hyp[t]) for t, n in ref.items()))


def corpus_recall(found: int, occurrences: int) -> float | None:
    """Entity recall of summed counts (rollups, groups): None without occurrences."""
    return None if occurrences <= 0 else found / occurrences
