"""The time charts' frames and charts (pure): episodes to shade, the hottest group first, markers
on every time axis, legends whole."""

from __future__ import annotations

import pandas as pd

from dashboards import series_frames as sf
from dashboards import timecharts

SERIES = {
    "since": "2026-06-01T04:00:00+00:00", "until": "2026-06-01T05:00:00+00:00",
    "windows": [{"window": "5m", "window_s": 300}, {"window": "1h", "window_s": 3600}],
    "alert_tiers": [
        {"severity": "page", "enabled": True, "long_window": "1h", "short_window": "5m", "factor": 14.4},
        {"severity": "page", "enabled": True, "long_window": "6h", "short_window": "30m", "factor": 6.0},
        {"severity": "ticket", "enabled": False, "long_window": "1d", "short_window": "2h", "factor": 3.0},
    ],
    "groups": [{"group": {"region": "eu"}, "points": [
        {"t": f"2026-06-01T04:{m:02d}:00+00:00", "burn_rates": {"5m": b, "1h": b / 2},
         "error_budget_remaining": 1 - m / 100, "firing": f} for m, b, f in
        ((0, 0.0, None), (15, 20.0, "page"), (30, 30.0, "page"), (45, 1.0, None))]}],
    "episodes": [],
}


def test_computed_runs_are_shaded_where_no_episode_was_recorded():
    eps = sf.episodes_frame(SERIES)
    assert [(r.start.minute, r.end.minute, r.severity, r.source) for r in eps.itertuples()] == [
        (15, 45, "page", "computed")]
    assert "page 2026-06-01 04:15 – 04:45 UTC (computed)" in sf.episodes_caption(SERIES)


def test_recorded_episodes_win_and_are_clipped_to_the_range():
    recorded = {**SERIES, "episodes": [{"severity": "page", "starts_at": "2026-06-01T03:50:00+00:00",
                                        "ends_at": None}]}
    eps = sf.episodes_frame(recorded)
    assert [(str(r.start), str(r.end), r.source) for r in eps.itertuples()] == [
        ("2026-06-01 04:00:00+00:00", "2026-06-01 05:00:00+00:00", "recorded")]
    assert sf.episodes_caption(recorded).endswith("(still firing).")


def test_burn_budget_and_rules_frames():
    burns = sf.burn_series_frame(SERIES)
    assert list(burns["window"][:2]) == ["5m", "1h"] and len(burns) == 8
    assert sf.budget_series_frame(SERIES)["error_budget_remaining"].tolist() == [1.0, 0.85, 0.7, 0.55]
    rules = sf.tier_rules_frame(SERIES)
    assert list(zip(rules["severity"], rules["threshold"])) == [("page", 14.4), ("page", 6.0)]  # ticket disabled


def test_the_default_group_is_the_one_burning_now():
    slos = {"slos": [
        {"name": "a", "groups": [{"group": {"region": "ap"}, "burn_rates": {"1h": None}},
                                 {"group": {"region": "eu"}, "burn_rates": {"1h": 2.0}}]},
        {"name": "b", "groups": [{"group": {}, "burn_rates": {"1h": 30.0}},
                                 {"group": {"x": "y"}, "burn_rates": {"1h": float("nan")}}]},
    ]}
    assert list(sf.group_choices(slos)) == ["b · all", "a · region=eu", "a · region=ap", "b · x=y"]
    assert sf.group_choices(slos)["a · region=eu"] == ("a", {"region": "eu"})


