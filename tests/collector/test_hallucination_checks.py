"""The label-free hallucination checks (`collector.measures.hallucination`) against Whisper's
own code: its compression ratio (openai/whisper whisper/utils.py `compression_ratio`) and its
thresholds (whisper/transcribe.py `transcribe` defaults), read from the installed package."""

from __future__ import annotations

import importlib
import inspect
import random
import zlib

import pytest
import whisper.utils

from collector.measures import hallucination as h

_VOCABULARY = ("please call the bank about my account balance and send a transfer today can you check this order "
               "for me i need help with new card tomorrow morning set reminder play music turn on lights").split()


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_VOCABULARY) for _ in range(words))


def test_thresholds_are_whispers_defaults():
    # `whisper.transcribe` is the function once the package is imported; the module holds it.
    module = importlib.import_module("whisper.transcribe")
    defaults = inspect.signature(module.transcribe).parameters
    assert defaults["compression_ratio_threshold"].default == h.COMPRESSION_RATIO_THRESHOLD == 2.4
    assert defaults["no_speech_threshold"].default == h.NO_SPEECH_THRESHOLD == 0.6


@pytest.mark.parametrize("text", [
    "thank you", "Thank you. Thank you. Thank you. Thank you. Thank you. Thank you. Thank you.",
    "please call the bank about my account balance", "谢谢观看。谢谢观看。谢谢观看。谢谢观看。", "é" * 40, "x",
])
def test_compression_ratio_is_whispers(text):
    assert h.compression_ratio(text) == whisper.utils.compression_ratio(text)


def test_a_transcript_within_one_window_is_judged_as_whisper_judges_it():
    rng = random.Random(7)
    flagged = 0
    for _ in range(400):
        base = _sentence(rng, rng.randint(1, 12))
        text = " ".join([base] * rng.randint(1, 8))  # from plain speech to a loop
        if len(text.encode()) > h.WINDOW_BYTES:
            continue
        whisper_flags = whisper.utils.compression_ratio(text) > 2.4
        assert h.max_compression_ratio(text) == whisper.utils.compression_ratio(text)
        assert bool(h.hallucination_reasons(text) & h.COMPRESSION) == whisper_flags, text
        flagged += whisper_flags
    assert 50 < flagged < 350  # both outcomes exercised


def test_long_transcripts_are_judged_per_window():
    rng = random.Random(3)
    speech = " ".join(_sentence(rng, 12) + "." for _ in range(60))  # about 4 kB of plain speech
    assert len(speech.encode()) > 6 * h.WINDOW_BYTES
    # Whole, zlib compresses it past Whisper's threshold; no window of it is past it.
    assert whisper.utils.compression_ratio(speech) > 2.4
    windows = h._windows(speech.encode())
    assert max(whisper.utils.compression_ratio(w.decode("utf-8", "ignore")) for w in windows) <= 2.4
    assert not h.hallucination_reasons(speech) & h.COMPRESSION
    # A loop in the middle of it is flagged: its window compresses past 2.4.
    looped = speech[:2000] + " " + "I'm going to go to the store. " * 20 + speech[2000:]
    assert h.hallucination_reasons(looped) & h.COMPRESSION
    # Windows cover every byte, each WINDOW_BYTES long, the last one ending at the end.
    data = looped.encode()
    parts = h._windows(data)
    assert all(len(p) == h.WINDOW_BYTES for p in parts) and parts[-1] == data[-h.WINDOW_BYTES:]
    assert b"".join(parts[:-1]) == data[:len(parts[:-1]) * h.WINDOW_BYTES]
    assert len(parts[:-1]) * h.WINDOW_BYTES + h.WINDOW_BYTES >= len(data)


