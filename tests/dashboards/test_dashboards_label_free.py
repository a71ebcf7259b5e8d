"""The model-owner page's label-free WER table: a withheld estimate shows its reason, never a number,
and calibration health is flattened per version and per slice as `/api/v1/drift` reports it."""

from __future__ import annotations

import math

from dashboards import transforms as tf


def _health(slope, intercept, ece, healthy, problems=()):
    return {"n": 400, "slope": slope, "intercept": intercept, "ece": ece, "healthy": healthy,
            "problems": list(problems)}


DRIFT = {"label_free": [
    {"model_version": "v1", "estimated_wer": 0.12, "ci_low": 0.11, "ci_high": 0.13, "withheld_reason": None,
     "warnings": [], "calibration_health": {"healthy": True, "calibrated": _health(0.98, 0.001, 0.004, True),
                                            "raw": _health(0.7, 0.09, 0.09, False, ["slope 0.70 outside 0.8..1.2"])},
     "calibration_slices": [{"slice": "channel=mobile", "healthy": False,
                             "calibrated": _health(0.5, -0.06, 0.07, False, ["slope 0.50 outside 0.8..1.2",
                                                                             "ECE 0.070 over 0.05"]),
                             "raw": _health(0.4, 0.01, 0.08, False)}],
     "reliability": [{"confidence": 0.85, "accuracy": 0.9, "count": 300}]},
    {"model_version": "v2", "estimated_wer": None, "ci_low": None, "ci_high": None,
     "withheld_reason": "calibration unhealthy: slope 0.52 outside 0.8..1.2", "warnings": ["calibration is stale"],
     "calibration_health": {"healthy": False, "calibrated": _health(0.52, 0.0, 0.02, False), "raw": None}},
]}


def test_withheld_estimates_show_their_reason_and_no_number():
    lf = tf.label_free_frame(DRIFT)
    v2 = lf.set_index("model_version").loc["v2"]
    assert v2["withheld_reason"] == "calibration unhealthy: slope 0.52 outside 0.8..1.2"
    assert math.isnan(v2["estimated_wer"])  # an empty cell, not a number
    assert v2["calibrated_slope"] == 0.52 and math.isnan(v2["raw_slope"]) and not v2["calibration_healthy"]
    assert tf.withheld_label_free(DRIFT) == ["Label-free WER for v2 withheld: calibration unhealthy: slope 0.52 "
                                             "outside 0.8..1.2"]
    v1 = lf.set_index("model_version").loc["v1"]
    assert (v1["estimated_wer"], v1["calibrated_ece"], v1["raw_intercept"]) == (0.12, 0.004, 0.09)


def test_calibration_health_per_slice_and_the_reliability_diagram():
    slices = tf.calibration_slices_frame(DRIFT)
    assert slices.to_dict("records") == [{
        "model_version": "v1", "slice": "channel=mobile", "healthy": False, "n": 400, "calibrated_slope": 0.5,
        "calibrated_intercept": -0.06, "calibrated_ece": 0.07, "raw_slope": 0.4, "raw_intercept": 0.01,
        "raw_ece": 0.08, "problems": "slope 0.50 outside 0.8..1.2; ECE 0.070 over 0.05"}]
    curve = tf.calibration_frame(DRIFT)
    assert curve.to_dict("records") == [{"model_version": "v1", "confidence": 0.85, "accuracy": 0.9, "count": 300}]
