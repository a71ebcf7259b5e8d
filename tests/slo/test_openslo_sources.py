"""Recognising asrwatch's data in OpenSLO metric sources: good/total PromQL over the collector's
metrics is read as the asrwatch SLI it counts; anything else is refused with the reason."""

from __future__ import annotations

import pytest

from slo.openslo_sources import SourceError, asrwatch_spec, ratio_from_promql, threshold_from_promql


@pytest.mark.parametrize("good, total, expected", [
    # the shapes of Sloth's OpenSLO examples (slok/sloth examples/openslo-*.yml), over asrwatch's metrics
    ('sum by (region, channel) (rate(asrwatch_sessions_total{status="ok",model_version=~"whisper\\\\-v3@2026\\\\-11|m.2",'
     'channel="telephony",job="asrwatch"}[{{.window}}]))',
     'sum by (region, channel) (rate(asrwatch_sessions_total{model_version=~"whisper\\\\-v3@2026\\\\-11|m.2",'
     'channel="telephony",instance="c1:8080"}[{{.window}}]))',
     {"sli": "availability", "filters": {"channel": "telephony", "model_version": ["whisper-v3@2026-11", "m.2"]},
      "group_by": ["region", "channel"]}),
    ("sum(increase(asrwatch_final_latency_ms_bucket{le='1500',region=\"eu\"}[1h]))",
     'sum(increase(asrwatch_final_latency_ms_count{region="eu"}[1h]))',
     {"sli": "latency", "threshold_ms": 1500.0, "filters": {"region": "eu"}, "group_by": []}),
    ('asrwatch_utterance_wer_bucket{le="0.15"}', "asrwatch_utterance_wer_count",
     {"sli": "quality", "max_wer": 0.15, "filters": {}, "group_by": []}),
])
def test_ratio_queries_over_asrwatch_metrics(good, total, expected):
    readings = ratio_from_promql({"good": good, "total": total})
    assert {**readings["total"], **readings["good"]} == expected
    assert readings["total"]["filters"] == expected["filters"]  # total selects the same slices


@pytest.mark.parametrize("good, total, part, reason", [
    ('sum without (pod) (rate(asrwatch_sessions_total{status="ok"}[5m]))', "asrwatch_sessions_total",
     "good", "`without`"),
    ('asrwatch_sessions_total{status="ok",region!~"eu"}', "asrwatch_sessions_total", "good", "not a list of values"),
    ('asrwatch_sessions_total{status="ok"} + asrwatch_sessions_total{status="partial"}', "asrwatch_sessions_total",
     "good", "must count one series"),
    ('avg_over_time(asrwatch_sessions_total{status="ok"}[5m])', "asrwatch_sessions_total", "good",
     "must count one series"),
    ("asrwatch_sessions_total", "asrwatch_sessions_total", "good", 'takes status="ok"'),
    ('asrwatch_sessions_total{status="ok"}', 'asrwatch_sessions_total{status="ok"}', "total", "no status matcher"),
    ('asrwatch_final_latency_ms_bucket{le="+Inf"}', "asrwatch_final_latency_ms_count", "good", "not a finite"),
    ('asrwatch_queue_ms_bucket{le="100"}', "asrwatch_final_latency_ms_count", "good",
     "good must count asrwatch_final_latency_ms_bucket"),
    ('asrwatch_gpu_seconds_total', "asrwatch_gpu_seconds_total", "total", "asrwatch recognises"),
    ('http_requests_total{code="200"}', "http_requests_total", "good", "foreign data source"),
])
def test_ratio_queries_that_are_refused(good, total, part, reason):
    with pytest.raises(SourceError) as err:
        ratio_from_promql({"good": good, "total": total})
    assert err.value.part == part and err.value.field == "spec.query" and reason in err.value.reason


def test_threshold_queries():
    reading = threshold_from_promql('rate(asrwatch_final_latency_ms_sum{channel="web"}[5m]) / '
                                    'rate(asrwatch_final_latency_ms_count{channel="web"}[5m])')
    assert reading.params == {"sli": "latency", "filters": {"channel": "web"}, "group_by": []}
    assert reading.notes  # a mean is not a per-event judgement: said so
    assert threshold_from_promql("asrwatch_utterance_wer_bucket").params["sli"] == "quality"
    with pytest.raises(SourceError, match="exactly one asrwatch histogram"):
        threshold_from_promql("asrwatch_final_latency_ms_count / asrwatch_queue_ms_count")
    with pytest.raises(SourceError, match="select different slices"):
        threshold_from_promql('asrwatch_queue_ms_sum{region="eu"} / asrwatch_queue_ms_count')
    with pytest.raises(SourceError, match="not a latency or WER histogram"):
        threshold_from_promql("asrwatch_confidence_bucket")


def test_asrwatch_spec_keys_are_checked():
    assert asrwatch_spec({"sli": "latency", "threshold_ms": 5}, threshold=False)["threshold_ms"] == 5
    with pytest.raises(SourceError, match="the objective's value is the threshold"):
        asrwatch_spec({"sli": "latency", "threshold_ms": 5}, threshold=True)
    with pytest.raises(SourceError, match="unknown key"):
        asrwatch_spec({"sli": "latency", "treshold_ms": 5}, threshold=False)
    with pytest.raises(SourceError, match="unknown SLI 'availability' for a threshold metric"):
        asrwatch_spec({"sli": "availability"}, threshold=True)
