"""Folding a batch of sessions into rollup deltas, as columns.

A batch of 1000 sessions touches a few hundred minute x slice rollups, most of them new. The
fold adds each counter up for every slice at once (`bincount`), and each histogram too (`unique`
over slice and bucket). The result reads as the usual `{rollup_key: Delta}` mapping, each Delta
made only when asked for (for late data). Rows are rendered straight from the columns, as both
engines' upserts take them (`upsert_row`): no dict per row and histogram in between.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import get_args

import numpy as np

from collector.measures import groups_of, histogram, sums
from collector.store.models import ROLLUP_DIMENSIONS
from collector.store.rollups import (
    COUNTERS,
    EPOCH,
    HISTOGRAMS,
    SUMS,
    Delta,
    confidence_codes,
    empty_delta,
    key_of,
    snr_codes,
    sqlite_datetime,
)
from collector.store.schemas import Status
from collector.store.session_batch import SessionBatch

_STATUSES = get_args(Status)
_SESSION_HISTOGRAMS = {
    "latency_hist": ("final_latency_ms", histogram.bucket_codes),
    "first_partial_hist": ("first_partial_ms", histogram.bucket_codes),
    "queue_hist": ("queue_ms", histogram.bucket_codes),
    "confidence_hist": ("confidence", confidence_codes),
    "snr_hist": ("snr_db", snr_codes),
}


class SessionDeltas(Mapping[str, Delta]):
    """One batch's deltas: per rollup key, its minute, slice, counters, sums and histograms."""

    def __init__(self, keys: list[str], minutes: list[datetime], dims: list[tuple[str, ...]],
                 counters: list[list[int]], totals: list[list[float]],
                 entries: tuple[list[int], list[int], list[tuple[int, int] | None]],
                 texts: list[tuple[str, ...]]) -> None:
        """`entries`: every histogram's codes and counts, and where the entries of histogram h
        (in `_SESSION_HISTOGRAMS` order) of key i run: `spans[h * len(keys) + i]`."""
        self._index = {key: i for i, key in enumerate(keys)}
        self._keys, self._minutes, self._dims = keys, minutes, dims
        self._counters, self._totals = counters, totals
        self._entries, self._texts = entries, texts
        self._made: dict[str, Delta] = {}
        self._minute_texts: dict[datetime, str] = {}

    def __getitem__(self, key: str) -> Delta:
        delta = self._made.get(key)
        if delta is None:
            i = self._index[key]
            delta = empty_delta(self._minutes[i], dict(zip(ROLLUP_DIMENSIONS, self._dims[i])))
            delta.update(zip(COUNTERS, self._counters[i]))
            delta.update(zip(SUMS, self._totals[i]))
            codes, counts, spans = self._entries
            for h, name in enumerate(_SESSION_HISTOGRAMS):
                span = spans[h * len(self._keys) + i]
                if span is not None:
                    delta[name] = dict(zip(codes[span[0]:span[1]], counts[span[0]:span[1]]))
            self._made[key] = delta
        return delta

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def minute(self, key: str) -> datetime:
        return self._minutes[self._index[key]]

    def upsert_row(self, key: str) -> tuple:
        """`rollups.upsert_row` of `self[key]`, from the columns."""
        i = self._index[key]
        minute = self._minutes[i]
        text = self._minute_texts.get(minute)
        if text is None:
            text = self._minute_texts[minute] = sqlite_datetime(minute)
        return (key, text, *self._dims[i], *self._counters[i], *self._totals[i], *self._texts[i])


def fold_sessions(batch: SessionBatch) -> SessionDeltas:
    """The deltas of new sessions (as stored: dimensions filled, transcripts redacted)."""
    epoch_minutes = batch.epoch_minutes.tolist()
    slices, group = groups_of(list(zip(epoch_minutes, *(batch.columns[d] for d in ROLLUP_DIMENSIONS))))
    n = len(slices)
    confidence, snr = batch.floats("confidence"), batch.floats("snr_db")
    counted = {
        "sessions": sums(group, n),
        **{"status_" + s: sums(group, n, where=batch.status == s) for s in _STATUSES},
        "successful_turns": sums(group, n, where=batch.successful),
        "shadow_sessions": sums(group, n, where=batch.shadow),
        "retries": sums(group, n, batch.floats("retries")),
        "empty_hypotheses": sums(group, n, where=batch.empty_hypothesis),
        "partial_rewrites": sums(group, n, batch.floats("partial_rewrites")),
        "confidence_count": sums(group, n, where=~np.isnan(confidence)),
        "snr_count": sums(group, n, where=~np.isnan(snr)),
    }
    added = {"audio_seconds": sums(group, n, batch.floats("audio_seconds")),
             "gpu_seconds": sums(group, n, batch.floats("gpu_seconds")),
             "confidence_sum": sums(group, n, confidence), "snr_sum": sums(group, n, snr)}
    zero = np.zeros(n)
    counters = np.array([counted.get(c, zero) for c in COUNTERS]).astype(np.int64).T.tolist()
    totals = np.array([added[s] for s in SUMS]).T.tolist()
    # All five histograms at once, histogram h of slice i as group h * n + i: with small batches
    # the numpy calls, not the sessions, were most of the fold's time.
    owners, codes = [], []
    for h, (column, codes_of) in enumerate(_SESSION_HISTOGRAMS.values()):
        values = batch.floats(column)
        present = ~np.isnan(values)
        owners.append(group[present] + h * n)
        codes.append(codes_of(values[present]))
    entries, all_texts = _histograms(np.concatenate(owners), np.concatenate(codes), len(_SESSION_HISTOGRAMS) * n)
    texts = {name: all_texts[h * n:(h + 1) * n] for h, name in enumerate(_SESSION_HISTOGRAMS)}
    empty = ["{}"] * n
    minute_of = {m: EPOCH + timedelta(minutes=m) for m in set(epoch_minutes)}
    return SessionDeltas(
        keys=[key_of(m, dims) for m, *dims in slices],
        minutes=[minute_of[m] for m, *_ in slices],
        dims=[tuple(dims) for _, *dims in slices],
        counters=counters, totals=totals, entries=entries,
        texts=list(zip(*(texts.get(name, empty) for name in HISTOGRAMS))))


def _histograms(group: np.ndarray, codes: np.ndarray, n: int
                ) -> tuple[tuple[list[int], list[int], list[tuple[int, int] | None]], list[str]]:
    """Each group's histogram: its entries (distinct codes ascending, their counts, and where
    the group's run of them starts and ends) and its JSON text, as the rollup stores it."""
    spans: list[tuple[int, int] | None] = [None] * n
    texts = ["{}"] * n
    if not codes.size:
        return ([], [], spans), texts
    low = int(codes.min())
    span = int(codes.max()) - low + 1
    pairs, counts = np.unique(group * span + (codes - low), return_counts=True)
    owners, offsets = np.divmod(pairs, span)
    code_list, count_list = (offsets + low).tolist(), counts.tolist()
    parts = [f'"{code}":{count}' for code, count in zip(code_list, count_list)]
    starts = np.flatnonzero(np.diff(owners, prepend=-1))
    ends = np.append(starts[1:], len(pairs)).tolist()
    for owner, start, end in zip(owners[starts].tolist(), starts.tolist(), ends):
        spans[owner] = (start, end)
        texts[owner] = "{" + ",".join(parts[start:end]) + "}"
    return (code_list, count_list, spans), texts

