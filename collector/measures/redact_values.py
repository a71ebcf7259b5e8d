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


def _redact_text(text: str) -> str:
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
        return {key: redact_strings(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_strings(item) for item in value]
    return value
