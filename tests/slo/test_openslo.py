"""OpenSLO import: the spec's shapes are read, mapped to asrwatch SLOs, or refused with file,
document, field and reason.

The fixtures are written here in the shapes of the OpenSLO spec (OpenSLO/OpenSLO README.md,
v1: SLO, SLI, DataSource, Objectives, duration-shorthand; examples/budgeting-method/*.yaml),
of oslo's test inputs (OpenSLO/oslo test/inputs/v1/slo/*.yaml, test/inputs/validate/v1.yaml,
test/v1/multi.yaml) and of Sloth's OpenSLO examples (slok/sloth examples/openslo-*.yml), with
metric sources pointed at asrwatch's data where the test wants an import.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from slo.openslo import import_openslo, load_openslo
from slo.openslo_docs import OpenSLOError, parse_shorthand

# The spec's multi-document layout: DataSource, SLI, SLO by reference, plus objects asrwatch leaves alone.
MULTI_DOC = """
apiVersion: openslo/v1
kind: Service
metadata: {name: asr, displayName: Speech recognition}
spec: {description: Streaming ASR}
---
apiVersion: openslo/v1
kind: DataSource
metadata: {name: fleet-prometheus}
spec:
  type: Prometheus
  connectionDetails: {url: "http://prometheus:9090"}
---
apiVersion: openslo/v1
kind: SLI
metadata: {name: session-availability}
spec:
  ratioMetric:
    counter: true
    good:
      metricSource:
        metricSourceRef: fleet-prometheus
        spec:
          query: sum by (region) (rate(asrwatch_sessions_total{status="ok",channel="telephony",job="asrwatch"}[5m]))
    total:
      metricSource:
        metricSourceRef: fleet-prometheus
        spec:
          query: sum by (region) (rate(asrwatch_sessions_total{channel="telephony",job="asrwatch"}[5m]))
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: telephony-availability, displayName: Telephony availability}
spec:
  description: Telephony sessions end ok
  service: asr
  indicatorRef: session-availability
  timeWindow:
    - duration: 4w
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Sessions ok
      targetPercent: 99.9
  alertPolicies: [fast-burn]
---
apiVersion: openslo/v1
kind: AlertPolicy
metadata: {name: fast-burn}
spec:
  alertWhenBreaching: true
  conditions: [{conditionRef: burn}]
  notificationTargets: [{targetRef: oncall}]
"""


def test_multi_document_file_with_refs_to_sli_and_datasource():
    (spec,) = import_openslo(MULTI_DOC, "asr.yaml")
    assert (spec.name, spec.sli, spec.objective) == ("telephony-availability", "availability", 0.999)
    assert spec.window == timedelta(weeks=4)
    assert spec.filters == {"channel": "telephony"} and spec.group_by == ("region",)
    assert spec.description == "Telephony sessions end ok" and spec.service == "asr"


# oslo's list form (test/inputs/validate/v1.yaml): one YAML document holding a list of objects.
LIST_FORM = """
- apiVersion: openslo/v1
  kind: SLO
  metadata: {name: final-latency}
  spec:
    service: asr
    indicator:
      metadata: {name: final-latency-ratio}
      spec:
        ratioMetric:
          counter: true
          good: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(asrwatch_final_latency_ms_bucket{le="1500",region=~"eu|us"}[5m]))'}}}
          total: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(asrwatch_final_latency_ms_count{region=~"eu|us"}[5m]))'}}}
    timeWindow: [{duration: 28d, isRolling: true}]
    budgetingMethod: Occurrences
    objectives: [{displayName: Fast, target: 0.99}, {displayName: Very fast, target: 0.95}]
- apiVersion: openslo/v1
  kind: Service
  metadata: {name: example service}
  spec: {description: Example service description}
