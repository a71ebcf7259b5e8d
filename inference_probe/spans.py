"""OTLP spans per session (root `asr.session` with `asr.*` attributes, one child per
stage) through the OpenTelemetry SDK's OTLP/HTTP exporter, spooled to disk as OTLP
protobuf when the collector cannot take them, and replayed later."""

from __future__ import annotations

import logging
import os
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

from inference_probe.timing import StageRecord

log = logging.getLogger(__name__)
ROOT_SPAN_NAME = "asr.session"
FLUSH_EVERY = 500  # sessions (x ~5 spans) between flushes


class _PresetIdGenerator(RandomIdGenerator):
    """Lets the probe choose a trace id before the span exists, so the session record
    (posted first) and its spans (exported after) name the same trace."""

    def __init__(self) -> None:
        self.next_trace_id: int | None = None

    def generate_trace_id(self) -> int:
        if self.next_trace_id is not None:
            value, self.next_trace_id = self.next_trace_id, None
            return value
        return super().generate_trace_id()


class SpoolingSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, spool_dir: Path | None):
        self.inner = inner
        self.spool_dir = spool_dir
        self.spooled_spans = 0
        self.failed_spans = 0

    def export(self, spans) -> SpanExportResult:
        result = self.inner.export(spans)
        if result == SpanExportResult.SUCCESS:
            return result
        if self.spool_dir is None:
            self.failed_spans += len(spans)
            return result
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}-traces.pb"
        tmp = self.spool_dir / (name + ".tmp")
        tmp.write_bytes(encode_spans(spans).SerializeToString())
        os.replace(tmp, self.spool_dir / name)
        self.spooled_spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def replay_span_spool(collector_url: str, token: str | None, spool_dir: Path, timeout_s: float = 10.0) -> int:
    """POST spooled OTLP batches oldest first; stops (keeping the files) at the first failure."""
    if not spool_dir.is_dir():
        return 0
    headers = {"Content-Type": "application/x-protobuf"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    sent = 0
    with httpx.Client(timeout=timeout_s) as http:
        for path in sorted(spool_dir.glob("*-traces.pb")):
            try:
                response = http.post(collector_url.rstrip("/") + "/v1/traces", content=path.read_bytes(),
                                     headers=headers)
            except httpx.TransportError:
                break
            if response.status_code != 200:
                break
            path.unlink()
            sent += 1
    return sent


@dataclass
class PendingSession:
    trace_id: int
    attributes: dict
    start_ns: int
    end_ns: int
    stages: list[StageRecord] = field(default_factory=list)


class SpanEmitter:
    """Collects per-session timings during the run; `export()` turns them into spans."""

    def __init__(self, collector_url: str | None, token: str | None = None, spool_dir: Path | None = None,
                 timeout_s: float = 10.0, service_name: str = "asrwatch-probe"):
        self.pending: list[PendingSession] = []
        self.exporter: SpoolingSpanExporter | None = None
        self.provider: TracerProvider | None = None
        if collector_url is None:
            return
        self._ids = _PresetIdGenerator()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}),
                                       id_generator=self._ids)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        inner = OTLPSpanExporter(endpoint=collector_url.rstrip("/") + "/v1/traces", headers=headers,
                                 timeout=timeout_s)
        self.exporter = SpoolingSpanExporter(inner, spool_dir)
        self.provider.add_span_processor(BatchSpanProcessor(self.exporter, max_queue_size=8192,
                                                            max_export_batch_size=512,
                                                            schedule_delay_millis=60_000))
        self._tracer = self.provider.get_tracer("inference_probe")

    @staticmethod
    def new_trace_id() -> int:
        return secrets.randbits(128) or 1

    def add(self, session: PendingSession) -> None:
        self.pending.append(session)

    def export(self) -> int:
        """Create and flush every pending span; returns the number of sessions exported."""
        if self.provider is None:
            self.pending.clear()
            return 0
        for n, session in enumerate(self.pending, start=1):
            if n % FLUSH_EVERY == 0:  # the processor's queue is bounded: drain it as we go
                self.provider.force_flush()
            self._ids.next_trace_id = session.trace_id
            root = self._tracer.start_span(ROOT_SPAN_NAME, start_time=session.start_ns,
                                           attributes=session.attributes)
            ctx = trace.set_span_in_context(root)
            for stage in session.stages:
                child = self._tracer.start_span(stage.name, context=ctx, start_time=stage.start_ns,
                                                attributes={"probe.stage": stage.name})
                child.end(end_time=stage.start_ns + stage.duration_ns)
            root.end(end_time=session.end_ns)
        count = len(self.pending)
        self.pending.clear()
        self.provider.force_flush()
        return count

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()
