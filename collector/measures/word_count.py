"""The stored `sessions.hypothesis_words`: the transcript's word count as drift reads it.

Drift used to count the words of every transcript in SQL on each scan (a second of string
work at a million sessions); ingest now stores the count next to the text. The definition is
the one that SQL had, so reports stay what they were: spaces only (not tabs or newlines) trim
and separate words, every single space counts (two spaces in a row make an empty word), a
blank transcript has 0 words and a missing one (never sent, or removed by retention) none.
Migration 0008 backfills stored rows with the same definition written in SQL.
"""

from __future__ import annotations


def hypothesis_words(text: str | None) -> int | None:
    if text is None:
        return None
    trimmed = text.strip(" ")
    return trimmed.count(" ") + 1 if trimmed else 0
