"""Folding a batch of sessions into rollup deltas, as columns.

A batch of 1000 sessions touches a few hundred minute x slice rollups, most of them new. The
fold adds each counter up for every slice at once (`bincount`), and each histogram too (`unique`
over slice and bucket). The result reads as the usual `{rollup_key: Delta}` mapping, each Delta
made only when asked for (for late data). Rows are rendered straight from the columns, as both
engines' upserts take them (`upsert_row`): no dict per row and histogram in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import get_args

import numpy as np

from collector.measures import groups_of, hallucination, histogram
from collector.store.models import ROLLUP_COLUMNS
from collector.store.rollups import (
    COUNTERS,
    EPOCH,
    SUMS,
    Delta,
    confidence_codes,
    empty_delta,
    key_of,
    snr_codes,
    sqlite_datetime,
)
from collector.store.schemas import FALLBACK_BACKEND, Status
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
    """One batch's deltas: per rollup key, its minute, slice, counters, sums and histograms.
    Only those sessions add to (`value_columns`) are held and rendered: the rest stay zero."""

    def __init__(self, keys: list[str], minutes: list[datetime], dims: list[tuple[str, ...]],
                 counters: list[list[int]], totals: list[list[float]],
                 entries: tuple[list[int], list[int], list[int], list[int]],
                 texts: list[tuple[str, ...]]) -> None:
        """`counters`: per key, the `_COUNTED` counters; `totals`: the `SUMS`; `texts`: the
        `_SESSION_HISTOGRAMS` as JSON text. `entries`: every histogram's codes and counts, in
        runs: histogram h (in `_SESSION_HISTOGRAMS` order) of key i is group h * len(keys) + i;
        each run's group and where it starts."""
        self._index = {key: i for i, key in enumerate(keys)}
        self._keys, self._minutes, self._dims = keys, minutes, dims
        self._counters, self._totals = counters, totals
        self._entries, self._texts = entries, texts
        self._made: dict[str, Delta] = {}
        self._minute_texts: dict[datetime, str] = {}
        self._spans: dict[int, tuple[int, int]] | None = None  # group -> its run, once a Delta is asked for

    def __getitem__(self, key: str) -> Delta:
        delta = self._made.get(key)
        if delta is None:
            i = self._index[key]
            delta = empty_delta(self._minutes[i], dict(zip(ROLLUP_COLUMNS, self._dims[i])))
            delta.update(zip(_COUNTED, self._counters[i]))
            delta.update(zip(SUMS, self._totals[i]))
            codes, counts, run_groups, run_starts = self._entries
            if self._spans is None:
                self._spans = dict(zip(run_groups, zip(run_starts, [*run_starts[1:], len(codes)])))
            for h, name in enumerate(_SESSION_HISTOGRAMS):
                span = self._spans.get(h * len(self._keys) + i)
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

    def dims(self, key: str) -> tuple[str, ...]:
        """The key's slice: its value of each of `ROLLUP_COLUMNS`."""
        return self._dims[self._index[key]]

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The rollup columns sessions add to, in the order `upsert_row` gives them
        (`rollups.value_columns_of`)."""
        return SESSION_VALUE_COLUMNS

    def upsert_row(self, key: str) -> tuple:
        """`rollups.upsert_row` of `self[key]` with `value_columns`, from the columns."""
        i = self._index[key]
        minute = self._minutes[i]
        text = self._minute_texts.get(minute)
        if text is None:
            text = self._minute_texts[minute] = sqlite_datetime(minute)
        return (key, text, *self._dims[i], *self._counters[i], *self._totals[i], *self._texts[i])


# What a session adds to its slice, one matrix column each: the counters sessions count (the
# wer_* ones are the samples'), then the sums. `_measures` fills the columns in this order.
_COUNTED = ("sessions", *("status_" + s for s in _STATUSES), "successful_turns", "shadow_sessions", "retries",
            "empty_hypotheses", "partial_rewrites", "confidence_count", "snr_count",
            "hallucination_checked", "hallucination_flagged", "hallucination_compression", "hallucination_loop",
            "hallucination_no_speech", "cache_lookups", "cache_hits", "backend_sessions", "fallback_sessions")
_COUNTER_SLOTS = [COUNTERS.index(name) for name in _COUNTED]  # each a rollup counter
# What a batch of sessions adds to, and so what its rollup upserts bind and add (the samples'
# counters and histograms stay as they are): a counter added to `_COUNTED` or a histogram to
# `_SESSION_HISTOGRAMS` is written with no other change.
SESSION_VALUE_COLUMNS = (*_COUNTED, *SUMS, *_SESSION_HISTOGRAMS)
# The hallucination_* reason counters, in `_COUNTED` order.
_REASON_BITS = (hallucination.COMPRESSION, hallucination.LOOP, hallucination.NO_SPEECH)
# The histograms by how their values are bucketed (the three latencies alike): one call each.
_BUCKETED: dict[Callable[[np.ndarray], np.ndarray], list[tuple[int, str]]] = {}
for _h, (_column, _codes_of) in enumerate(_SESSION_HISTOGRAMS.values()):
    _BUCKETED.setdefault(_codes_of, []).append((_h, _column))
del _h, _column, _codes_of


def _measures(batch: SessionBatch, confidence: np.ndarray, snr: np.ndarray) -> np.ndarray:
    """One row per session, one column per `_COUNTED` counter then per `SUMS` sum; NaN (unset) as 0."""
    status = batch.status
    reasons = batch.hallucination_reasons  # -1: not checked
    cache, backend = batch.cache_hits, batch.backends
    fallback = backend == FALLBACK_BACKEND
    audio = batch.floats("audio_seconds")
    columns = [np.ones(len(batch)), *(status == s for s in _STATUSES), batch.successful, batch.shadow,
               batch.floats("retries"), batch.empty_hypothesis, batch.floats("partial_rewrites"),
               ~np.isnan(confidence), ~np.isnan(snr),
               reasons >= 0, reasons > 0, *((reasons > 0) & (reasons & bit > 0) for bit in _REASON_BITS),
               cache >= 0, cache > 0, backend != "", fallback,
               audio, batch.floats("gpu_seconds"), confidence, snr, np.where(fallback, audio, 0.0)]
    return np.nan_to_num(np.column_stack(columns), nan=0.0, copy=False)


def fold_sessions(batch: SessionBatch) -> SessionDeltas:
    """The deltas of new sessions (as stored: dimensions filled, transcripts redacted)."""
    epoch_minutes = batch.epoch_minutes.tolist()
    slices, group = groups_of(list(zip(epoch_minutes, *(batch.slice_values(d) for d in ROLLUP_COLUMNS))))
    n = len(slices)
    confidence, snr = batch.floats("confidence"), batch.floats("snr_db")
    # Every counter and sum of every slice in one bincount, over bins slice * width + column. A
    # bin adds its sessions in batch order, as a bincount per column did, so sums are the same
    # floats; with small batches the numpy calls, not the sessions, were most of the fold's time.
    measures = _measures(batch, confidence, snr)
    width = measures.shape[1]
    bins = (group[:, None] * width + np.arange(width)).ravel()
    added = np.bincount(bins, weights=measures.ravel(), minlength=n * width).reshape(n, width)
    counters = added[:, :len(_COUNTED)].astype(np.int64)  # whole numbers, summed exactly as floats
    # All five histograms at once, histogram h of slice i as group h * n + i.
    owners, codes = [], []
    for codes_of, members in _BUCKETED.items():
        values = np.concatenate([batch.floats(column) for _, column in members])
        present = ~np.isnan(values)
        owners.append(np.concatenate([group + h * n for h, _ in members])[present])
        codes.append(codes_of(values[present]))
    entries, all_texts = _histograms(np.concatenate(owners), np.concatenate(codes), len(_SESSION_HISTOGRAMS) * n)
    texts = [all_texts[h * n:(h + 1) * n] for h in range(len(_SESSION_HISTOGRAMS))]
    minute_of = {m: EPOCH + timedelta(minutes=m) for m in set(epoch_minutes)}
    return SessionDeltas(
        keys=[key_of(s[0], s[1:]) for s in slices],
        minutes=[minute_of[s[0]] for s in slices],
        dims=[s[1:] for s in slices],
        counters=counters.tolist(), totals=added[:, len(_COUNTED):].tolist(), entries=entries,
        texts=list(zip(*texts)))


def _histograms(group: np.ndarray, codes: np.ndarray, n: int
                ) -> tuple[tuple[list[int], list[int], list[int], list[int]], list[str]]:
    """Each group's histogram: its entries (distinct codes ascending and their counts, in runs by
    group: each run's group and where it starts) and its JSON text, as the rollup stores it."""
    texts = ["{}"] * n
    if not codes.size:
        return ([], [], [], []), texts
    low = int(codes.min())
    span = int(codes.max()) - low + 1
    pairs, counts = np.unique(group * span + (codes - low), return_counts=True)
    owners, offsets = np.divmod(pairs, span)
    code_list, count_list = (offsets + low).tolist(), counts.tolist()
    starts = np.flatnonzero(np.diff(owners, prepend=-1))
    start_list, run_owners = starts.tolist(), owners[starts].tolist()
    # Every text in one string, a line each, then split: one join instead of one per group.
    prefixes = [","] * len(code_list)
    for start in start_list:
        prefixes[start] = '}\n{'
    prefixes[0] = "{"
    lines = ("".join([f'{p}"{c}":{k}' for p, c, k in zip(prefixes, code_list, count_list)]) + "}").split("\n")
    for owner, text in zip(run_owners, lines):
        texts[owner] = text
    return (code_list, count_list, run_owners, start_list), texts
