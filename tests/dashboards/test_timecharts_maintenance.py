"""Maintenance windows on the console's time charts: a rule at each end inside the range (as every
marker) and the window shaded over the part of the range it covers: one that began before the
range from the range's start, one still running to the range's end, each by its own id."""

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
        {"t": "2026-06-01T04:10:00Z", "end": "2026-06-01T04:40:00Z", "kind": "maintenance", "text": "maintenance a",
         "target": "mw-a"},
        {"t": "2026-06-01T03:00:00Z", "end": "2026-06-01T04:20:00Z", "kind": "maintenance", "text": "maintenance b",
         "target": "mw-b"},
        # Same text, another window, still running past the range's end.
        {"t": "2026-06-01T04:50:00Z", "end": "2026-06-01T06:00:00Z", "kind": "maintenance", "text": "maintenance a",
         "target": "mw-c"},
        {"t": "2026-06-01T04:05:00Z", "end": None, "kind": "rollout", "text": "rollout c"}]
    marks = sf.annotations_frame(annotations, BUDGET["since"], BUDGET["until"])
    rects, spec = _rects(timecharts.budget_chart(sf.budget_series_frame(BUDGET), marks, "budget"))
    assert len(rects) == 1
    rows = spec["datasets"][rects[0]["data"]["name"]]
    assert sorted((r["text"], r["start"][:16], r["end"][:16]) for r in rows) == [
        ("maintenance a", "2026-06-01T04:10", "2026-06-01T04:40"),
        ("maintenance a", "2026-06-01T04:50", "2026-06-01T05:00"),  # still running: to the range's end
        ("maintenance b", "2026-06-01T04:00", "2026-06-01T04:20")]  # began before the range: from its start
    rules = [layer for layer in spec["layer"] if layer.get("mark", {}).get("type") == "rule"
             and layer.get("encoding", {}).get("x", {}).get("field") == "t"]
    assert len(rules) == 1  # the markers' rules, maintenance ends included
    ruled = spec["datasets"][rules[0]["data"]["name"]]
    assert sorted((r["kind"], r["t"][:16]) for r in ruled) == [  # only the ends inside the range
        ("maintenance", "2026-06-01T04:10"), ("maintenance", "2026-06-01T04:50"),
        ("maintenance end", "2026-06-01T04:20"), ("maintenance end", "2026-06-01T04:40"),
        ("rollout", "2026-06-01T04:05")]
    without = sf.annotations_frame(annotations[3:], BUDGET["since"], BUDGET["until"])
    assert _rects(timecharts.budget_chart(sf.budget_series_frame(BUDGET), without, "budget"))[0] == []
