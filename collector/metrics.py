"""Prometheus metrics of ingested telemetry, labelled by model_version, region, channel.

Ingest folds whole batches into plain counters and bucket arrays (one dict update per
label set and batch instead of one client call per session), and a custom collector turns
them into the Prometheus text format on scrape. Each collector app keeps its own registry
(tests run several in one process); replicas are summed by Prometheus. Latency histograms
carry every configured SLO threshold as an `le` edge so exported rules count good events exactly.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from collector.grouping import groups_of, sums
from collector.session_batch import SessionBatch

LABELS = ("model_version", "region", "channel")
DEFAULT_LATENCY_BUCKETS_MS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
SNR_BUCKETS = (-5, 0, 5, 10, 15, 20, 25, 30, 40)
WER_BUCKETS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)


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

    def family(self, label_names: Sequence[str]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.doc, labels=label_names)
        edges = [floatToGoString(bound) for bound in self.bounds + [float("inf")]]
        for labels, state in self.series.items():
            cumulative = np.cumsum(state[:-1]).tolist()
            family.add_metric(list(labels), list(zip(edges, cumulative)), float(state[-1]))
        return family


class CollectorMetrics(Collector):
    def __init__(self, latency_thresholds_ms: Mapping[str, Iterable[float]] | None = None,
                 max_wer_thresholds: Iterable[float] = ()) -> None:
        thresholds = latency_thresholds_ms or {}
        self._lock = threading.Lock()
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
            "wer": _Histogram("asrwatch_utterance_wer", "WER of each labeled utterance",
                              WER_BUCKETS + tuple(max_wer_thresholds)),
        }
        self.registry = CollectorRegistry()
        self.registry.register(self)

    _COUNTER_DOCS = {
        "asrwatch_sessions": ("Sessions by outcome", LABELS + ("status",)),
        "asrwatch_gpu_seconds": ("Accelerator seconds", LABELS),
        "asrwatch_audio_seconds": ("Audio seconds processed", LABELS),
        "asrwatch_empty_hypotheses": ("ok sessions with an empty transcript", LABELS),
        "asrwatch_wer_errors": ("Word errors (S+D+I) of labeled utterances", LABELS),
        "asrwatch_wer_ref_words": ("Reference words of labeled utterances", LABELS),
        "asrwatch_duplicate_sessions": ("Session records seen again", ()),
        "asrwatch_rejected_records": ("Records rejected at ingest", ("kind",)),
    }

    def collect(self):
        with self._lock:
            for name, (doc, label_names) in self._COUNTER_DOCS.items():
                family = CounterMetricFamily(name, doc, labels=list(label_names))
                for labels, value in self.counters.get(name, {}).items():
                    family.add_metric(list(labels), value)
                yield family
            for hist in self.histograms.values():
                yield hist.family(LABELS)

    def inc(self, name: str, labels: tuple = (), value: float = 1.0) -> None:
        with self._lock:
            self.counters[name][labels] += value

    def observe_sessions(self, batch: SessionBatch) -> None:
        if not len(batch):
            return
        columns = batch.columns
        labels, group = groups_of(list(zip(*(columns[name] for name in LABELS))))
        n = len(labels)
        by_status = {status: sums(group, n, where=batch.status == status) for status in set(columns["status"])}
        totals = {"asrwatch_gpu_seconds": sums(group, n, batch.floats("gpu_seconds")),
                  "asrwatch_audio_seconds": sums(group, n, batch.floats("audio_seconds")),
                  "asrwatch_empty_hypotheses": sums(group, n, where=batch.empty_hypothesis)}
        h = self.histograms
        fields = (("final_latency_ms", h["final"]), ("first_partial_ms", h["first_partial"]),
                  ("queue_ms", h["queue"]), ("confidence", h["confidence"]), ("snr_db", h["snr"]))
        with self._lock:
            sessions = self.counters["asrwatch_sessions"]
            for status, counts in by_status.items():
                for label, count in zip(labels, counts.tolist()):
                    if count:
                        sessions[label + (status,)] += count
            for name, values in totals.items():
                counter = self.counters[name]
                for label, value in zip(labels, values.tolist()):
                    if value:  # as before: a series appears with its first non-zero amount
                        counter[label] += value
            for field, hist in fields:
                hist.observe_groups(labels, group, batch.floats(field))

    def observe_samples(self, scored: Iterable[tuple[Mapping[str, Any], Any]]) -> None:
        with self._lock:
            errors, words = self.counters["asrwatch_wer_errors"], self.counters["asrwatch_wer_ref_words"]
            for session_row, errs in scored:
                labels = (session_row["model_version"], session_row["region"], session_row["channel"])
                errors[labels] += errs.errors
                words[labels] += errs.ref_words
                self.histograms["wer"].observe(labels, errs.wer)
