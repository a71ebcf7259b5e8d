"""Delivery of a probe run to the collector: sessions and samples through
`collector.client.CollectorClient` (retry, backoff, on-disk spool), spans through the
OTLP exporter (spooled as protobuf when refused), and replay of earlier spools."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx

from inference_probe.errors import ProbeError
from inference_probe.spans import PendingSession, SpanEmitter, replay_span_spool

log = logging.getLogger(__name__)
POST_CHUNK = 500


def collector_reachable(url: str, timeout_s: float = 3.0) -> tuple[bool, str]:
    try:
        response = httpx.get(url.rstrip("/") + "/healthz", timeout=timeout_s)
    except httpx.TransportError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    if response.status_code >= 500:
        return False, f"HTTP {response.status_code}"
    return True, ""


class ProbePoster:
    def __init__(self, collector_url: str, token: str | None, spool: Path | None, *, post_retries: int = 4,
                 post_backoff_s: float = 0.2, otlp_timeout_s: float = 10.0):
        from collector.client import CollectorClient

        self.url, self.token, self.spool = collector_url, token, spool
        reachable, why = collector_reachable(collector_url)
        self.info: dict = {"collector": collector_url, "reachable": reachable,
                           "spool_dir": str(spool) if spool else None}
        if not reachable and spool is None:
            raise ProbeError(f"collector unreachable at {collector_url} ({why}); start it, fix --collector, "
                             "or pass --spool-dir to keep the results on disk until it is back")
        # Known down: spool at once rather than sit through the retry schedule per batch.
        self.client = CollectorClient(collector_url, token, spool_dir=(spool / "collector") if spool else None,
                                      max_retries=post_retries if reachable else 0, backoff_s=post_backoff_s)
        if reachable and spool:
            self.info["replayed_records"] = self.client.replay_spool()
            self.info["replayed_span_batches"] = replay_span_spool(collector_url, token, spool / "traces")
        elif not reachable:
            log.warning("collector unreachable at %s (%s): results will be spooled to %s", collector_url, why, spool)
        self.emitter = SpanEmitter(collector_url, token, (spool / "traces") if spool else None,
                                   timeout_s=otlp_timeout_s)

    def new_trace_id(self) -> int:
        return self.emitter.new_trace_id()

    def add_spans(self, session: PendingSession) -> None:
        self.emitter.add(session)

    def _post(self, records: list[dict], kind: str) -> dict:
        totals = {"accepted": 0, "duplicates": 0, "rejected": 0, "spooled": 0, "scored": 0}
        post = self.client.post_sessions if kind == "sessions" else self.client.post_samples
        for start in range(0, len(records), POST_CHUNK):
            response = post(records[start:start + POST_CHUNK])
            for key in ("spooled", "accepted", "duplicates"):
                totals[key] += response.get(key, 0)
            totals["scored"] += len(response.get("results", []))
            rejected = response.get("rejected", [])
            totals["rejected"] += len(rejected)
            for item in rejected[:3]:
                log.warning("collector rejected a %s record: %s", kind, item.get("error"))
        return totals

    def finish(self, sessions: list[dict], samples: list[dict]) -> dict:
        """Sessions, then their samples, then spans (so trace ingest finds the sessions stored)."""
        from collector.client import CollectorAuthError

        try:
            self.info["sessions"] = self._post(sessions, "sessions")
            self.info["samples"] = self._post(samples, "samples")
        except CollectorAuthError as exc:
            raise ProbeError(f"collector at {self.url} refused the token: pass an ingest-scope --token ({exc})") from None
        finally:
            self.client.close()
        self.info["spans_exported_sessions"] = self.emitter.export()
        self.emitter.shutdown()
        self.info["spans_spooled"] = self.emitter.exporter.spooled_spans
        self.info["spans_failed"] = self.emitter.exporter.failed_spans
        return self.info

    def close(self) -> None:
        """Abandon the run: nothing is buffered in the client, so this only releases it."""
        self.client.close()
        self.emitter.shutdown()
