"""/metrics children and labels (issue #16): every child of a label set exists from its first
session on, with the time it was created (`<family>_created`), the dimensions SLOs use are
labels, each dimension keeps to its value budget, and Prometheus' own text parser reads it."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from asrwatch.server import create_app
from asrwatch.settings import Settings
from collector.api.metrics import OTHER, CollectorMetrics
from collector.store.schemas import SessionIn
from collector.store.session_batch import SessionBatch

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/prerequisites.py
from prerequisites import need_program  # noqa: E402

AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def _batch(*rows: dict) -> SessionBatch:
    records = [SessionIn.model_validate({"session_id": f"s{i}", "ts": AT.isoformat(), "model_version": "m1",
                                         "region": "eu", "channel": "web", "status": "ok", **row}).model_dump()
               for i, row in enumerate(rows)]
    return SessionBatch.of(records, AT)


def _samples(metrics: CollectorMetrics) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_a_label_sets_every_child_appears_with_its_first_session():
    metrics = CollectorMetrics(dimensions=["tenant"])
    metrics.observe_sessions(_batch({"tenant": "acme"}))
    samples = _samples(metrics)
    labels = (("channel", "web"), ("model_version", "m1"), ("region", "eu"), ("tenant", "acme"))
    statuses = {dict(k[1])["status"]: v for k, v in samples.items() if k[0] == "asrwatch_sessions_total"}
    # A status that has not occurred yet is a child at 0, so Prometheus sees its first increase.
    assert statuses == {"ok": 1.0, "partial": 0.0, "decode_error": 0.0, "dropped": 0.0, "timeout": 0.0}
    for name in ("asrwatch_empty_hypotheses_total", "asrwatch_wer_errors_total", "asrwatch_gpu_seconds_total",
                 "asrwatch_utterance_wer_count", "asrwatch_final_latency_ms_count"):
        assert samples[(name, labels)] == 0.0, name


def test_values_past_the_budget_fold_into_other_with_one_warning(caplog):
    metrics = CollectorMetrics(dimensions=["tenant"], label_values_max=2, pinned_values={"tenant": {"vip"}})
    with caplog.at_level(logging.WARNING, logger="asrwatch.metrics"):
        metrics.observe_sessions(_batch(*({"tenant": t} for t in ["a", "b", "c", "d", "d", "vip"])))
        metrics.observe_sessions(_batch({"tenant": "e"}, {"tenant": "a"}))
    samples = _samples(metrics)
    tenants = {dict(k[1])["tenant"]: v for k, v in samples.items()
               if k[0] == "asrwatch_sessions_total" and dict(k[1])["status"] == "ok"}
    # a, b within the budget; vip named by an SLO filter; c, d, d, e folded.
    assert tenants == {"a": 2.0, "b": 1.0, "vip": 1.0, OTHER: 4.0}
    assert samples[("asrwatch_metrics_folded_sessions_total", (("dimension", "tenant"),))] == 4.0
    assert [r.message.count("tenant") for r in caplog.records] == [1]


def test_the_app_labels_the_dimensions_its_slos_use(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path}/m.db", evaluator_enabled=False, metrics_label_values_max=5,
                        slos=[{"name": "t", "sli": "availability", "objective": 99.5, "group_by": ["tenant"]}])
    with TestClient(create_app(settings, run_background=False)) as client:
        sent = client.post("/api/v1/sessions", json=[{"session_id": "x", "ts": AT.isoformat(), "model_version": "m1",
                                                       "tenant": "acme", "status": "timeout"}])
        assert sent.status_code == 200
        text = client.get("/metrics").text
    assert ('asrwatch_sessions_total{channel="unknown",model_version="m1",region="unknown",status="timeout",'
            'tenant="acme"} 1.0') in text


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_every_child_carries_the_time_its_label_set_was_created():
    clock = _Clock(1_765_000_000.25)
    metrics = CollectorMetrics(clock=clock)
    metrics.observe_sessions(_batch({"region": "eu"}))
    clock.now += 600
    metrics.observe_sessions(_batch({"region": "eu", "status": "timeout"}, {"region": "us"}))
    created = {(name, dict(labels)["region"]) for (name, labels), value in _samples(metrics).items()
               if name.endswith("_created") and value == 1_765_000_000.25}
    later = {(name, dict(labels)["region"]) for (name, labels), value in _samples(metrics).items()
             if name.endswith("_created") and value == 1_765_000_600.25}
    # eu's children keep the time of eu's first session, a timeout 10 minutes later included;
    # us's are created with us's first session.
    assert ("asrwatch_sessions_created", "eu") in created and ("asrwatch_sessions_created", "us") in later
    families = {name for name, _ in created}
    # The other measures of #20: diarization and hallucination.
    OTHER_FAMILIES_OF_20 = {
        "asrwatch_diarization_error_seconds_created", "asrwatch_diarization_speech_seconds_created",
        "asrwatch_session_der_created", "asrwatch_hallucination_checked_created",
        "asrwatch_hallucination_flagged_created"}
    # And #21's cache and fallback counters.
    OTHER_FAMILIES_OF_20 |= {"asrwatch_cache_lookups_created", "asrwatch_cache_hits_created",
                             "asrwatch_backend_sessions_created", "asrwatch_fallback_sessions_created"}
    assert families == {name for name, _ in later} == {
        "asrwatch_sessions_created", "asrwatch_empty_hypotheses_created", "asrwatch_gpu_seconds_created",
        "asrwatch_audio_seconds_created", "asrwatch_wer_errors_created", "asrwatch_wer_ref_words_created",
        "asrwatch_final_latency_ms_created", "asrwatch_first_partial_ms_created", "asrwatch_queue_ms_created",
        "asrwatch_confidence_created", "asrwatch_snr_db_created", "asrwatch_utterance_wer_created",
        # CER and entity recall (#20)
        "asrwatch_cer_errors_created", "asrwatch_cer_ref_chars_created", "asrwatch_entity_occurrences_created",
        "asrwatch_entities_found_created"} | OTHER_FAMILIES_OF_20
    statuses = {dict(labels)["status"] for (name, labels) in _samples(metrics)
                if name == "asrwatch_sessions_created" and dict(labels)["region"] == "eu"}
    assert statuses == {"ok", "partial", "decode_error", "dropped", "timeout"}


def test_queued_batches_count_as_if_observed_when_queued():
    """Ingest queues acknowledged batches and counts them together (before a scrape at the
    latest): the same series, the same budget folding, each label set created as of its first
    session's queueing, as when every batch is observed on arrival."""
    rows = [[{"tenant": "a", "final_latency_ms": 120.0, "gpu_seconds": 0.5}, {"tenant": "b", "status": "timeout"}],
            [{"tenant": "c", "region": "us", "confidence": 0.3, "hypothesis": " "}, {"tenant": "a", "snr_db": 12.0}],
            [{"tenant": "d", "queue_ms": 7.0}, {"tenant": "c", "region": "us", "first_partial_ms": 90.0}]]
    clocks = [_Clock(1_765_000_000.0), _Clock(1_765_000_000.0)]
    observed, queued = (CollectorMetrics(dimensions=["tenant"], label_values_max=3, clock=clock) for clock in clocks)
    for batch_rows in rows:
        observed.observe_sessions(_batch(*batch_rows))
        assert queued.queue_sessions(_batch(*batch_rows)) is False  # far from QUEUED_SESSIONS_MAX
        for clock in clocks:
            clock.now += 60
    assert not queued.created  # nothing counted before something reads the series
    got, want = _samples(queued), _samples(observed)
    assert got == want
    created = {dict(labels)["tenant"]: value for (name, labels), value in got.items()
               if name == "asrwatch_gpu_seconds_created"}
    assert created == {"a": 1_765_000_000.0, "b": 1_765_000_000.0, "c": 1_765_000_060.0, OTHER: 1_765_000_120.0}
    assert got[("asrwatch_metrics_folded_sessions_total", (("dimension", "tenant"),))] == 1.0


def test_prometheus_text_parser_reads_the_exposition(tmp_path):
    """`promtool check metrics` parses with Prometheus' text parser and then lints: exit 1 on a
    parse error, 3 on lint findings only. The only findings are the `_ms` unit names the
    histograms have had since before issue #16 (renaming them would break every dashboard)."""
    promtool = need_program("promtool")  # Debian package prometheus
    settings = Settings(database_url=f"sqlite:///{tmp_path}/m.db", evaluator_enabled=False,
                        slos=[{"name": "t", "sli": "latency", "threshold_ms": 1500, "objective": 99.5,
                               "group_by": ["tenant"]}])
    with TestClient(create_app(settings, run_background=False)) as client:
        assert client.post("/api/v1/sessions", json=[{"session_id": "x", "ts": AT.isoformat(), "model_version": "m1",
                                                      "tenant": "acme", "status": "ok",
                                                      "final_latency_ms": 900}]).status_code == 200
        text = client.get("/metrics").text
    assert "asrwatch_sessions_created{" in text and 'asrwatch_final_latency_ms_bucket{' in text
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    findings = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode in (0, 3), findings
    assert findings and all(line.endswith("metric names should not contain abbreviated units") and "_ms" in line
                            for line in findings), findings
