"""The debug page's model-version chart (pure): the API's rows become one bar per version and
metric, WER in percent with its 95% interval, and a version without a value has no bar."""

from __future__ import annotations

import pytest

from dashboards import version_comparison as vc

WER = [{"model_version": "canary", "wer": 0.25, "ci_low": 0.2, "ci_high": 0.31},
       {"model_version": "base", "wer": 0.2, "ci_low": 0.18, "ci_high": 0.22},
       {"model_version": "unlabeled", "wer": None, "ci_low": None, "ci_high": None}]
LATENCY = [{"model_version": "base", "final_p50_ms": 500.0, "final_p95_ms": 900.0, "final_p99_ms": 1200.0,
            "first_partial_p95_ms": 300.0},
           {"model_version": "canary", "final_p50_ms": 520.0, "final_p95_ms": float("nan"), "final_p99_ms": 1500.0,
            "first_partial_p95_ms": 310.0}]
COST = [{"model_version": "base", "cost_per_successful_turn": 0.004, "cost_per_audio_minute": 0.02}]


def test_bars_per_metric_and_version_with_wer_in_percent_and_its_interval():
    bars = vc.comparison_bars_frame(WER, LATENCY, COST)
    wer = bars[bars["metric"] == "WER (%)"]
    assert list(wer["model_version"]) == ["base", "canary"]  # no bar at zero for a version without labels
    assert wer["value"].tolist() == pytest.approx([20.0, 25.0])
    assert list(zip(wer["low"], wer["high"])) == pytest.approx([(18.0, 22.0), (20.0, 31.0)])
    p95 = bars[bars["metric"] == "final p95 (ms)"]
    assert list(p95["model_version"]) == ["base"]  # NaN (no sessions) draws nothing
    assert bars[bars["metric"] == "final p50 (ms)"][["low", "high"]].isna().all().all()  # no interval from the API
    assert list(dict.fromkeys(bars["metric"])) == [m for m in vc.METRICS if m in set(bars["metric"])]
    assert list(bars[bars["metric"].str.startswith("cost")]["model_version"]) == ["base", "base"]


def test_the_chart_gives_each_metric_its_own_scale_and_names_every_version_whole():
    bars = vc.comparison_bars_frame(WER, LATENCY, COST)
    description = vc.comparison_description(bars)
    assert description.startswith("Model versions side by side (base, canary): WER (%), final p50 (ms)")
    spec = vc.comparison_chart(bars, description).to_dict()
    assert spec["resolve"]["scale"]["y"] == "independent" and spec["description"] == description
    assert spec["facet"]["field"] == "metric" and spec["facet"]["sort"] == vc.METRICS
    assert spec["facet"]["header"]["labelLimit"] == 0
    columns, whiskers = spec["spec"]["layer"]
    assert columns["encoding"]["color"]["legend"]["labelLimit"] == 0
    assert (whiskers["encoding"]["y"]["field"], whiskers["encoding"]["y2"]["field"]) == ("low", "high")
