"""Maintenance windows on the console's time charts: a rule at each end (as every marker) and the
span between shaded, paired by the window's text; a window reaching past the charted range is
shaded to the range's edge of its marks."""

from __future__ import annotations

from dashboards import series_frames as sf
from dashboards import timecharts

BUDGET = {"since": "2026-06-01T04:00:00Z", "until": "2026-06-01T05:00:00Z", "step": "15m", "step_s": 900,
          "groups": [{"group": {}, "points": [{"t": f"2026-06-01T04:{m:02d}:00Z", "error_budget_remaining": 0.5}
                                              for m in (0, 15, 30, 45)]}]}


def _rects(chart) -> list[dict]:
    spec = chart.to_dict()
    return [layer for layer in spec["layer"] if layer.get("mark", {}).get("type") == "rect"
            and layer.get("encoding", {}).get("x", {}).get("field") == "start"], spec


def test_a_maintenance_window_is_shaded_between_its_rules():
    annotations = [
        {"t": "2026-06-01T04:10:00Z", "end": "2026-06-01T04:40:00Z", "kind": "maintenance", "text": "maintenance a"},
        {"t": "2026-06-01T03:00:00Z", "end": "2026-06-01T04:20:00Z", "kind": "maintenance", "text": "maintenance b"},
        {"t": "2026-06-01T04:05:00Z", "end": None, "kind": "rollout", "text": "rollout c"}]
    marks = sf.annotations_frame(annotations, BUDGET["since"], BUDGET["until"])
    rects, spec = _rects(timecharts.budget_chart(sf.budget_series_frame(BUDGET), marks, "budget"))
    assert len(rects) == 1
    rows = spec["datasets"][rects[0]["data"]["name"]]
    assert sorted((r["text"], r["start"][:16], r["end"][:16]) for r in rows) == [
        ("maintenance a", "2026-06-01T04:10", "2026-06-01T04:40"),
        ("maintenance b", "2026-06-01T04:05", "2026-06-01T04:20")]  # began before the range: from its first mark
    rules = [layer for layer in spec["layer"] if layer.get("mark", {}).get("type") == "rule"
             and layer.get("encoding", {}).get("x", {}).get("field") == "t"]
    assert len(rules) == 1  # the markers' rules, maintenance ends included
    without = sf.annotations_frame(annotations[2:], BUDGET["since"], BUDGET["until"])
    assert _rects(timecharts.budget_chart(sf.budget_series_frame(BUDGET), without, "budget"))[0] == []
