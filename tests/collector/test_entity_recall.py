"""Entity recall (#20 part 2): counted on normalized texts, multi-word terms as one occurrence.

The reference implementation here is independent of `collector.measures.entity_recall`'s scan:
Python's `re` with a longest-first alternation between word boundaries, which finds the same
non-overlapping, leftmost-longest occurrences in a normalized (space-separated) text."""

import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.measures import entity_recall, wer


def _regex_counts(text: str, terms: list[str]) -> Counter:
    alternation = "|".join(re.escape(t) for t in sorted(terms, key=lambda t: (-len(t.split()), -len(t))))
    # Words are separated by single spaces: a term starts after a space (or at the start) and ends before one.
    return Counter(m.group(1) for m in re.finditer(rf"(?:(?<= )|^)({alternation})(?= |$)", text))


def _regex_recall(reference: str, hypothesis: str, terms: list[str]) -> tuple[int, int]:
    ref, hyp = _regex_counts(reference, terms), _regex_counts(hypothesis, terms)
    return sum(ref.values()), sum(min(n, hyp[t]) for t, n in ref.items())


WORDS = ["acme", "cloud", "new", "york", "city", "the", "go"]
TERMS = ["acme cloud", "acme", "new york", "new york city", "go"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=14), st.lists(st.sampled_from(WORDS), max_size=14))
def test_counts_equal_the_regex_reference(ref, hyp):
    terms = entity_recall.terms_of(TERMS, lambda t: t, spaceless=False)
    counts = entity_recall.entity_counts(tuple(ref), tuple(hyp), terms)
    assert (counts.occurrences, counts.found) == _regex_recall(" ".join(ref), " ".join(hyp), TERMS)


def test_multi_word_terms_count_once_and_normalization_applies_to_terms_too():
    scores = wer.word_errors("Book a flight to New York City, then New-York again.",
                             "book a flight to new york city then newark again", "language", language="en",
                             entities=["New York City", "new york"])
    # "new york city" (one occurrence, not also "new york"), then "new york": 2 occurrences, 1 found.
    assert (scores.entity_occurrences, scores.entities_found) == (2, 1)


def test_found_needs_the_hypothesis_to_hold_the_term_as_many_times():
    scores = wer.word_errors("acme cloud and acme cloud", "acme cloud and acne cloud", "language", language="en",
                             entities=["Acme Cloud"])
    assert (scores.entity_occurrences, scores.entities_found) == (2, 1)
    assert entity_recall.corpus_recall(scores.entities_found, scores.entity_occurrences) == 0.5


def test_a_term_inside_a_longer_word_is_no_occurrence():
    scores = wer.word_errors("the acmes cloudy day", "the acmes cloudy day", "none", entities=["acme cloud"])
    assert scores.entity_occurrences == 0


def test_spaceless_languages_match_terms_by_characters():
    scores = wer.word_errors("我想买华为手机，还有小米电视。", "我想买华为手机还有小米点视", "language", language="zh",
                             entities=["华为", "小米电视"])
    assert (scores.entity_occurrences, scores.entities_found) == (2, 1)


def test_no_terms_no_occurrences_and_no_recall():
    scores = wer.word_errors("hello there", "hello", "language", language="en")
    assert scores.entity_occurrences == 0
    assert entity_recall.corpus_recall(0, 0) is None


@pytest.mark.parametrize("term", ["...", "  "])
def test_a_term_that_normalizes_to_nothing_is_dropped(term):
    assert entity_recall.terms_of([term], wer.normalizer("basic"), spaceless=False) == frozenset()
