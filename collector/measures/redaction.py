"""PII redaction for transcripts at ingest: emails, card numbers, phone numbers, US SSNs.

Transcripts are redacted before they are stored or scored, so the raw text never reaches
the database or the logs. Card numbers are recognised by length and the Luhn checksum so
that ordinary long numbers (order ids) survive; phone numbers by shape, and as runs of
spoken digits ("five five five one two one two") because ASR output often spells them out.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# 13-19 digits, optionally grouped by spaces or dashes.
CARD_CANDIDATE = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
PHONE = re.compile(
    r"(?<![\w+])(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?!\w)"
    r"|(?<![\w+])\+\d{8,14}(?!\w)"
    # Ungrouped North American numbers as ASR often writes them (4155550199), by the NANP shape
    # (area code and exchange start 2-9) so that other ten-digit ids mostly survive...
    r"|(?<![\w+])1?[2-9]\d\d[2-9]\d{6}(?!\w)"
    # ...and seven-digit local numbers written with a dash (555-0199; with a dot it is a decimal).
    r"|(?<![\w.+-])\d{3}-\d{4}(?![\w-]|\.\d)"
)
# US social security numbers as written with dashes.
SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
_DIGIT_WORDS = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
SPOKEN_DIGITS = re.compile(rf"\b{_DIGIT_WORDS}(?:[\s,-]+{_DIGIT_WORDS}){{6,}}\b", re.IGNORECASE)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


# Most transcripts hold no digit, no "@" and few digit words: cheap checks decide whether
# the full patterns need to run at all (this is on the ingest hot path).
HAS_DIGIT_OR_AT = re.compile(r"[@\d]")
DIGIT_WORDS = frozenset("zero oh one two three four five six seven eight nine".split())


def _maybe_pii(text: str) -> bool:
    if HAS_DIGIT_OR_AT.search(text):
        return True
    words = text.lower().replace(",", " ").replace("-", " ").split()
    # A set test in C first: most transcripts hold no digit word at all (a regex is slower here).
    return not DIGIT_WORDS.isdisjoint(words) and sum(1 for word in words if word in DIGIT_WORDS) >= 7


def redact(text: str | None) -> str | None:
    if not text or not _maybe_pii(text):
        return text
    if "@" in text:
        text = EMAIL.sub("[EMAIL]", text)
    text = CARD_CANDIDATE.sub(_card, text)
    text = SSN.sub("[SSN]", text)
    text = PHONE.sub("[PHONE]", text)
    text = SPOKEN_DIGITS.sub("[PHONE]", text)
    return text
