import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.measures import wer
from edit_distance import levenshtein

WORDS = ["a", "b", "c", "d", "e"]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(WORDS), min_size=0, max_size=12), st.lists(st.sampled_from(WORDS), max_size=12))
def test_error_count_equals_edit_distance(ref, hyp):
    errs = wer.word_errors(" ".join(ref), " ".join(hyp), "none")
    assert errs.errors == levenshtein(ref, hyp)
    assert errs.ref_words == len(ref)


def test_whisper_normalizer_ignores_case_punctuation_and_spelling():
    errs = wer.word_errors("Hello, Mr. Smith! The colour is grey.", "hello mister smith the color is gray", "whisper_en")
    assert errs.errors == 0


def test_none_normalizer_counts_case_and_punctuation():
    assert wer.word_errors("Hello world.", "hello world", "none").errors == 2


def test_corpus_wer_weights_by_words_not_by_utterance():
    # One 1-word utterance fully wrong and one 9-word utterance right: 1/10, not mean(1, 0) = 0.5.
    pairs = {wer.pair_key(1, 1): 1, wer.pair_key(0, 9): 1}
    assert wer.corpus_wer(*wer.parse_pairs(pairs)) == 0.1


def test_bootstrap_interval_brackets_estimate_and_is_deterministic():
    rng = np.random.default_rng(3)
    errors = rng.integers(0, 5, 400)
    words = rng.integers(5, 20, 400)
    counts = np.ones(400, dtype=np.int64)
    point = wer.corpus_wer(errors, words, counts)
    lo, hi = wer.bootstrap_interval(errors, words, counts)
    assert lo < point < hi
    assert (lo, hi) == wer.bootstrap_interval(errors, words, counts)
    # Pair-compressed input (duplicates folded into counts) gives an interval of the same width scale.
    assert hi - lo < 0.1
