"""The `entity_recall` SLI kind (#20 part 2): spec, exported rules over the collector's counters,
and OpenSLO import of the same ratio. (Its counts from the rollups are checked against the pure
reference in test_sli_source_sql.py, and its alerts against promtool in test_slo_promtool_diff.py.)"""

from datetime import timedelta

import pytest

from slo.openslo import import_openslo
from slo.prometheus_rules import bad_and_total
from slo.spec import SLOSpecError, parse_slo

SLO = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: product-names}
spec:
  service: asr
  indicator:
    metadata: {name: entity-recall}
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: sum by (tenant) (rate(asrwatch_entities_found_total{channel="telephony"}[5m]))
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum by (tenant) (rate(asrwatch_entity_occurrences_total{channel="telephony"}[5m]))
  timeWindow: [{duration: 7d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{displayName: names heard, target: 0.95}]
"""


def test_spec_takes_no_threshold():
    spec = parse_slo({"name": "names", "sli": "entity_recall", "objective": 0.95})
    assert spec.sli == "entity_recall"
    with pytest.raises(SLOSpecError, match="max_wer"):
        parse_slo({"name": "names", "sli": "entity_recall", "objective": 0.95, "max_wer": 0.1})


def test_rules_count_missed_occurrences_over_occurrences():
    spec = parse_slo({"name": "names", "sli": "entity_recall", "objective": 0.95, "filters": {"tenant": "acme"},
                      "group_by": ["region"]})
    bad, total = bad_and_total(spec, timedelta(hours=1))
    assert "asrwatch_entity_occurrences_total{tenant=\"acme\"}" in total and "sum by (region)" in total
    assert bad.startswith(f"({total} - ") and "asrwatch_entities_found_total{tenant=\"acme\"}" in bad


def test_openslo_ratio_over_the_entity_counters_imports_as_entity_recall():
    (spec,) = import_openslo(SLO, "names.yaml")
    assert (spec.sli, spec.objective, spec.filters, spec.group_by) == (
        "entity_recall", 0.95, {"channel": "telephony"}, ("tenant",))


def test_openslo_ratio_with_the_wrong_good_counter_names_it():
    text = SLO.replace("asrwatch_entities_found_total", "asrwatch_entity_occurrences_total", 1)
    with pytest.raises(Exception, match="asrwatch_entities_found_total"):
        import_openslo(text, "names.yaml")