def test_markers_are_rules_on_every_time_chart_and_legends_are_whole():
    marks = sf.annotations_frame([
        {"t": "2026-06-01T04:10:00Z", "end": None, "kind": "rollout", "text": "rollout c registered"},
        {"t": "2026-06-01T04:20:00Z", "end": "2026-06-01T04:40:00Z", "kind": "silence", "text": "silence x"}])
    assert list(marks["kind"]) == ["rollout", "silence", "silence end"]
    charts = [
        timecharts.burn_chart(sf.burn_series_frame(SERIES), sf.tier_rules_frame(SERIES), sf.episodes_frame(SERIES),
                              marks, "burn"),
        timecharts.budget_chart(sf.budget_series_frame(SERIES), marks, "budget"),
        timecharts.lines_chart(sf.latency_series_frame([{"t": "2026-06-01T04:00:00Z", "final_p50_ms": 1.0,
                                                         "final_p95_ms": 2.0, "final_p99_ms": 3.0}]),
                               "ms", "quantile", "ms", marks, "latency"),
    ]
    for chart in charts:
        spec = chart.to_dict()
        rules = [layer for layer in spec["layer"] if layer.get("mark", {}).get("type") == "rule"
                 and layer.get("encoding", {}).get("x", {}).get("field") == "t"]
        assert len(rules) == 1, spec["description"]
        legends = [enc["legend"] for layer in spec["layer"] for enc in layer.get("encoding", {}).values()
                   if isinstance(enc, dict) and enc.get("legend")]
        assert legends and all(g["labelLimit"] == 0 and g["orient"] == "bottom" for g in legends)


def test_outcome_and_driver_frames():
    rows = [{"t": "2026-06-01T04:00:00Z", "sessions": 200, "decode_error": 10, "partial": 4,
             "retries_per_session": 0.1, "shadow_fraction": 0.0, "gpu_seconds_per_audio_second": 0.05}]
    out = sf.outcome_series_frame(rows)
    assert dict(zip(out["outcome"], out["rate"])) == {"decode failures": 0.05, "partials": 0.02}
    drivers = sf.driver_series_frame(rows)
    assert dict(zip(drivers["driver"], drivers["value"])) == {
        "retries per session": 0.1, "shadow traffic share": 0.0, "GPU-s per audio-s": 0.05}
    assert isinstance(out["t"].iloc[0], pd.Timestamp) and str(out["t"].iloc[0].tz) == "UTC"


def test_a_run_firing_only_at_the_last_point_is_shaded_one_step_wide():
    points = [dict(p) for p in SERIES["groups"][0]["points"]]
    points[-1]["firing"] = "ticket"  # 04:45, the last point; the range runs to 05:00
    series = {**SERIES, "groups": [{"group": {"region": "eu"}, "points": points}]}
    eps = sf.episodes_frame(series)
    last = eps[eps["severity"] == "ticket"]
    assert [(str(r.start), str(r.end)) for r in last.itertuples()] == [
        ("2026-06-01 04:45:00+00:00", "2026-06-01 05:00:00+00:00")]
    # On the range's last instant the run still gets one step (15 minutes) of width.
    points.append({"t": "2026-06-01T05:00:00+00:00", "burn_rates": {}, "firing": "page"})
    eps = sf.episodes_frame(series)
    last = eps[eps["start"] == pd.Timestamp("2026-06-01T05:00:00Z")]
    assert [(str(r.end), r.severity) for r in last.itertuples()] == [("2026-06-01 05:15:00+00:00", "page")]


def test_markers_outside_the_range_are_left_off_so_the_time_axis_stays_on_the_range():
    annotations = [
        {"t": "2026-05-25T04:00:00Z", "end": None, "kind": "rollout", "text": "canary judged from"},
        {"t": "2026-06-01T03:00:00Z", "end": "2026-06-01T04:30:00Z", "kind": "silence", "text": "s1"},
        {"t": "2026-06-01T04:40:00Z", "end": "2026-06-01T09:00:00Z", "kind": "silence", "text": "s2"}]
    marks = sf.annotations_frame(annotations, SERIES["since"], SERIES["until"])
    assert [(str(r.t), r.kind, r.text) for r in marks.itertuples()] == [
        ("2026-06-01 04:30:00+00:00", "silence end", "s1"), ("2026-06-01 04:40:00+00:00", "silence", "s2")]
    chart = timecharts.budget_chart(sf.budget_series_frame(SERIES), marks, "budget").to_dict()
    times = [pd.Timestamp(str(v)) for data in chart["datasets"].values() for row in data
             for k, v in row.items() if k == "t"]
    assert times and min(times) >= pd.Timestamp(SERIES["since"]) and max(times) <= pd.Timestamp(SERIES["until"])
    assert len(sf.annotations_frame(annotations)) == 5  # without a range, every mark
