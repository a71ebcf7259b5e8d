"""CER and the language's normalizer (#20 part 4), against jiwer and Whisper's own normalizers.

The references are independent of our code: `jiwer.cer` / `jiwer.wer` on the same normalized
strings, openai-whisper's normalizers (openai/whisper whisper/normalizers/english.py and
basic.py) for what each language's words become, and, for CER outside English, the Unicode
rules written out below (NFKC, casefold, punctuation and symbols dropped, marks kept)."""

import re
import unicodedata

import jiwer
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prerequisites import need_module

from collector.measures import wer

# openai-whisper is in the `probe` extra that CI installs (.ci/setup): under CI=true its absence fails.
whisper_normalizers = need_module("whisper.normalizers")

# (language, reference, hypothesis): real sentences with punctuation, case and numbers.
SENTENCES = [
    ("en", "Turn on the kitchen lights, please!", "turn on the kitchen light please"),
    ("en", "Mr. Smith paid twenty dollars.", "mister smith paid $20"),
    ("es", "¿Dónde está la estación de tren?", "donde esta la estacion del tren"),
    ("de-DE", "Die Straße ist sehr schön.", "die strasse ist sehr schon"),
    ("fr", "Il fait très beau aujourd'hui.", "il fait tres beau aujourdhui"),
    ("zh", "我爱北京天安门。", "我爱北京天安"),
    ("zh-CN", "今天天气很好，我们去公园吧！", "今天天气很好我们去公园"),
    ("ja", "東京駅はどこですか？", "東京駅はどこでしか"),
    ("ko", "안녕하세요, 만나서 반갑습니다.", "안녕하세요 만나서 반갑습니다"),
    ("th", "สวัสดีครับ ยินดีที่ได้รู้จัก", "สวัสดีค่ะ ยินดีที่ได้รู้จัก"),
]


SPACELESS = {"zh", "ja", "ko", "th"}


def _whisper_normalized(language: str, text: str) -> str:
    if wer.language_code(language) == "en":
        return whisper_normalizers.EnglishTextNormalizer()(text)
    return whisper_normalizers.BasicTextNormalizer()(text)


def _marks_kept(text: str) -> str:
    # Whisper's basic normalizer with marks (category M*) kept: NFKC, casefold, "[..]", "<..>"
    # and "(..)" annotations out, punctuation (P*) and symbols (S*) to spaces.
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\([^)]+?\)", "", re.sub(r"[<\[][^>\]]*[>\]]", "", text))
    return " ".join("".join(" " if unicodedata.category(c).startswith(("P", "S")) else c for c in text).split())


def _word_normalized(language: str, text: str) -> str:
    return _marks_kept(text) if wer.language_code(language) in SPACELESS else _whisper_normalized(language, text)


def _char_normalized(language: str, text: str) -> str:
    return _whisper_normalized(language, text) if wer.language_code(language) == "en" else _marks_kept(text)


@pytest.mark.parametrize(("language", "reference", "hypothesis"), SENTENCES)
def test_the_language_picks_whisper_normalizer_and_counts_match_jiwer(language, reference, hypothesis):
    ref, hyp = _word_normalized(language, reference), _word_normalized(language, hypothesis)
    spaceless = wer.language_code(language) in SPACELESS
    scores = wer.word_errors(reference, hypothesis, "language", language=language)
    # Word errors: jiwer's WER on Whisper's normalized words.
    words_ref, words_hyp = " ".join(ref.split()), " ".join(hyp.split())
    assert scores.ref_words == len(words_ref.split())
    assert scores.wer == pytest.approx(jiwer.wer(words_ref, words_hyp))
    # Character errors: jiwer's CER, on the characters without whitespace for spaceless scripts.
    ref, hyp = _char_normalized(language, reference), _char_normalized(language, hypothesis)
    chars_ref = "".join(ref.split()) if spaceless else " ".join(ref.split())
    chars_hyp = "".join(hyp.split()) if spaceless else " ".join(hyp.split())
    assert scores.ref_chars == len(chars_ref)
    assert scores.cer == pytest.approx(jiwer.cer(chars_ref, chars_hyp))


