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

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LABELS = ("model_version", "region", "channel")
DEFAULT_LATENCY_BUCKETS_MS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
SNR_BUCKETS = (-5, 0, 5, 10, 15, 20, 25, 30, 40)
WER_BUCKETS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)


class _Histogram:
    def __init__(self, name: str, doc: str, buckets: Iterable[float]) -> None:
        self.name, self.doc = name, doc
        self.bounds = sorted({float(b) for b in buckets})
        self.series: dict[tuple, list] = {}  # labels -> [bucket counts..., +Inf count, sum]

    def observe(self, labels: tuple, value: float) -> None:
        state = self.series.get(labels)
        if state is None:
            state = self.series[labels] = [0] * (len(self.bounds) + 1) + [0.0]
        state[bisect.bisect_left(self.bounds, value)] += 1  # le: value <= bound
        state[-1] += value

    def family(self, label_names: Sequence[str]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.doc, labels=label_names)
        for labels, state in self.series.items():
            cumulative, buckets = 0, []
            for bound, count in zip(self.bounds + [float("inf")], state[:-1]):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            family.add_metric(list(labels), buckets, state[-1])
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

    def observe_sessions(self, rows: Iterable[Mapping[str, Any]]) -> None:
        h = self.histograms
        # Once per batch, not per session: this runs for every ingested session.
        fields = (("final_latency_ms", h["final"]), ("first_partial_ms", h["first_partial"]),
                  ("queue_ms", h["queue"]), ("confidence", h["confidence"]), ("snr_db", h["snr"]))
        with self._lock:
            sessions, gpu, audio, empty = (self.counters[n] for n in (
                "asrwatch_sessions", "asrwatch_gpu_seconds", "asrwatch_audio_seconds", "asrwatch_empty_hypotheses"))
            for row in rows:
                labels = (row["model_version"], row["region"], row["channel"])
                sessions[labels + (row["status"],)] += 1
                for field, hist in fields:
                    value = row.get(field)
                    if value is not None:
                        hist.observe(labels, value)
                if row.get("gpu_seconds"):
                    gpu[labels] += row["gpu_seconds"]
                if row.get("audio_seconds"):
                    audio[labels] += row["audio_seconds"]
                if row["status"] == "ok" and row.get("hypothesis") is not None and not row["hypothesis"].strip():
                    empty[labels] += 1

    def observe_samples(self, scored: Iterable[tuple[Mapping[str, Any], Any]]) -> None:
        with self._lock:
            errors, words = self.counters["asrwatch_wer_errors"], self.counters["asrwatch_wer_ref_words"]
            for session_row, errs in scored:
                labels = (session_row["model_version"], session_row["region"], session_row["channel"])
                errors[labels] += errs.errors
                words[labels] += errs.ref_words
                self.histograms["wer"].observe(labels, errs.wer)
