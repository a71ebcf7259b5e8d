"""The console's hallucination figures, pure: per-version flag counts (from `GET /api/v1/status`),
the reasons of one session in words, and the Whisper figures the probe sent with it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from collector.measures import hallucination

COLUMNS = ["model_version", "hallucination_checked", "hallucination_flagged", "hallucination_rate",
           "hallucination_compression", "hallucination_loop", "hallucination_no_speech"]
_WORDS = {"compression_ratio": "compression ratio over 2.4", "ngram_loop": "repeated n-gram loop",
          "no_speech": "text on non-speech audio"}
# Whisper's per-utterance figures, as the probe (or a sender) puts them in the session's attributes.
WHISPER_FIGURES = ("no_speech_prob", "compression_ratio", "avg_logprob")


def by_version_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per model version with sessions checked (the status rows of `group_by=model_version`)."""
    kept = [{c: r.get(c) for c in COLUMNS} for r in rows if r.get("hallucination_checked")]
    return pd.DataFrame(kept, columns=COLUMNS)


def reasons_label(mask: int | None) -> str:
    """A session's bitmask as a table cell: the reasons' names, "none" when checked and clean,
    "" when not checked (no transcript)."""
    if mask is None:
        return ""
    return ", ".join(hallucination.reason_names(mask)) or "none"


def session_note(session: Mapping[str, Any]) -> str | None:
    """The warning the debug page shows for a flagged session (None when it is not flagged):
    the reasons in words, then the Whisper figures sent with it."""
    names = session.get("hallucination_reasons") or hallucination.reason_names(session.get("hallucination"))
    if not names:
        return None
    attributes = session.get("attributes") or {}
    figures = [f"{name} {attributes[name]:.3g}" for name in WHISPER_FIGURES
               if isinstance(attributes.get(name), (int, float)) and not isinstance(attributes.get(name), bool)]
    text = "Flagged as hallucinated: " + "; ".join(_WORDS.get(n, n) for n in names)
    return text + (f" ({', '.join(figures)})" if figures else "")