def test_spaceless_languages_ignore_punctuation_turned_into_spaces():
    # Basic normalization turns "，" into a space; without dropping whitespace for Chinese, the
    # hypothesis written without the comma would score a character error it does not have.
    scores = wer.word_errors("今天天气很好，我们去公园吧", "今天天气很好我们去公园吧", "language", language="zh")
    assert (scores.char_errors, scores.ref_chars) == (0, 12)
    assert scores.errors == 2  # as words, the comma split one "word" in two: why WER does not fit


@pytest.mark.parametrize(("reference", "hypothesis", "char_errors"), [
    ("สวัสดีครับ", "สวสดครบ", 3),  # three vowel marks (ั ี ั) dropped
    ("ค่ะ", "คะ", 1),  # the tone mark (่) dropped: a different word
])
def test_thai_marks_count_as_characters(reference, hypothesis, char_errors):
    # Whisper's basic normalizer turns each mark into a space and CER then ignored them all.
    scores = wer.word_errors(reference, hypothesis, "language", language="th")
    assert scores.char_errors == char_errors
    assert scores.ref_chars == len(reference)
    assert scores.cer == pytest.approx(jiwer.cer(reference, hypothesis))


def test_marks_count_for_cer_in_spaced_scripts_too():
    # Devanagari: the virama (्) is a mark; Whisper's basic normalizer dropped it for CER too.
    scores = wer.word_errors("नमस्ते", "नमसते", "language", language="hi")
    assert (scores.char_errors, scores.ref_chars) == (1, 6)


def test_language_codes_and_normalizer_choice():
    assert wer.language_code("zh-Hant-TW") == "zh"
    assert wer.language_code("en_US") == "en"
    assert wer.language_code("unknown") is None and wer.language_code(None) is None
    assert wer.normalizer_for("en-GB") == "whisper_en"
    assert wer.normalizer_for("es") == "basic"
    assert wer.normalizer_for("th-TH") == wer.MARKS_KEPT  # spaceless: Whisper's basic drops Thai marks
    assert wer.char_normalizer_for("es") == wer.MARKS_KEPT and wer.char_normalizer_for("en") == "whisper_en"
    assert wer.char_normalizer_for("es", "none") == "none"
    assert wer.normalizer_for(None) == "whisper_en"  # unset: scored as before languages chose
    assert wer.normalizer_for("es", "whisper_en") == "whisper_en"  # a configured name applies to all
    assert wer.written_without_spaces("ja-JP") and not wer.written_without_spaces("en")


def test_english_normalization_applies_only_to_english():
    # The English normalizer spells "colour" as "color"; the basic one leaves Spanish words alone.
    assert wer.word_errors("the colour", "the color", "language", language="en").errors == 0
    assert wer.word_errors("the colour", "the color", "language", language="es").errors == 1


LETTERS = "abc 北京"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=LETTERS, max_size=15), st.text(alphabet=LETTERS, max_size=15), st.sampled_from(["en", "zh"]))
def test_char_counts_equal_jiwer_cer(reference, hypothesis, language):
    ref = wer.characters(reference, wer.written_without_spaces(language))
    hyp = wer.characters(hypothesis, wer.written_without_spaces(language))
    errors, ref_chars = wer.char_counts(ref, hyp)
    assert ref_chars == len(ref)
    if ref:
        assert errors / ref_chars == pytest.approx(jiwer.cer(ref, hyp))
    else:
        assert errors == len(hyp)  # every character on an empty reference is an insertion


def test_corpus_cer_sums_characters_through_the_pair_codec():
    # Two utterances: 1 error in 7 characters and 0 in 3: 1/10, as WER's pairs are summed.
    pairs = {wer.pair_key(1, 7): 1, wer.pair_key(0, 3): 1}
    assert wer.corpus_wer(*wer.parse_pairs(pairs)) == pytest.approx(0.1)