"""


def test_list_form_and_one_slo_per_objective():
    fast, very_fast = import_openslo(LIST_FORM)
    assert (fast.name, fast.sli, fast.threshold_ms, fast.objective) == ("final-latency-fast", "latency", 1500.0, 0.99)
    assert very_fast.name == "final-latency-very-fast" and very_fast.objective == 0.95
    assert fast.filters == {"region": ["eu", "us"]} and fast.window == timedelta(days=28)


def test_rolling_month_is_thirty_days_and_never_a_minute(tmp_path):
    text = LIST_FORM.replace("duration: 28d", "duration: 1M")
    (tmp_path / "slo.yaml").write_text(text)
    imported = load_openslo([tmp_path / "slo.yaml"])
    assert {s.window for s in imported.specs} == {timedelta(days=30)}
    assert any("1M" in note and "30d" in note for note in imported.notes)
    (tmp_path / "slo.yaml").write_text(LIST_FORM.replace("duration: 28d", "duration: 90m"))
    assert {s.window for s in load_openslo([tmp_path / "slo.yaml"]).specs} == {timedelta(minutes=90)}


@pytest.mark.parametrize("text, expected", [
    ("1m", timedelta(minutes=1)), ("12h", timedelta(hours=12)), ("365d", timedelta(days=365)),
    ("4w", timedelta(weeks=4)), ("1M", timedelta(days=30)), ("1Q", timedelta(days=90)),
    ("1Y", timedelta(days=365)),
])
def test_duration_shorthand_is_case_sensitive(text, expected):
    assert parse_shorthand(text)[0] == expected


@pytest.mark.parametrize("text", ["1D", "1H", "30 d", "1.5d", "0d", "1h30m", "", "d", 30, None, "1s"])
def test_duration_shorthand_refuses_what_the_spec_does_not_allow(text):
    with pytest.raises(ValueError, match="duration-shorthand"):
        parse_shorthand(text)


THRESHOLD = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: search-slo, displayName: Searching time}
spec:
  service: asr
  indicator:
    metadata: {name: search-latency}
    spec:
      thresholdMetric:
        metricSource:
          type: Prometheus
          spec:
            query: histogram_quantile(0.99, sum by (le, channel) (rate(asrwatch_first_partial_ms_bucket{model_version="m1"}[5m])))
  timeWindow: [{duration: 2w, isRolling: true}]
  budgetingMethod: Occurrences
  objectives:
    - displayName: Good experience
      op: lte
      value: 500
      target: 0.99
"""


def test_threshold_metric_over_a_latency_histogram_is_a_latency_sli(tmp_path):
    (tmp_path / "t.yaml").write_text(THRESHOLD)
    imported = load_openslo([tmp_path / "t.yaml"])
    (spec,) = imported.specs
    assert (spec.name, spec.sli, spec.threshold_ms) == ("search-slo", "first_partial_latency", 500.0)
    assert spec.objective == 0.99
    assert spec.filters == {"model_version": "m1"} and spec.group_by == ("channel",)
    assert any("aggregate is not kept" in note for note in imported.notes)


def test_threshold_metric_in_asrwatch_words_and_op_lt():
    text = THRESHOLD.replace(
        "type: Prometheus\n          spec:\n            query: histogram_quantile(0.99, sum by (le, channel) "
        "(rate(asrwatch_first_partial_ms_bucket{model_version=\"m1\"}[5m])))",
        "type: asrwatch\n          spec: {sli: quality, filters: {channel: far_field}}",
    ).replace("op: lte\n      value: 500", "op: lt\n      value: 0.2")
    (spec,) = import_openslo(text)
    assert (spec.sli, spec.max_wer, spec.threshold_ms, spec.filters) == ("quality", 0.2, None, {"channel": "far_field"})


# Sloth's OpenSLO shape (openslo/v1alpha: objectives carry ratioMetrics; windows are count + unit).
SLOTH_V1ALPHA = """
apiVersion: openslo/v1alpha
kind: SLO
metadata:
  name: sloth-slo-asr
  displayName: Requests Availability
spec:
  service: asr
  description: "Sessions end ok."
  objectives:
    - ratioMetrics:
        good:
          source: prometheus
          queryType: promql
          query: sum(rate(asrwatch_sessions_total{status="ok"}[{{.window}}]))
        total:
          source: prometheus
          queryType: promql
          query: sum(rate(asrwatch_sessions_total[{{.window}}]))
      target: 0.999
    - ratioMetrics:
        good:
          source: prometheus
          queryType: promql
          query: sum(rate(asrwatch_queue_ms_bucket{le="250"}[{{.window}}]))
        total:
          source: prometheus
          queryType: promql
          query: sum(rate(asrwatch_queue_ms_count[{{.window}}]))
      target: 0.99
  timeWindows:
    - count: 30
      unit: Day
"""


