"""Prometheus metrics of ingested telemetry, labelled by model_version, region, channel and
every other dimension a configured SLO filters or groups on (tenant, language, pool).

Ingest folds whole batches into plain counters and bucket arrays (one dict update per
label set and batch instead of one client call per session), and a custom collector turns
them into the Prometheus text format on scrape. Each collector app keeps its own registry
(tests run several in one process); replicas are summed by Prometheus. Latency histograms
carry every configured SLO threshold as an `le` edge so exported rules count good events exactly.

When a label set first appears, every child of every per-slice family is created with it (all
five statuses, the empty-hypothesis and WER counters, every histogram), so a status that first
occurs later is a counter Prometheus has already seen at 0 and `rate()`/`increase()` count its
first events. Every child carries its creation time (the `<family>_created` gauge the
Prometheus client writes beside a counter or histogram, unix seconds of the collector's wall
clock): the exported rules (`slo.prometheus_rules`) count a child's whole value as window events
only when it was created inside the window, so a label set's very first scrape counts from 0 while
counts from before Prometheus first scraped (or from before a scrape gap) never do.

Each label dimension holds at most `label_values_max` distinct values (values an SLO filter
names are always kept); further values fold into `__other__`, counted by
`asrwatch_metrics_folded_sessions_total{dimension}` and warned about once per dimension. With the
store's budget (`collector.store.dimension_budget`) the values kept are the ones the rollups keep,
the same on every replica; `asrwatch_folded_sessions_total{dimension}` counts the sessions this
replica stored in a rollup's `__other__` slice.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from collector.measures import diarization, groups_of, sums, wer
from collector.store import FALLBACK_BACKEND, FIXED_ONLY, STATUSES, UNKNOWN, DimensionBudget, Dimensions, SessionBatch

log = logging.getLogger("asrwatch.metrics")

LABELS = ("model_version", "region", "channel")
OTHER = "__other__"  # the label value past a dimension's budget
DEFAULT_LABEL_VALUES_MAX = 1000
DEFAULT_LATENCY_BUCKETS_MS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
SNR_BUCKETS = (-5, 0, 5, 10, 15, 20, 25, 30, 40)
WER_BUCKETS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
DER_BUCKETS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
# Sessions queued for counting (`CollectorMetrics.queue_sessions`) at most before ingest counts them:
# a few MB of columns, and about 10 ms of counting that no sender waits for.
QUEUED_SESSIONS_MAX = 5000
# The session columns counting reads besides the labels (and `len`'s session_id).
_COUNTED_COLUMNS = ("session_id", "status", "gpu_seconds", "audio_seconds", "hypothesis", "final_latency_ms",
                    "first_partial_ms", "queue_ms", "confidence", "snr_db", "hallucination", "cache_hit", "backend")
# Counters with one child per label set (besides asrwatch_sessions, which has one per status too).
SLICE_COUNTERS = ("asrwatch_gpu_seconds", "asrwatch_audio_seconds", "asrwatch_empty_hypotheses",
                  "asrwatch_wer_errors", "asrwatch_wer_ref_words", "asrwatch_cer_errors", "asrwatch_cer_ref_chars",
                  "asrwatch_entity_occurrences", "asrwatch_entities_found",
                  "asrwatch_hallucination_checked", "asrwatch_hallucination_flagged",
                  "asrwatch_cache_lookups", "asrwatch_cache_hits", "asrwatch_backend_sessions",
                  "asrwatch_fallback_sessions", "asrwatch_diarization_error_seconds", "asrwatch_diarization_speech_seconds")


class _Histogram:
    def __init__(self, name: str, doc: str, buckets: Iterable[float]) -> None:
        self.name, self.doc = name, doc
        self.bounds = sorted({float(b) for b in buckets})
        self._bound_array = np.array(self.bounds)
        self.series: dict[tuple, np.ndarray] = {}  # labels -> [bucket counts..., +Inf count, sum]

    def _state(self, labels: tuple) -> np.ndarray:
        state = self.series.get(labels)
        if state is None:
            state = self.series[labels] = np.zeros(len(self.bounds) + 2)
        return state

    def observe(self, labels: tuple, value: float) -> None:
        state = self._state(labels)
        state[bisect.bisect_left(self.bounds, value)] += 1  # le: value <= bound
        state[-1] += value

    def observe_groups(self, labels: Sequence[tuple], group: np.ndarray, values: np.ndarray) -> None:
        """Observe `values[i]` under `labels[group[i]]`, skipping NaN (unset)."""
        present = ~np.isnan(values)
        group, values = group[present], values[present]
        width = len(self.bounds) + 1
        slots = np.searchsorted(self._bound_array, values, side="left")  # as bisect_left in observe
        counts = np.bincount(group * width + slots, minlength=len(labels) * width).reshape(len(labels), width)
        totals = np.bincount(group, weights=values, minlength=len(labels))
        for i in np.flatnonzero(counts.any(axis=1)).tolist():
            state = self._state(labels[i])
            state[:-1] += counts[i]
            state[-1] += totals[i]

    def family(self, label_names: Sequence[str], created: Mapping[tuple, float]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.doc, labels=label_names)
        edges = [floatToGoString(bound) for bound in self.bounds + [float("inf")]]
        for labels, state in self.series.items():
            cumulative = np.cumsum(state[:-1]).tolist()
            family.add_metric(list(labels), list(zip(edges, cumulative)), float(state[-1]))
            # HistogramMetricFamily.add_metric takes no `created`; the sample is the one the
            # client's own Histogram writes (exposed as the gauge `<name>_created`).
            if labels in created:
                family.samples.append(Sample(f"{self.name}_created", dict(zip(label_names, labels)), created[labels]))
        return family


class CollectorMetrics(Collector):
    def __init__(self, latency_thresholds_ms: Mapping[str, Iterable[float]] | None = None,
                 max_wer_thresholds: Iterable[float] = (), *, dimensions: Sequence[str] = (),
                 label_values_max: int = DEFAULT_LABEL_VALUES_MAX,
                 pinned_values: Mapping[str, Iterable[str]] | None = None,
                 budget: DimensionBudget | None = None,
                 clock: Callable[[], float] = time.time, max_der_thresholds: Iterable[float] = (),
                 stored_as: Dimensions = FIXED_ONLY) -> None:
        """`dimensions`: slice dimensions labelled besides model_version, region and channel (those
        the SLOs filter or group on); `pinned_values`: per dimension, values that never fold
        (an SLO filter names them); `clock`: unix seconds for the children's created timestamps
        (Prometheus compares them with its own wall clock, so the wall clock, not event time);
        `budget`: the store's cardinality budget (`collector.store.DimensionBudget`): a value it
        has decided keeps or folds as in the rollups, on every replica and after a restart; only
        values it has not decided (none that ingest stored) fall back to this process' count.
        `stored_as`: where each dimension is stored (a configured one in its slot column)."""
        thresholds = latency_thresholds_ms or {}
        self.labels = LABELS + tuple(d for d in dict.fromkeys(dimensions) if d not in LABELS)
        # Each label's column in a session batch or row (and in the budget): a configured
        # dimension's slot, which holds None where unset.
        self._columns = tuple(stored_as.column(d) for d in self.labels)
        self._stored_as = stored_as
        self.label_values_max = int(label_values_max)
        if self.label_values_max < 1:
            raise ValueError(f"metrics_label_values_max must be at least 1, got {label_values_max}")
        self._pinned = {stored_as.column(d) if d in stored_as.names else d: frozenset(v)
                        for d, v in (pinned_values or {}).items()}
        self._seen: dict[str, set[str]] = {d: set() for d in self._columns}
        self.budget = budget
        self._lock = threading.Lock()
        self._clock = clock
        self.created: dict[tuple, float] = {}  # label set -> when its children were created
        self._queued: list[tuple[SessionBatch, float]] = []  # acknowledged, not counted yet (`queue_sessions`)
        self._queued_sessions = 0
        self.counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self.histograms = {
            "final": _Histogram("asrwatch_final_latency_ms", "End-to-end final transcript latency (ms)",
                                DEFAULT_LATENCY_BUCKETS_MS + tuple(thresholds.get("latency", ()))),
            "first_partial": _Histogram("asrwatch_first_partial_ms", "First partial latency (ms)",
                                        DEFAULT_LATENCY_BUCKETS_MS + tuple(thresholds.get("first_partial_latency", ()))),
            "queue": _Histogram("asrwatch_queue_ms", "Time queued before inference (ms)",
                                DEFAULT_LATENCY_BUCKETS_MS + tuple(thresholds.get("queue_latency", ()))),
            "confidence": _Histogram("asrwatch_confidence", "Mean utterance confidence", CONFIDENCE_BUCKETS),
            "snr": _Histogram("asrwatch_snr_db", "Estimated SNR (dB)", SNR_BUCKETS),
            # The quality SLI's measure: CER for languages written without spaces (`wer.SPACELESS_LANGUAGES`).
            "wer": _Histogram("asrwatch_utterance_wer",
                              "WER of each labeled utterance (CER for languages written without spaces)",
                              WER_BUCKETS + tuple(max_wer_thresholds)),
            # The diarization SLI's measure, one observation per diarized sample (pyannote.metrics).
            "der": _Histogram("asrwatch_session_der", "DER of each diarized session",
                              DER_BUCKETS + tuple(max_der_thresholds)),
        }
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def _docs(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        return {
            "asrwatch_sessions": ("Sessions by outcome", self.labels + ("status",)),
            "asrwatch_gpu_seconds": ("Accelerator seconds", self.labels),
            "asrwatch_audio_seconds": ("Audio seconds processed", self.labels),
            "asrwatch_empty_hypotheses": ("ok sessions with an empty transcript", self.labels),
            "asrwatch_wer_errors": ("Word errors (S+D+I) of labeled utterances", self.labels),
            "asrwatch_wer_ref_words": ("Reference words of labeled utterances", self.labels),
            "asrwatch_cer_errors": ("Character errors (S+D+I) of labeled utterances", self.labels),
            "asrwatch_cer_ref_chars": ("Reference characters of labeled utterances", self.labels),
            "asrwatch_entity_occurrences": ("Entity occurrences in the references of labeled utterances",
                                            self.labels),
            "asrwatch_entities_found": ("Entity occurrences of the references found in the hypotheses",
                                        self.labels),
            "asrwatch_hallucination_checked": ("Sessions with a hypothesis checked for hallucinations (label-free)",
                                               self.labels),
            "asrwatch_hallucination_flagged": (
                "Sessions whose hypothesis was flagged as hallucinated (compression ratio, n-gram loop or text on "
                "non-speech audio)", self.labels),
            "asrwatch_cache_lookups": ("Sessions that said whether a cache answered them", self.labels),
            "asrwatch_cache_hits": ("Sessions a cache answered", self.labels),
            "asrwatch_backend_sessions": ("Sessions that named the backend that served them", self.labels),
            "asrwatch_fallback_sessions": (
                "Sessions the paid API served (backend=api): the self-hosted path's fallback", self.labels),
            "asrwatch_diarization_error_seconds": (
                "Missed, false-alarm and confusion seconds of diarized sessions (DER's numerator)", self.labels),
            "asrwatch_diarization_speech_seconds": (
                "Reference speech seconds of diarized sessions (DER's denominator)", self.labels),
            "asrwatch_duplicate_sessions": ("Session records seen again", ()),
            "asrwatch_rejected_records": ("Records rejected at ingest", ("kind",)),
            "asrwatch_folded_sessions": (
                f"Sessions stored in the {OTHER} slice of a dimension past its value budget (rollups; this replica)",
                ("dimension",)),
            "asrwatch_metrics_folded_sessions": (
                f"Sessions whose dimension value was labelled {OTHER} (past the per-dimension budget)",
                ("dimension",)),
        }

    def collect(self):
        with self._lock:
            self._count_queued()  # a scrape sees every acknowledged session
            for name, (doc, label_names) in self._docs().items():
                family = CounterMetricFamily(name, doc, labels=list(label_names))
                per_slice = label_names[:len(self.labels)] == self.labels  # children of a label set
                counted = self.counters.get(name, {})
                if name == "asrwatch_folded_sessions":
                    # The budget counts per stored column: a configured dimension by its name.
                    counted = {(self._stored_as.name_of(d),): n
                               for d, n in (self.budget.folded_sessions if self.budget else {}).items()}
                for labels, value in counted.items():
                    created = self.created.get(labels[:len(self.labels)]) if per_slice else None
                    family.add_metric(list(labels), value, created=created)
                yield family
            for hist in self.histograms.values():
                yield hist.family(self.labels, self.created)

    def inc(self, name: str, labels: tuple = (), value: float = 1.0) -> None:
        with self._lock:
            self.counters[name][labels] += value

    def _create_children(self, labels: tuple, at: float) -> None:
        # Every child of every per-slice family at 0, so Prometheus sees each one before it counts,
        # all created at `at` (the rules count a child's whole value only if it was born in the window).
        if labels in self.created:
            return
        self.created[labels] = at
        sessions = self.counters["asrwatch_sessions"]
        for status in STATUSES:
            sessions[labels + (status,)] += 0.0
        for name in SLICE_COUNTERS:
            self.counters[name][labels] += 0.0
        for hist in self.histograms.values():
            hist._state(labels)

    def _within_budget(self, keys: list[tuple], weights: np.ndarray) -> list[tuple]:
        """Label tuples with each dimension's values past the budget replaced by `__other__`;
        `weights[i]` sessions carry `keys[i]` (they are counted as folded). Holds the lock."""
        out = [list(key) for key in keys]
        for d, dim in enumerate(self._columns):
            seen, pinned = self._seen[dim], self._pinned.get(dim, frozenset())
            folded, by_budget = 0.0, True
            for i, key in enumerate(keys):
                value = key[d]
                if value in seen or value in pinned:
                    continue
                kept = self.budget.kept(dim, value) if self.budget is not None else None
                if kept is True:
                    continue
                if kept is None:  # not decided by the store's budget: this process' own count
                    if len(seen) < self.label_values_max:
                        seen.add(value)
                        continue
                    by_budget = False
                out[i][d] = OTHER
                folded += float(weights[i])
            if folded:
                counter = self.counters["asrwatch_metrics_folded_sessions"]
                name = self.labels[d]
                if (name,) not in counter and not by_budget:  # the budget warned already, once
                    log.warning("metrics: dimension %s has more than %d values; further values are "
                                "labelled %s on /metrics (metrics_label_values_max)",
                                name, self.label_values_max, OTHER)
                counter[(name,)] += folded
        return [tuple(key) for key in out]

    def observe_sessions(self, batch: SessionBatch) -> None:
        if not len(batch):
            return
        with self._lock:
            self._count_queued()
            self._count_sessions(batch, np.full(len(batch), self._clock()))

    def queue_sessions(self, batch: SessionBatch) -> bool:
        """`observe_sessions`, later: queued batches are counted together, before a scrape or
        any other observation reads or adds to the series, or by `count_queued` (ingest calls it,
        once the sender has its answer, when this returns True: `QUEUED_SESSIONS_MAX` are
        queued). Counted one batch at a time, numpy's fixed costs made counting a batch of 100
        about a twentieth of its ingest; together, a small part of that. A label set is created as
        of its first session's queueing, as if counted then."""
        if len(batch):
            # Only the columns counted: the rest (transcripts, attributes) need not wait in memory.
            counted = SessionBatch({name: batch.columns[name] for name in (*self._columns, *_COUNTED_COLUMNS)
                                    if name in batch.columns})
            with self._lock:
                self._queued.append((counted, self._clock()))
                self._queued_sessions += len(batch)
        with self._lock:
            return self._queued_sessions >= QUEUED_SESSIONS_MAX

    def count_queued(self) -> None:
        with self._lock:
            self._count_queued()

    def _count_queued(self) -> None:  # holds the lock
        if not self._queued:
            return
        queued, self._queued, self._queued_sessions = self._queued, [], 0
        batches = [batch for batch, _ in queued]
        together = batches[0] if len(batches) == 1 else SessionBatch(
            {name: list(chain.from_iterable(b.columns[name] for b in batches)) for name in batches[0].columns})
        self._count_sessions(together, np.repeat([at for _, at in queued], [len(b) for b in batches]))

    def _count_sessions(self, batch: SessionBatch, queued_at: np.ndarray) -> None:  # holds the lock
        """Count the batch in; session i was queued (or observed) at `queued_at[i]`."""
        columns = batch.columns
        size = len(batch)
        keys, raw_group = groups_of(list(zip(*(batch.slice_values(name) if name in columns else [UNKNOWN] * size
                                               for name in self._columns))))
        h = self.histograms
        fields = (("final_latency_ms", h["final"]), ("first_partial_ms", h["first_partial"]),
                  ("queue_ms", h["queue"]), ("confidence", h["confidence"]), ("snr_db", h["snr"]))
        folded_keys = self._within_budget(keys, np.bincount(raw_group, minlength=len(keys)))
        labels, remap = groups_of(folded_keys)  # values folded into __other__ may merge slices
        group = remap[raw_group]
        n = len(labels)
        first = np.unique(group, return_index=True)[1]  # each label set's first session
        by_status = {status: sums(group, n, where=batch.status == status) for status in set(columns["status"])}
        totals = {"asrwatch_gpu_seconds": sums(group, n, batch.floats("gpu_seconds")),
                  "asrwatch_audio_seconds": sums(group, n, batch.floats("audio_seconds")),
                  "asrwatch_empty_hypotheses": sums(group, n, where=batch.empty_hypothesis),
                  "asrwatch_hallucination_checked": sums(group, n, where=batch.hallucination_reasons >= 0),
                  "asrwatch_hallucination_flagged": sums(group, n, where=batch.hallucination_reasons > 0),
                  "asrwatch_cache_lookups": sums(group, n, where=batch.cache_hits >= 0),
                  "asrwatch_cache_hits": sums(group, n, where=batch.cache_hits > 0),
                  "asrwatch_backend_sessions": sums(group, n, where=batch.backends != ""),
                  "asrwatch_fallback_sessions": sums(group, n, where=batch.backends == FALLBACK_BACKEND)}
        for label, at in zip(labels, queued_at[first].tolist()):
            self._create_children(label, at)
        sessions = self.counters["asrwatch_sessions"]
        for status, counts in by_status.items():
            for label, count in zip(labels, counts.tolist()):
                if count:
                    sessions[label + (status,)] += count
        for name, values in totals.items():
            counter = self.counters[name]
            for label, value in zip(labels, values.tolist()):
                if value:
                    counter[label] += value
        for field, hist in fields:
            hist.observe_groups(labels, group, batch.floats(field))

    def observe_samples(self, scored: Iterable[tuple[Mapping[str, Any], Any]]) -> None:
        with self._lock:
            self._count_queued()  # sessions acknowledged before come first (label budget, creation)
            now = self._clock()
            errors, words = self.counters["asrwatch_wer_errors"], self.counters["asrwatch_wer_ref_words"]
            for session_row, errs in scored:
                key = tuple(str(session_row.get(name) or UNKNOWN) for name in self._columns)
                labels = self._within_budget([key], np.ones(1))[0]
                self._create_children(labels, now)
                errors[labels] += errs.errors
                words[labels] += errs.ref_words
                for name, value in (("asrwatch_cer_errors", errs.char_errors), ("asrwatch_cer_ref_chars", errs.ref_chars),
                                    ("asrwatch_entity_occurrences", errs.entity_occurrences),
                                    ("asrwatch_entities_found", errs.entities_found)):
                    self.counters[name][labels] += value
                quality = errs.cer if wer.written_without_spaces(session_row.get("language")) else errs.wer
                self.histograms["wer"].observe(labels, quality)

    def observe_diarization(self, scored: Iterable[tuple[Mapping[str, Any], Any]]) -> None:
        """Diarized samples (`collector.measures.diarization.DiarizationErrors`), by their session's slice."""
        with self._lock:
            self._count_queued()
            now = self._clock()
            for session_row, errs in scored:
                key = tuple(str(session_row.get(name) or UNKNOWN) for name in self._columns)
                labels = self._within_budget([key], np.ones(1))[0]
                self._create_children(labels, now)
                error_ms, speech_ms = errs.pair  # the rollups' milliseconds: both engines count alike
                self.counters["asrwatch_diarization_error_seconds"][labels] += error_ms / 1000
                self.counters["asrwatch_diarization_speech_seconds"][labels] += speech_ms / 1000
                self.histograms["der"].observe(labels, diarization.session_der(error_ms, speech_ms))
