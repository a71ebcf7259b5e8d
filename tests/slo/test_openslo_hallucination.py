"""The `hallucination` SLI in OpenSLO: a ratio of the collector's flagged over checked counters
(bad over total, as the exported rules count it) imports as the SLI; good over checked is refused
with the reason; `type: asrwatch` names it in asrwatch's words."""

from __future__ import annotations

import pytest

from slo.openslo import import_openslo, to_config
from slo.openslo_sources import SourceError, asrwatch_spec, ratio_from_promql
from slo.prometheus_rules import bad_and_total
from slo.spec import BAD_COUNTERS_FOR_SLI, parse_slo

FLAGGED, CHECKED = BAD_COUNTERS_FOR_SLI["hallucination"]

DOC = f"""
apiVersion: openslo/v1
kind: SLO
metadata: {{name: no-hallucinations}}
spec:
  service: asr
  indicator:
    metadata: {{name: hallucination-free-transcripts}}
    spec:
      ratioMetric:
        counter: true
        bad: {{metricSource: {{type: Prometheus, spec: {{query: 'sum by (model_version) (rate({FLAGGED}{{channel="far_field",job="asrwatch"}}[5m]))'}}}}}}
        total: {{metricSource: {{type: Prometheus, spec: {{query: 'sum by (model_version) (rate({CHECKED}{{channel="far_field"}}[5m]))'}}}}}}
  timeWindow: [{{duration: 7d, isRolling: true}}]
  budgetingMethod: Occurrences
  objectives: [{{target: 0.99}}]
"""


def test_flagged_over_checked_is_the_hallucination_sli():
    readings = ratio_from_promql({"bad": f'sum by (region) (rate({FLAGGED}{{tenant=~"a|b"}}[5m]))',
                                  "total": f'sum by (region) (rate({CHECKED}{{tenant=~"a|b"}}[5m]))'})
    assert readings["bad"] == readings["total"] == {"sli": "hallucination", "filters": {"tenant": ["a", "b"]},
                                                    "group_by": ["region"]}
    (spec,) = import_openslo(DOC)
    assert (spec.sli, spec.objective, spec.filters, spec.group_by) == ("hallucination", 0.99, {"channel": "far_field"},
                                                                      ("model_version",))
    assert to_config([spec])[0]["sli"] == "hallucination"
    # The rules asrwatch exports for it count the same two series the import read.
    bad, total = bad_and_total(spec, spec.window)
    assert FLAGGED + '{channel="far_field"}' in bad and CHECKED + '{channel="far_field"}' in total


@pytest.mark.parametrize("parts, part, reason", [
    ({"good": CHECKED, "total": CHECKED}, "good", f"takes bad as {FLAGGED}, not good"),
    ({"bad": "asrwatch_empty_hypotheses_total", "total": CHECKED}, "bad", f"takes bad as {FLAGGED}"),
    ({"bad": FLAGGED, "total": FLAGGED}, "total", "asrwatch recognises"),
])
def test_other_shapes_are_refused(parts, part, reason):
    with pytest.raises(SourceError) as err:
        ratio_from_promql(parts)
    assert err.value.part == part and reason in err.value.reason


def test_asrwatch_words():
    assert asrwatch_spec({"sli": "hallucination", "group_by": ["channel"]}, threshold=False)["sli"] == "hallucination"
    with pytest.raises(SourceError, match="unknown SLI"):  # no threshold to judge each event against
        asrwatch_spec({"sli": "hallucination"}, threshold=True)
    spec = parse_slo({"name": "h", "sli": "hallucination", "objective": 0.995, "group_by": ["channel"]})
    assert spec.sli == "hallucination"
    with pytest.raises(ValueError, match="max_wer"):
        parse_slo({"name": "h", "sli": "hallucination", "objective": 0.99, "max_wer": 0.1})