def test_sloths_v1alpha_shape():
    avail, queue = import_openslo(SLOTH_V1ALPHA)
    assert (avail.name, avail.sli, avail.objective) == ("sloth-slo-asr-0", "availability", 0.999)
    assert avail.window == timedelta(days=30)
    assert (queue.name, queue.sli, queue.threshold_ms) == ("sloth-slo-asr-1", "queue_latency", 250.0)


def test_sloths_v1alpha_rolling_months_and_exact_units():
    month = import_openslo(SLOTH_V1ALPHA.replace("count: 30\n      unit: Day", "count: 1\n      unit: Month"))
    assert month[0].window == timedelta(days=30)
    weeks = import_openslo(SLOTH_V1ALPHA.replace("count: 30\n      unit: Day", "count: 4\n      unit: Week"))
    assert weeks[0].window == timedelta(weeks=4)


@pytest.mark.parametrize("window, field, reason", [
    # v1alpha's calendar-aligned window, as v1's (OpenSLO/oslo pkg/manifest/v1alpha: isRolling false
    # means calendar-aligned): without `calendar` it was once read as rolling, silently.
    ("count: 30\n      unit: Day\n      isRolling: false", "spec.timeWindows[0]",
     "calendar-aligned windows are not supported"),
    ("count: 1\n      unit: Month\n      calendar: {startTime: '2020-01-21 12:30:00', timeZone: UTC}",
     "spec.timeWindows[0]", "calendar-aligned windows are not supported"),
    ("count: 30\n      unit: Day\n      isRolling: 'yes'", "spec.timeWindows[0].isRolling", "must be true or false"),
    ("count: 30\n      unit: day", "spec.timeWindows[0].unit", "got 'day'"),
    ("count: 0\n      unit: Day", "spec.timeWindows[0].count", "positive integer"),
])
def test_v1alpha_windows_are_rejected_like_v1s(window, field, reason):
    text = SLOTH_V1ALPHA.replace("count: 30\n      unit: Day", window)
    with pytest.raises(OpenSLOError) as err:
        import_openslo(text, "sloth.yaml")
    message = str(err.value)
    assert "sloth.yaml: document 1 (SLO 'sloth-slo-asr'): " + field + ": " in message and reason in message


def test_bad_events_with_status_not_ok():
    text = MULTI_DOC.replace("    good:\n", "    bad:\n").replace('status="ok"', 'status!="ok"')
    (spec,) = import_openslo(text)
    assert spec.sli == "availability" and spec.filters == {"channel": "telephony"}


@pytest.mark.parametrize("metadata, expected", [
    ("{name: 'example service'}", "example-service"),
    ("{displayName: 'Búsqueda rápida / p99'}", "busqueda-rapida-p99"),
    ("{name: 'team|asr\\\\latency'}", "team-asr-latency"),
    ("{name: " + "x" * 200 + "}", None),
])
def test_valid_names_from_any_name_or_display_name(metadata, expected):
    text = THRESHOLD.replace("metadata: {name: search-slo, displayName: Searching time}", f"metadata: {metadata}")
    (spec,) = import_openslo(text)
    assert spec.name == expected if expected else len(spec.name) == 128


def test_names_stay_unique(tmp_path):
    (tmp_path / "a.yaml").write_text(THRESHOLD)
    (tmp_path / "b.yaml").write_text(THRESHOLD.replace("name: search-slo,", "name: 'search slo',"))
    imported = load_openslo([tmp_path])
    assert [s.name for s in imported.specs] == ["search-slo", "search-slo-2"]
    assert any("'search-slo' is taken" in note for note in imported.notes)


