"""Label-free hallucination checks on one transcript, on the text as sent (before redaction).

Pure: a session's hypothesis and the `no_speech_prob` its sender reports in, a reason bitmask
out. Ingest stores the mask per session (`sessions.hallucination`: NULL without a hypothesis, 0
checked and clean) and counts checked and flagged sessions, and each reason, per rollup slice.

The reasons, one bit each:
- `COMPRESSION` (1): the gzip (zlib) compression ratio of the text is above 2.4. Whisper's own
  formula, `len(text_bytes) / len(zlib.compress(text_bytes))` on the UTF-8 text
  (openai/whisper whisper/utils.py `compression_ratio`), and its default threshold, above which
  it treats a decode as a repetition loop and retries hotter (whisper/transcribe.py
  `compression_ratio_threshold=2.4`, compared with `>`). Whisper judges one 30 s window's text;
  a session's transcript may hold many, and zlib compresses any long text past 2.4, so a
  transcript longer than `WINDOW_BYTES` bytes of UTF-8 is judged in windows of that many bytes
  (consecutive; the last one is the last `WINDOW_BYTES` bytes) and flagged when any window is.
  512 bytes is about one 30 s window of speech, in English (~450 characters) as in Chinese
  (~170 characters of 3 bytes). A shorter transcript is judged whole, exactly as Whisper judges
  its (stripped) decoded text.
- `LOOP` (2): a repeated n-gram loop: some n-gram of 1 to `LOOP_MAX_N` words occurs at least
  `LOOP_REPEATS` times back to back ("thank you thank you thank you thank you thank you"). Words
  are the whitespace-separated tokens, lowercased, with ASCII and common Unicode punctuation
  removed ("Thank you." and "thank you," are the same bigram; "don't" reads "dont"); tokens
  that are only punctuation are dropped. Longer loops raise the compression ratio instead.
- `NO_SPEECH` (4): text on audio the sender marks as non-speech: `attributes.no_speech_prob` of
  at least 0.6 (Whisper's `no_speech_threshold`, whisper/transcribe.py) and a transcript with
  at least one word ("Thank you." on silence is Whisper's classic). Whisper itself skips such a
  window only when its `avg_logprob` is also below -1 and compares with `>`; here the sender's
  probability alone marks the audio, and the issue's "at least" is kept.

Texts under `MIN_BYTES` bytes are not compressed: zlib's output of any non-empty input is at
least 9 bytes (2 of header, 4 of checksum, a deflate block of at least one literal and its end
code, 18 bits), so no text under 22 bytes can reach a ratio above 2.4; skipping them changes no
flag. A loop needs `LOOP_REPEATS` words. The thresholds are fixed, not configured: a flag stored
at ingest keeps one meaning for the life of the store.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

COMPRESSION = 1
LOOP = 2
NO_SPEECH = 4
REASONS = {COMPRESSION: "compression_ratio", LOOP: "ngram_loop", NO_SPEECH: "no_speech"}

COMPRESSION_RATIO_THRESHOLD = 2.4  # whisper/transcribe.py compression_ratio_threshold
NO_SPEECH_THRESHOLD = 0.6  # whisper/transcribe.py no_speech_threshold
WINDOW_BYTES = 512
MIN_BYTES = 22  # shorter texts compress to at least 9 bytes: a ratio of at most 21 / 9 < 2.4
LOOP_MAX_N = 4
LOOP_REPEATS = 5
NO_SPEECH_ATTRIBUTE = "no_speech_prob"

_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~…¿¡“”‘’«»—–"


def compression_ratio(text: str) -> float:
    """Whisper's compression ratio of one text (openai/whisper whisper/utils.py)."""
    return _ratio(text.encode("utf-8"))


def _ratio(text_bytes: bytes) -> float:
    return len(text_bytes) / len(zlib.compress(text_bytes))


def max_compression_ratio(text: str) -> float:
    """The highest compression ratio over the stripped transcript's windows of `WINDOW_BYTES`
    bytes (the whole text when it is no longer than that): `compression_ratio` of each."""
    return _max_ratio(text.strip().encode("utf-8"))


def _max_ratio(data: bytes) -> float:
    if len(data) <= WINDOW_BYTES:  # nearly every transcript: no windows to build and compare
        return _ratio(data)
    return max(map(_ratio, _windows(data)))


def _windows(data: bytes) -> list[bytes]:
    """Windows of `WINDOW_BYTES` over data longer than that."""
    starts = [*range(0, len(data) - WINDOW_BYTES, WINDOW_BYTES), len(data) - WINDOW_BYTES]
    return [data[s:s + WINDOW_BYTES] for s in starts]


_NO_PUNCTUATION = str.maketrans("", "", _PUNCTUATION)
_ASCII_PUNCTUATION = "".join(c for c in _PUNCTUATION if c.isascii()).encode("ascii")


def loop_words(text: str) -> list[str]:
    """The words the loop check compares: lowercased, punctuation removed (in C, one pass)."""
    lowered = text.lower()
    if lowered.isascii():  # most transcripts: bytes.translate deletes at C speed, str.translate maps char by char
        return lowered.encode("ascii").translate(None, _ASCII_PUNCTUATION).decode("ascii").split()
    return lowered.translate(_NO_PUNCTUATION).split()


def ngram_loop(words: list[str], max_n: int = LOOP_MAX_N, repeats: int = LOOP_REPEATS) -> int | None:
    """The n of the first loop found: an n-gram (n from 1 to `max_n`) occurring at least
    `repeats` times back to back; None without one.

    A stretch where word i equals word i + n for m positions in a row has period n over m + n
    words: it holds (m + n) // n back-to-back copies of one n-gram."""
    for n in range(1, max_n + 1):
        run = 0
        for a, b in zip(words, words[n:]):
            if a == b:
                run += 1
                if run + n >= repeats * n:
                    return n
            else:
                run = 0
    return None


def no_speech_prob(attributes: Any) -> float | None:
    """`attributes.no_speech_prob` when it is a number (validated at ingest), else None."""
    if not isinstance(attributes, dict):
        return None
    value = attributes.get(NO_SPEECH_ATTRIBUTE)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def hallucination_reasons(text: str | None, speech_absent: float | None = None) -> int | None:
    """The reason bitmask of one transcript (0: none), or None without a transcript (not
    checked). `speech_absent`: the sender's no-speech probability of the audio, if any."""
    if text is None:
        return None
    mask = 0
    words = loop_words(text)
    if speech_absent is not None and speech_absent >= NO_SPEECH_THRESHOLD and words:
        mask |= NO_SPEECH
    # A loop holds LOOP_REPEATS copies of its n words, so at least LOOP_REPEATS - 1 repeated
    # words: a text with fewer (a set, cheap) has none to look for.
    if len(words) - len(set(words)) >= LOOP_REPEATS - 1 and ngram_loop(words) is not None:
        mask |= LOOP
    data = text.strip().encode("utf-8")
    if len(data) >= MIN_BYTES and _max_ratio(data) > COMPRESSION_RATIO_THRESHOLD:
        mask |= COMPRESSION
    return mask


def reason_names(mask: int | None) -> list[str]:
    """The names of a bitmask's reasons, in bit order (`REASONS`)."""
    return [name for bit, name in REASONS.items() if mask and mask & bit]