def test_texts_under_min_bytes_cannot_pass_the_threshold():
    # zlib's shortest output for non-empty input is 9 bytes, so 21 bytes reach at most 21 / 9.
    rng = random.Random(11)
    shortest = min(len(zlib.compress(bytes(rng.choice(b"ab ") for _ in range(rng.randint(1, 21)))))
                   for _ in range(5000))
    assert shortest >= 9 and len(zlib.compress(b"a")) == 9
    assert 21 / 9 <= h.COMPRESSION_RATIO_THRESHOLD
    assert max(whisper.utils.compression_ratio("a" * n) for n in range(1, h.MIN_BYTES)) <= 2.4
    assert whisper.utils.compression_ratio("a" * 40) > 2.4 and h.hallucination_reasons("a" * 40) & h.COMPRESSION


@pytest.mark.parametrize("text, n", [
    ("you you you you you", 1),
    ("Thank you. Thank you. Thank you. Thank you. Thank you.", 2),
    ("so i said so i said so i said so i said so i said okay", 3),
    ("a b c d a b c d a b c d a b c d a b c d", 4),
    ("THE END, the end the end... The End! the end", 2),
])
def test_ngram_loops(text, n):
    assert h.ngram_loop(h.loop_words(text)) == n
    assert h.hallucination_reasons(text) & h.LOOP


@pytest.mark.parametrize("text", [
    "you you you you",  # four times: not yet a loop
    "thank you thank you thank you thank you",
    "no no no no, yes yes",
    "a b c d e a b c d e a b c d e a b c d e a b c d e",  # a 5-gram: the compression check's job
    "please call the bank about my account balance and send a transfer today",
    "",
])
def test_not_loops(text):
    assert h.ngram_loop(h.loop_words(text)) is None
    assert not (h.hallucination_reasons(text) or 0) & h.LOOP


def test_loop_count_is_back_to_back():
    # Five copies, but one is interrupted: the longest back-to-back run is three.
    words = "go home go home go home now go home go home".split()
    assert h.ngram_loop(words) is None
    assert h.ngram_loop(words, repeats=3) == 2


def test_text_on_non_speech_audio():
    assert h.hallucination_reasons("Thank you.", 0.6) == h.NO_SPEECH
    assert h.hallucination_reasons("Thank you.", 0.95) == h.NO_SPEECH
    assert h.hallucination_reasons("Thank you.", 0.5999) == 0
    assert h.hallucination_reasons("Thank you.", None) == 0
    assert h.hallucination_reasons("", 0.99) == 0  # nothing said on silence: right
    assert h.hallucination_reasons(" ... ", 0.99) == 0  # punctuation only: no word
    assert h.hallucination_reasons(None, 0.99) is None  # no transcript: not checked


def test_reasons_combine():
    looped = "Thank you. " * 12
    mask = h.hallucination_reasons(looped, 0.9)
    assert mask == h.COMPRESSION | h.LOOP | h.NO_SPEECH
    assert h.reason_names(mask) == ["compression_ratio", "ngram_loop", "no_speech"]
    assert h.reason_names(0) == [] and h.reason_names(None) == []


@pytest.mark.parametrize("attributes, expected", [
    ({"no_speech_prob": 0.7}, 0.7), ({"no_speech_prob": 1}, 1.0), ({"no_speech_prob": True}, None),
    ({"no_speech_prob": "0.9"}, None), ({}, None), (None, None), ({"no_speech_prob": float("nan")}, None),
])
def test_no_speech_prob_from_attributes(attributes, expected):
    assert h.no_speech_prob(attributes) == expected


def test_ascii_words_are_the_general_path_words():
    """An ASCII transcript takes the bytes path of `loop_words`: it must split exactly as the
    character-table path does, every ASCII character included."""
    texts = ["Thank you. THANK you, thank-you! (don't) stop?", "".join(map(chr, range(128))) * 2, "a\tb\nc  d",
             "K kelvin sign lowers to ascii", "naïve café…"]
    for text in texts:
        assert h.loop_words(text) == text.lower().translate(h._NO_PUNCTUATION).split()
