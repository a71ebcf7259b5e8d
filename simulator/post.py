"""Sending the simulated fleet's traffic to a collector.

Session records and labeled samples go through `collector.client.CollectorClient` (batching,
retries with backoff, clear auth errors). Sessions picked for tracing go to `/v1/traces` as
OTLP/HTTP protobuf built with `opentelemetry-proto`: per session a root span carrying the
`asr.*` attributes of DESIGN.md, and child spans ingest -> preprocess -> features ->
inference -> decode -> postprocess laid end to end in event time. Within a flush, sessions
and traces are sent before samples, because a sample is scored against its stored session.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector.measures import diarization
from simulator.generate import LabeledSample, MinuteBatch, TracedSession

STAGE_ORDER = ("ingest", "preprocess", "features", "inference", "decode", "postprocess")
RETRY_STATUSES = {429, 502, 503, 504, 507}  # as collector.client: 507 is a full disk
TRACES_PER_REQUEST = 200


class SimulationRejected(RuntimeError):
    """The collector refused every record of a batch (a contract mismatch, not a blip)."""


def _any(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def _ns(ts: datetime) -> int:
    return int(round(ts.timestamp() * 1000)) * 1_000_000


def build_trace_request(traced: Iterable[TracedSession], service_name: str = "asr-server") -> ExportTraceServiceRequest:
    """One OTLP export request holding a root span (+ stage spans) per traced session."""
    spans: list[Span] = []
    for item in traced:
        record = item.record
        trace_id = bytes.fromhex(record["trace_id"])
        root_id = bytes.fromhex(record["trace_id"][:16])
        start_ns = _ns(datetime.fromisoformat(record["ts"]))
        duration_ns = int(float(record.get("final_latency_ms", sum(item.stage_ms.values()))) * 1e6)
        fields = {k: v for k, v in record.items() if k not in ("ts", "trace_id", "attributes") and v is not None}
        fields.update(record.get("attributes") or {})  # the collector files unknown asr.* keys as attributes
        attributes = [KeyValue(key=f"asr.{k}", value=_any(v)) for k, v in fields.items()]
        spans.append(Span(
            trace_id=trace_id, span_id=root_id, name="asr.session", kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start_ns, end_time_unix_nano=start_ns + duration_ns, attributes=attributes,
        ))
        cursor = start_ns
        for index, stage in enumerate(STAGE_ORDER):
            stage_ns = int(item.stage_ms.get(stage, 0.0) * 1e6)
            span_id = bytes.fromhex(record["trace_id"][16:30] + f"{index + 1:02x}")
            spans.append(Span(
                trace_id=trace_id, span_id=span_id, parent_span_id=root_id, name=stage,
                kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=cursor, end_time_unix_nano=cursor + stage_ns,
            ))
            cursor += stage_ns
    resource = Resource(attributes=[KeyValue(key="service.name", value=_any(service_name))])
    scope = InstrumentationScope(name="asrwatch.simulator", version="1")
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=spans)])]
    )


@dataclass
class PostStats:
    sessions: int = 0
    traced: int = 0
    samples: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    samples_scored: int = 0
    first_rejection: str | None = None
    batches: int = 0
    errors: list[str] = field(default_factory=list)


class FleetPoster:
    """Buffers minute batches and posts them in batches of `batch_size` sessions."""

    def __init__(
        self,
        collector_url: str,
        token: str | None = None,
        *,
        batch_size: int = 500,
        max_retries: int = 6,
        backoff_s: float = 0.2,
        timeout_s: float = 30.0,
    ) -> None:
        from collector.client import CollectorClient

        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        self.url = collector_url.rstrip("/")
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.client = CollectorClient(
            self.url, token, batch_size=batch_size, max_retries=max_retries, backoff_s=backoff_s, timeout_s=timeout_s
        )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)
        self._sessions: list[dict] = []
        self._traced: list[TracedSession] = []
        self._samples: list[LabeledSample] = []
        self.stats = PostStats()

    def check_reachable(self, attempts: int = 3) -> None:
        """Fail fast, before generating anything, if nothing answers at the URL."""
        from collector.client import CollectorUnreachable

        delay, last = self.backoff_s, ""
        for attempt in range(attempts):
            try:
                response = self._http.get("/healthz")
                if response.status_code < 500:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt + 1 < attempts:
                time.sleep(delay)
                delay *= 2
        raise CollectorUnreachable(f"collector at {self.url} unreachable: {last}")

    def add(self, batch: MinuteBatch) -> None:
        self._sessions.extend(batch.sessions)
        self._traced.extend(batch.traced)
        self._samples.extend(batch.samples)
        if len(self._sessions) + len(self._traced) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        sessions, self._sessions = self._sessions, []
        traced, self._traced = self._traced, []
        samples, self._samples = self._samples, []
        for chunk in _chunks(sessions, self.batch_size):
            self._count(self.client.post_sessions(chunk), len(chunk))
            self.stats.sessions += len(chunk)
        for chunk in _chunks(traced, TRACES_PER_REQUEST):
            self._post_traces(chunk)
            self.stats.traced += len(chunk)
        for chunk in sample_chunks([s.to_api() for s in samples], self.batch_size):
            response = self.client.post_samples(chunk)
            self.stats.samples += len(chunk)
            self.stats.samples_scored += len(response.get("results", []))
            self._note_rejections(response, len(chunk), "samples")
        if sessions or traced or samples:
            self.stats.batches += 1

    def _count(self, response: dict, sent: int) -> None:
        self.stats.accepted += int(response.get("accepted", 0))
        self.stats.duplicates += int(response.get("duplicates", 0))
        self._note_rejections(response, sent, "sessions")

    def _note_rejections(self, response: dict, sent: int, what: str) -> None:
        rejected = response.get("rejected") or []
        self.stats.rejected += len(rejected)
        if rejected and self.stats.first_rejection is None:
            self.stats.first_rejection = f"{what}[{rejected[0].get('index')}]: {rejected[0].get('error')}"
        if sent and len(rejected) >= sent:
            raise SimulationRejected(f"the collector rejected every {what} record of a batch; first: {self.stats.first_rejection}")

    def _post_traces(self, traced: list[TracedSession]) -> None:
        from collector.client import CollectorAuthError, CollectorUnreachable

        body = build_trace_request(traced).SerializeToString()
        delay, last = self.backoff_s, ""
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.post(
                    "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
                )
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code in (401, 403):
                    raise CollectorAuthError(f"collector refused the token ({response.status_code}) on /v1/traces")
                if response.status_code < 300:
                    return
                if response.status_code not in RETRY_STATUSES:
                    raise SimulationRejected(f"/v1/traces: HTTP {response.status_code}: {response.text[:300]}")
                last = f"HTTP {response.status_code}"
            if attempt < self.max_retries:
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        raise CollectorUnreachable(f"collector at {self.url} unreachable: {last}")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._http.close()
            self.client.close()

    def __enter__(self) -> "FleetPoster":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:  # do not try to flush into a collector that just failed
            self._http.close()
            self.client.close()


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _segments(sample: dict) -> int:
    return len(sample.get("reference_segments") or ()) + len(sample.get("hypothesis_segments") or ())


def sample_chunks(samples: list[dict], size: int,
                  max_segments: int = diarization.MAX_SEGMENTS_PER_REQUEST) -> Iterable[list[dict]]:
    """Samples (API bodies) in requests of at most `size` samples and `max_segments` diarization
    segments together: the collector refuses the samples past a request's segment budget
    (collector.store.sample_diarization), so a sender splits its requests before it."""
    chunk: list[dict] = []
    held = 0
    for sample in samples:
        n = _segments(sample)
        if chunk and (len(chunk) >= size or held + n > max_segments):
            yield chunk
            chunk, held = [], 0
        chunk.append(sample)
        held += n
    if chunk:
        yield chunk
