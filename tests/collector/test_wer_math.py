import numpy as np
import pytest
from edit_distance import levenshtein
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.measures import wer

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


# -- the one WER module: pair codec, corpus WER and bootstrap that every caller shares ----------

# Real sentence pairs (lower case, no punctuation: the "none" normalizer leaves them as jiwer sees them).
SENTENCES = [
    ("turn on the kitchen lights", "turn on the kitchen light"),
    ("what is the weather like in boston tomorrow", "what is the weather like in austin tomorrow morning"),
    ("call mom", "call mom"),
    ("set an alarm for seven thirty", "set alarm for seven thirteen"),
    ("play the next song", "play next song please"),
]


def test_empty_input_has_no_wer_and_no_interval():
    errors, words, counts = wer.parse_pairs({})
    assert len(errors) == len(words) == len(counts) == 0
    assert wer.corpus_wer(errors, words, counts) is None
    assert wer.corpus_wer(np.zeros(0), np.zeros(0)) is None
    assert wer.bootstrap_interval(errors, words, counts) is None
    assert np.isnan(wer.bootstrap_wers(errors, words, counts, np.random.default_rng(0), 5)).all()
    assert wer.merge_pairs([]) == {} and wer.merge_pairs([{}, {}]) == {}
    assert [len(a) for a in wer.utterance_pairs(np.zeros(0), np.zeros(0))] == [0, 0, 0]
    # Labeled utterances whose references are all empty: still no corpus WER.
    assert wer.corpus_wer(*wer.parse_pairs({"2:0": 3})) is None


def test_pair_codec_round_trips():
    pairs = {(0, 0): 2, (3, 0): 1, (1, 12): 7, (12, 1): 4, (40, 400): 1}
    encoded = {wer.pair_key(e, n): c for (e, n), c in pairs.items()}
    assert set(encoded) == {"0:0", "3:0", "1:12", "12:1", "40:400"}
    assert wer.pair_counts(encoded) == pairs
    assert wer.pair_counts(pairs) == pairs  # tuple keys are accepted as they are
    assert all(wer.parse_pair_key(wer.pair_key(e, n)) == (e, n) for e, n in pairs)
    errors, words, counts = wer.parse_pairs(encoded)
    rows = list(zip(errors.tolist(), words.tolist(), counts.tolist()))
    assert rows == sorted((e, n, c) for (e, n), c in pairs.items())
    for bad in ("3", "a:b", "1:2:3", ""):
        with pytest.raises(ValueError):
            wer.parse_pair_key(bad)


def test_merge_adds_counts_whatever_the_key_form():
    merged = wer.merge_pairs([{"1:5": 2, "0:3": 1}, {(1, 5): 1}, {"0:3": 4, "2:9": 1}])
    assert merged == {(1, 5): 3, (0, 3): 5, (2, 9): 1}
    # The arrays (and so the bootstrap) do not depend on the order the parts came in.
    again = wer.merge_pairs([{"0:3": 4, "2:9": 1}, {(1, 5): 1}, {"1:5": 2, "0:3": 1}])
    assert all((a == b).all() for a, b in zip(wer.parse_pairs(merged), wer.parse_pairs(again)))


def test_corpus_wer_equals_jiwers_corpus_wer_on_real_sentences():
    import jiwer

    refs, hyps = [r for r, _ in SENTENCES], [h for _, h in SENTENCES]
    expected = jiwer.wer(refs, hyps)
    scored = [wer.word_errors(r, h, "none") for r, h in SENTENCES]
    assert expected == pytest.approx(sum(s.errors for s in scored) / sum(s.ref_words for s in scored))
    pairs = wer.merge_pairs({wer.pair_key(s.errors, s.ref_words): 1} for s in scored)
    assert wer.corpus_wer(*wer.parse_pairs(pairs)) == pytest.approx(expected)
    per_utterance = np.array([s.errors for s in scored]), np.array([s.ref_words for s in scored])
    assert wer.corpus_wer(*per_utterance) == pytest.approx(expected)
    assert wer.corpus_wer(*wer.utterance_pairs(*per_utterance)) == pytest.approx(expected)
    assert expected != pytest.approx(np.mean([s.wer for s in scored]))  # the corpus figure, not a mean


def test_utterance_wer_of_an_empty_reference():
    assert wer.utterance_wer(0, 0) == 0.0 and wer.utterance_wer(2, 0) == 1.0
    assert wer.utterance_wer(3, 4) == 0.75
    assert wer.word_errors("", "", "none").wer == 0.0
    assert wer.word_errors("", "extra words", "none").wer == 1.0


def test_bootstrap_is_seeded_and_brackets_the_estimate_from_either_input_form():
    rng = np.random.default_rng(11)
    e = rng.integers(0, 4, 600)
    w = rng.integers(3, 15, 600)
    pairs = wer.merge_pairs({wer.pair_key(a, b): 1} for a, b in zip(e.tolist(), w.tolist()))
    from_pairs = wer.parse_pairs(pairs)
    from_utterances = wer.utterance_pairs(e, w)
    assert all((a == b).all() for a, b in zip(from_pairs, from_utterances))
    point = wer.corpus_wer(*from_pairs)
    lo, hi = wer.bootstrap_interval(*from_pairs, seed=5)
    assert lo < point < hi
    assert (lo, hi) == wer.bootstrap_interval(*from_utterances, seed=5)
    assert (lo, hi) != wer.bootstrap_interval(*from_pairs, seed=6)
    draws = wer.bootstrap_wers(*from_pairs, np.random.default_rng(1), 300)
    assert draws.shape == (300,) and (draws == wer.bootstrap_wers(*from_pairs, np.random.default_rng(1), 300)).all()
    assert abs(float(np.mean(draws)) - point) < 0.01


def test_bootstrap_leaves_out_resamples_without_reference_words():
    # Two utterances, one with an empty reference: a quarter of resamples draw it twice.
    errors, words, counts = wer.parse_pairs({"0:0": 1, "1:4": 1})
    draws = wer.bootstrap_wers(errors, words, counts, np.random.default_rng(0), 400)
    assert 50 < int(np.isnan(draws).sum()) < 150
    assert set(np.round(draws[np.isfinite(draws)], 6)) <= {0.25}
    assert wer.bootstrap_interval(errors, words, counts) == (0.25, 0.25)
