"""Redaction of structured values: every string inside a JSON-like value (session `attributes`,
span attributes), however deeply nested, goes through `redaction.redact`.

As the OpenTelemetry Collector's redaction processor does (opentelemetry-collector-contrib,
processor/redactionprocessor/processor.go: `processAttrs` masks attribute values, and
`redactLogBodyRecursive` walks nested maps and slices), values are masked and keys are kept:
a key names a field the sender chose ("client_version", "caller.phone"), and rewriting keys
could merge two of them into one. Numbers, booleans and null are not text and are kept as sent.
"""

from __future__ import annotations

from typing import Any

from collector.measures.redaction import redact


# Attribute values repeat from session to session ("mobile-sdk-7.4.0", "eu-west-1"), and a digit
# alone sends a string through every pattern (about 10 us; ingest spends about 26 us per session in
# all). Strings redaction left unchanged are remembered, so a repeat costs a dict lookup. Only
# those: the set holds no text that redaction would have hidden, nothing the database does not.
_CLEAN: dict[str, None] = {}
_CLEAN_MAX = 4096  # strings remembered; the set starts over when full
_CLEAN_CHARS = 256  # longer strings are rarely repeated: not remembered
_SCALARS = (int, float, bool)  # kept as sent


# Attribute strings are cut to this many characters before they are redacted: redaction costs up
# to about 1.3 us per character ("1 1 1 ..."), and it runs inside the ingest write turn, so an
# uncapped 4 MB attribute would hold every other writer for seconds. Cut, then redact: the stored
# string is at most this long. A cut inside a token (or a run of digits and separators, a phone or
# card number read out in groups) drops that partial token, so a PII item split by the cut is not
# left half-visible where its whole would have been redacted.
MAX_ATTRIBUTE_CHARS = 4096
_GROUPED = frozenset("0123456789 ()+-./")


def cap_text(text: str, limit: int = MAX_ATTRIBUTE_CHARS) -> str:
    """`text` cut to at most `limit` characters, without a partial token at the end."""
    if len(text) <= limit:
        return text
    end = limit
    if not text[end].isspace():
        # Back to the token's start (an email is at most 254 characters; a longer token is cut).
        while end > max(0, limit - 256) and not text[end - 1].isspace():
            end -= 1
        if end == 0 or not text[end - 1].isspace():
            end = limit
    if not (text[end] in _GROUPED and any(ch.isdigit() for ch in text[end:end + 3])):
        return text[:end]
    start, floor = end, max(0, end - 64)
    while start > floor and text[start - 1] in _GROUPED:  # "+44 (0)20 7946 0958" is 19 characters
        start -= 1
    return text[:start if start > floor or floor == 0 else end]


def _redact_text(text: str) -> str:
    text = cap_text(text)
    if text in _CLEAN:
        return text
    out = redact(text)
    if out == text and len(text) <= _CLEAN_CHARS:
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN[text] = None
    return out


def redact_strings(value: Any) -> Any:
    """`value` with every string in it redacted: a new dict or list where something nested is,
    the very same object where nothing is (a str that needs no redaction, a number, None)."""
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, dict):
        # Most attribute maps hold only strings redaction has seen clean, and numbers: the same map back.
        for item in value.values():
            if not (item in _CLEAN if type(item) is str else item is None or type(item) in _SCALARS):
                return {key: redact_strings(item) for key, item in value.items()}
        return value
    if isinstance(value, (list, tuple)):
        return [redact_strings(item) for item in value]
    return value
