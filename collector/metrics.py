"""Prometheus metrics of ingested telemetry, labelled by model_version, region, channel.

Each collector keeps its own registry (tests run several apps in one process); replicas are
summed by Prometheus. Latency histograms carry every configured SLO threshold as an `le`
edge so exported rules can count "good" events exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

LABELS = ("model_version", "region", "channel")
DEFAULT_LATENCY_BUCKETS_MS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
SNR_BUCKETS = (-5, 0, 5, 10, 15, 20, 25, 30, 40)
WER_BUCKETS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)


def _buckets(extra: Iterable[float]) -> tuple[float, ...]:
    return tuple(sorted(set(DEFAULT_LATENCY_BUCKETS_MS) | {float(x) for x in extra}))


class CollectorMetrics:
    def __init__(self, latency_thresholds_ms: Mapping[str, Iterable[float]] | None = None,
                 max_wer_thresholds: Iterable[float] = ()) -> None:
        thresholds = latency_thresholds_ms or {}
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions = Counter("asrwatch_sessions", "Sessions by outcome", LABELS + ("status",), registry=r)
        self.duplicates = Counter("asrwatch_duplicate_sessions", "Session records seen again", registry=r)
        self.rejected = Counter("asrwatch_rejected_records", "Records rejected at ingest", ("kind",), registry=r)
        self.final_latency = Histogram(
            "asrwatch_final_latency_ms", "End-to-end final transcript latency (ms)", LABELS,
            buckets=_buckets(thresholds.get("latency", ())), registry=r)
        self.first_partial = Histogram(
            "asrwatch_first_partial_ms", "First partial latency (ms)", LABELS,
            buckets=_buckets(thresholds.get("first_partial_latency", ())), registry=r)
        self.queue = Histogram(
            "asrwatch_queue_ms", "Time queued before inference (ms)", LABELS,
            buckets=_buckets(thresholds.get("queue_latency", ())), registry=r)
        self.confidence = Histogram("asrwatch_confidence", "Mean utterance confidence", LABELS,
                                    buckets=CONFIDENCE_BUCKETS, registry=r)
        self.snr = Histogram("asrwatch_snr_db", "Estimated SNR (dB)", LABELS, buckets=SNR_BUCKETS, registry=r)
        self.gpu_seconds = Counter("asrwatch_gpu_seconds", "Accelerator seconds", LABELS, registry=r)
        self.audio_seconds = Counter("asrwatch_audio_seconds", "Audio seconds processed", LABELS, registry=r)
        self.empty_hypotheses = Counter("asrwatch_empty_hypotheses", "ok sessions with an empty transcript",
                                        LABELS, registry=r)
        self.wer_errors = Counter("asrwatch_wer_errors", "Word errors (S+D+I) of labeled utterances", LABELS,
                                  registry=r)
        self.wer_words = Counter("asrwatch_wer_ref_words", "Reference words of labeled utterances", LABELS,
                                 registry=r)
        self.utterance_wer = Histogram("asrwatch_utterance_wer", "WER of each labeled utterance", LABELS,
                                       buckets=tuple(sorted(set(WER_BUCKETS) | set(max_wer_thresholds))),
                                       registry=r)

    def observe_sessions(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            labels = (row["model_version"], row["region"], row["channel"])
            self.sessions.labels(*labels, row["status"]).inc()
            for value, hist in ((row.get("final_latency_ms"), self.final_latency),
                                (row.get("first_partial_ms"), self.first_partial),
                                (row.get("queue_ms"), self.queue), (row.get("confidence"), self.confidence),
                                (row.get("snr_db"), self.snr)):
                if value is not None:
                    hist.labels(*labels).observe(value)
            if row.get("gpu_seconds"):
                self.gpu_seconds.labels(*labels).inc(row["gpu_seconds"])
            if row.get("audio_seconds"):
                self.audio_seconds.labels(*labels).inc(row["audio_seconds"])
            if row["status"] == "ok" and row.get("hypothesis") is not None and not row["hypothesis"].strip():
                self.empty_hypotheses.labels(*labels).inc()

    def observe_samples(self, scored: Iterable[tuple[Mapping[str, Any], Any]]) -> None:
        for session_row, errors in scored:
            labels = (session_row["model_version"], session_row["region"], session_row["channel"])
            self.wer_errors.labels(*labels).inc(errors.errors)
            self.wer_words.labels(*labels).inc(errors.ref_words)
            self.utterance_wer.labels(*labels).observe(errors.wer)