def test_references_resolve_across_a_directory(tmp_path):
    docs = MULTI_DOC.split("---")
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "datasource.yml").write_text(docs[1])
    (tmp_path / "sli.yaml").write_text(docs[2])
    (tmp_path / "slo.yaml").write_text(docs[3])
    (tmp_path / "notes.txt").write_text("not yaml: [")  # only *.yaml / *.yml are read
    (spec,) = load_openslo([tmp_path]).specs
    assert spec.name == "telephony-availability" and spec.group_by == ("region",)
    with pytest.raises(OpenSLOError) as err:  # alone, the SLO's reference has nothing to resolve to
        load_openslo([tmp_path / "slo.yaml"])
    assert "slo.yaml: document 1" in str(err.value) and "spec.indicatorRef" in str(err.value)
    assert "no kind: SLI document named 'session-availability'" in str(err.value)


REJECTIONS = [
    # oslo test/inputs/v1/slo/slo-composite-indicatorRef-rolling-no-alerts.yaml
    (("objectives: [{displayName: Fast, target: 0.99}, {displayName: Very fast, target: 0.95}]",
      "objectives: [{displayName: Foo, target: 0.98, compositeWeight: 1, indicatorRef: a},"
      " {displayName: Bar, target: 0.99, compositeWeight: 2, indicatorRef: b}]"),
     "spec.objectives[0].compositeWeight", "composite SLOs are not supported"),
    # oslo test/inputs/validate/v1.yaml and the spec's examples/budgeting-method/*.yaml
    (("budgetingMethod: Occurrences", "budgetingMethod: Timeslices"), "spec.budgetingMethod",
     "Timeslices is not supported"),
    (("budgetingMethod: Occurrences", "budgetingMethod: RatioTimeslices"), "spec.budgetingMethod", "RatioTimeslices"),
    (("budgetingMethod: Occurrences", "budgetingMethod: occurrences"), "spec.budgetingMethod", "got 'occurrences'"),
    # oslo test/inputs/v1/slo/slo-indicatorref-calendar-alerts.yaml
    (("timeWindow: [{duration: 28d, isRolling: true}]",
      "timeWindow: [{duration: 1M, calendar: {startTime: '2020-01-21 12:30:00', timeZone: America/New_York},"
      " isRolling: false}]"),
     "spec.timeWindow[0]", "calendar-aligned windows are not supported"),
    (("duration: 28d", "duration: 28D"), "spec.timeWindow[0].duration", "case-sensitive"),
    # the spec's inline-SLI example (Datadog) and oslo test/inputs/v1/slo/slo-no-indicatorref-rolling-no-alerts.yaml
    (("{metricSource: {type: Prometheus, spec: {query: 'sum(rate(asrwatch_final_latency_ms_bucket",
      "{metricSource: {type: Datadog, spec: {query: 'sum(rate(asrwatch_final_latency_ms_bucket"),
     "spec.indicator.spec.ratioMetric.good.metricSource.type", "'Datadog' is a foreign data source"),
    # the spec's ratioMetric example: a Prometheus query over metrics that are not asrwatch's
    (("asrwatch_final_latency_ms_count{region=~\"eu|us\"}", "localhost_server_requests{code=\"total\"}"),
     "ratioMetric.total.metricSource.spec.query", "reads localhost_server_requests, which asrwatch does not export"),
    (("good: {metricSource", "raw: {metricSource"), "spec.indicator.spec.ratioMetric.raw", "precomputed ratio"),
    (("le=\"1500\",region=~\"eu|us\"", "le=\"1500\",region=\"eu\""), "ratioMetric.good.metricSource",
     "filters {'region': 'eu'} disagrees with total's {'region': ['eu', 'us']}"),
    (("region=~\"eu|us\"}[5m]))'}}}\n          total", "pod=\"x\"}[5m]))'}}}\n          total"),
     "ratioMetric.good.metricSource.spec.query", "label pod is not a label of asrwatch's metrics"),
    (("{displayName: Fast, target: 0.99}", "{displayName: Fast, tagret: 0.99}"), "spec.objectives[0].tagret",
     "unknown field"),
    (("{displayName: Fast, target: 0.99}", "{displayName: Fast, target: 99}"), "spec.objectives[0].target",
     "between 0 and 1"),
    (("{displayName: Fast, target: 0.99}", "{displayName: Fast, target: 0.99, targetPercent: 99}"),
     "spec.objectives[0]", "exactly one of target"),
]


