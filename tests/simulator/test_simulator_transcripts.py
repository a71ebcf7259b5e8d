"""Hypotheses carry exactly the word errors the simulator says they do."""

from __future__ import annotations

import random

import pytest

from collector.measures.wer import normalizer, word_errors
from simulator.transcripts import (
    DOMAIN_TERMS,
    GENERAL_VOCABULARY,
    NEW_PRODUCT_TERMS,
    corrupt,
    make_reference,
    vocabulary_for,
)


def test_every_word_survives_the_whisper_normalizer_unchanged():
    norm = normalizer("whisper_en")
    words = {w for vocab in GENERAL_VOCABULARY.values() for w in vocab}
    words |= {w for terms in DOMAIN_TERMS.values() for w in terms}
    words |= set(NEW_PRODUCT_TERMS) | set(NEW_PRODUCT_TERMS.values()) | {"zzfiller"}
    changed = {w: norm(w) for w in words if norm(w) != w}
    assert changed == {}
    # Sentences too: number words could merge across words; there are none.
    rng = random.Random(3)
    for lang in GENERAL_VOCABULARY:
        sentence = " ".join(make_reference(rng, 40, vocabulary_for(lang)))
        assert norm(sentence) == sentence


@pytest.mark.parametrize("vocab_name", ["en", "de", "tiny"])
def test_counts_are_what_the_collectors_scorer_measures(vocab_name):
    vocab = ("a", "b", "c", "d", "e") if vocab_name == "tiny" else vocabulary_for(vocab_name)
    rng = random.Random(11)
    hit_target = 0
    # The whisper normalizer is slow; the first test already shows it changes nothing here.
    scorer, trials = ("whisper_en", 300) if vocab_name == "en" else ("none", 1500)
    for _ in range(trials):
        n = rng.randint(1, 35)
        ref = make_reference(rng, n, vocab, DOMAIN_TERMS["acme-bank"], 0.1)
        s, d, i = (sum(rng.random() < 0.07 for _ in range(n)) for _ in range(3))
        utt = corrupt(rng, ref, s, d, i, vocab)
        measured = word_errors(utt.reference, utt.hypothesis, scorer)
        assert (measured.substitutions, measured.deletions, measured.insertions, measured.ref_words) == (
            utt.substitutions, utt.deletions, utt.insertions, utt.ref_words)
        hit_target += utt.errors == min(s + d, n) + i
    # The realized error total is the requested one almost always, even with a 5-word vocabulary.
    assert hit_target / trials > (0.99 if vocab_name != "tiny" else 0.9)


def test_forced_misrecognitions_count_as_substitutions():
    rng = random.Random(5)
    ref = ["please", "order", "zorvex", "today"]
    utt = corrupt(rng, ref, 0, 0, 0, vocabulary_for("en"), forced={2: "sorvex"})
    assert utt.hypothesis == "please order sorvex today"
    assert (utt.substitutions, utt.deletions, utt.insertions) == (1, 0, 0)


def test_empty_and_negative_inputs_are_refused_with_the_field_named():
    rng = random.Random(0)
    with pytest.raises(ValueError, match="deletions"):
        corrupt(rng, ["a"], 0, -1, 0, ("a", "b"))
    with pytest.raises(ValueError, match="n_words"):
        make_reference(rng, 0, ("a",))
    with pytest.raises(ValueError, match="forced"):
        corrupt(rng, ["a", "b"], 0, 0, 0, ("a", "b"), forced={0: "b"})


def test_all_deletions_give_an_empty_hypothesis():
    rng = random.Random(1)
    ref = make_reference(rng, 6, vocabulary_for("en"))
    utt = corrupt(rng, ref, 0, 6, 0, vocabulary_for("en"))
    assert utt.hypothesis == "" and utt.deletions == 6 and utt.errors == 6
