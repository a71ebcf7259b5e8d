"""A batch of sessions as columns: the form in which ingest stores, folds and counts them.

Ingest uses each batch three ways: as `sessions` rows, folded into per-minute rollups
(`collector.store.rollups`) and counted into the Prometheus metrics (`collector.api.metrics`). Row by
row, each of the three looked up every field of every session again, and that was most of the
collector's ingest time. Here each field is read once into a column, and the per-session
arithmetic (bucket codes, sums, counts per slice) becomes a few numpy calls per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from operator import itemgetter
from typing import Any

import numpy as np

from collector.measures import hallucination, hypothesis_words, redact, redact_strings
from collector.store.dimensions import FIXED_ONLY, Dimensions, stored_values
from collector.store.models import CUSTOM_SLOTS, ROLLUP_DIMENSIONS, Session
from collector.store.rollups import EPOCH
from collector.store.schemas import SESSION_DEFAULTS

UNKNOWN = "unknown"  # a dimension the sender left unset
COLUMNS = tuple(c.name for c in Session.__table__.columns)
_MICROSECOND = timedelta(microseconds=1)
_DERIVED = ("received_at", "hypothesis_words", "hallucination", *CUSTOM_SLOTS)  # set by ingest, not sent


class SessionBatch:
    """Sessions as stored: one list per column of `sessions`, with the dimensions filled in
    ("unknown" where unset), the transcripts and every string in `attributes` redacted, the
    transcripts' words counted and their hallucination reasons checked (on the text as sent)."""

    def __init__(self, columns: dict[str, list[Any]]) -> None:
        self.columns = columns
        self._floats: dict[str, np.ndarray] = {}

    @classmethod
    def of(cls, records: Sequence[Mapping[str, Any]], received_at: datetime,
           dimensions: Dimensions = FIXED_ONLY) -> SessionBatch:
        """From validated records, received at `received_at`. A record holds the fields of
        `SessionIn`; one validated as `SessionFields` may leave out those at their default.
        The configured `dimensions` are read from `attributes` (as redacted) into their slots;
        a value `dimensions.value_of` refuses must have been rejected before (the ingest routes do)."""
        columns: dict[str, list[Any]] = {}
        for name in COLUMNS:
            if name in SESSION_DEFAULTS:
                default = SESSION_DEFAULTS[name]
                columns[name] = [record.get(name, default) for record in records]
            elif name not in _DERIVED:
                columns[name] = list(map(itemgetter(name), records))
        for dim in ROLLUP_DIMENSIONS:
            columns[dim] = [value or UNKNOWN for value in columns[dim]]
        # Checked on the texts as sent, before redaction (as WER is scored); only the reasons are kept.
        columns["hallucination"] = [
            None if text is None else hallucination.hallucination_reasons(text, hallucination.no_speech_prob(attributes))
            for text, attributes in zip(columns["hypothesis"], columns["attributes"])]
        columns["hypothesis"] = [redact(text) for text in columns["hypothesis"]]
        # Every string in `attributes`, nested ones too: senders put caller details there.
        columns["attributes"] = [None if a is None else redact_strings(a) for a in columns["attributes"]]
        for slot in CUSTOM_SLOTS:
            columns[slot] = [None] * len(records)
        for name, slot in dimensions.custom.items():
            columns[slot] = stored_values([None if a is None else a.get(name) for a in columns["attributes"]])
        columns["hypothesis_words"] = list(map(hypothesis_words, columns["hypothesis"]))  # of the text as stored
        columns["received_at"] = [received_at] * len(records)
        return cls(columns)

    @classmethod
    def empty(cls) -> SessionBatch:
        return cls({name: [] for name in COLUMNS})

    def __len__(self) -> int:
        return len(self.columns["session_id"])

    def select(self, keep: Sequence[bool]) -> SessionBatch:
        """The sessions where `keep` is true, in order."""
        return SessionBatch({name: [v for v, k in zip(values, keep) if k] for name, values in self.columns.items()})

    def slice_values(self, column: str) -> list[str]:
        """A slice column as the rollups key it: a slot left unset reads `unknown`."""
        values = self.columns[column]
        return [UNKNOWN if v is None else v for v in values] if column in CUSTOM_SLOTS else values

    def rows(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        return [dict(zip(names, values)) for values in zip(*self.columns.values())]

    def floats(self, name: str) -> np.ndarray:
        """A numeric column as float64, NaN where unset."""
        array = self._floats.get(name)
        if array is None:
            array = self._floats[name] = np.array(self.columns[name], dtype=np.float64)
        return array

    @cached_property
    def epoch_microseconds(self) -> np.ndarray:
        """`ts` as whole microseconds since the epoch (exact, unlike float timestamps)."""
        return np.array([(ts - EPOCH) // _MICROSECOND for ts in self.columns["ts"]], dtype=np.int64)

    @cached_property
    def epoch_minutes(self) -> np.ndarray:
        return self.epoch_microseconds // 60_000_000

    def ts_texts(self) -> list[str]:
        """`ts` in the text form SQLAlchemy stores on SQLite (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC)."""
        stamps = np.datetime_as_string(self.epoch_microseconds.astype("datetime64[us]")).tolist()
        return [text.replace("T", " ") for text in stamps]

    @cached_property
    def status(self) -> np.ndarray:
        return np.array(self.columns["status"], dtype=str)

    @cached_property
    def shadow(self) -> np.ndarray:
        return np.array([bool(s) for s in self.columns["shadow"]], dtype=bool)

    @cached_property
    def successful(self) -> np.ndarray:
        """Successful turns: status ok, not shadow traffic, turn_success not false."""
        not_failed = np.array([t is not False for t in self.columns["turn_success"]], dtype=bool)
        return (self.status == "ok") & ~self.shadow & not_failed

    @cached_property
    def hallucination_reasons(self) -> np.ndarray:
        """Each session's hallucination bitmask, -1 where not checked (no hypothesis)."""
        return np.array([-1 if m is None else m for m in self.columns["hallucination"]], dtype=np.int64)

    @cached_property
    def cache_hits(self) -> np.ndarray:
        """1 where a cache answered the session, 0 where it did not, -1 where the sender did not say."""
        return np.array([-1 if hit is None else int(hit) for hit in self.columns["cache_hit"]], dtype=np.int8)

    @cached_property
    def backends(self) -> np.ndarray:
        """The backend that served each session ("" where the sender did not say)."""
        return np.array([backend or "" for backend in self.columns["backend"]], dtype=str)

    @cached_property
    def empty_hypothesis(self) -> np.ndarray:
        """ok sessions whose transcript is present but blank."""
        blank = np.array([h is not None and not h.strip() for h in self.columns["hypothesis"]], dtype=bool)
        return (self.status == "ok") & blank