@pytest.mark.parametrize("change, field, reason", REJECTIONS)
def test_rejections_name_file_document_field_and_reason(tmp_path, change, field, reason):
    assert change[0] in LIST_FORM
    (tmp_path / "fleet.yaml").write_text(LIST_FORM.replace(*change))
    with pytest.raises(OpenSLOError) as err:
        load_openslo([tmp_path / "fleet.yaml"])
    message = str(err.value)
    assert "fleet.yaml: document 1 item 1 (SLO 'final-latency')" in message
    assert field in message and reason in message


def test_foreign_datasource_by_reference_is_named():
    # oslo test/v1/multi.yaml: a thresholdMetric whose metricSourceRef is a CloudWatch DataSource
    text = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: foo-slo}
spec:
  service: foo-slos
  indicatorRef: foo-sli
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{displayName: Test Objective, op: gte, target: 0.98, value: 10}]
---
apiVersion: openslo/v1
kind: SLI
metadata: {name: foo-sli}
spec:
  thresholdMetric:
    metricSource:
      metricSourceRef: foo-cloudwatch
      spec: {metricName: 2xx, namespace: CloudWatchSynthetics}
---
apiVersion: openslo/v1
kind: DataSource
metadata: {name: foo-cloudwatch}
spec: {type: CloudWatch}
"""
    with pytest.raises(OpenSLOError) as err:
        import_openslo(text, "multi.yaml")
    message = str(err.value)
    assert "multi.yaml: document 1 (SLO 'foo-slo')" in message and "SLI 'foo-sli' (multi.yaml: document 2)" in message
    assert "thresholdMetric.metricSource.type" in message and "'CloudWatch' is a foreign data source" in message


def test_threshold_objective_must_count_fast_events_as_good():
    with pytest.raises(OpenSLOError, match=r"spec.objectives\[0\].op: gte would count"):
        import_openslo(THRESHOLD.replace("op: lte", "op: gte"))


def test_sloths_own_example_is_read_and_refused_as_foreign():
    # slok/sloth examples/openslo-kubernetes-apiserver.yml: read, but it measures the apiserver
    text = SLOTH_V1ALPHA.replace('asrwatch_sessions_total{status="ok"}', 'apiserver_request_total{code!~"(5..|429)"}')
    with pytest.raises(OpenSLOError) as err:
        import_openslo(text, "openslo-kubernetes-apiserver.yml")
    assert "openslo-kubernetes-apiserver.yml: document 1 (SLO 'sloth-slo-asr')" in str(err.value)
    assert "spec.objectives[0].ratioMetrics.good.query" in str(err.value)
    assert "apiserver_request_total" in str(err.value) and "foreign data source" in str(err.value)


def test_every_bad_slo_is_reported_and_typos_in_kinds_are_errors():
    two_bad = THRESHOLD.replace("op: lte", "op: gte") + "---\n" + THRESHOLD.replace(
        "name: search-slo,", "name: other,").replace("duration: 2w", "duration: 2W")
    with pytest.raises(OpenSLOError) as err:
        import_openslo(two_bad, "two.yaml")
    assert "two.yaml: document 1 (SLO 'search-slo')" in str(err.value)
    assert "two.yaml: document 2 (SLO 'other'): spec.timeWindow[0].duration" in str(err.value)
    with pytest.raises(OpenSLOError, match="two.yaml: document 1: kind: unknown OpenSLO kind 'Slo'"):
        import_openslo(THRESHOLD.replace("kind: SLO", "kind: Slo"), "two.yaml")
    with pytest.raises(OpenSLOError, match="apiVersion: SLO is read in openslo/v1 or openslo/v1alpha, got 'openslo/v2"):
        import_openslo(THRESHOLD.replace("openslo/v1", "openslo/v2alpha"))
