"""Altair time charts: one time axis per chart, markers (rollouts, rollbacks, silences, maintenance
windows, these also shaded) on each, legends below the plot with labels never cut
(`labelLimit=0`). Pure: frames in, charts out.

Every chart carries a `description` (Vega's ARIA label on the drawn chart) stating what a person
would read off it (e.g. the alert episodes with their times), so a screen reader and the browser
test read the same sentence the shading shows.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboards.series_frames import SPAN

MARKER_COLORS = {"rollout": "#7c3aed", "rollback": "#dc2626", "silence": "#6b7280", "silence end": "#9ca3af",
                 "maintenance": "#0891b2", "maintenance end": "#67e8f9"}
MAINTENANCE_FILL = "#0891b2"
SEVERITY_COLORS = {"page": "#dc2626", "ticket": "#f59e0b"}
HEIGHT = 240


def _legend(title: str | None = None) -> alt.Legend:
    return alt.Legend(orient="bottom", labelLimit=0, titleLimit=0, title=title, columns=0)


def _x(title: str | None = None) -> alt.X:
    return alt.X("t:T", title=title, axis=alt.Axis(labelLimit=0, labelOverlap=True, format="%m-%d %H:%M"))


def markers(frame: pd.DataFrame) -> alt.Chart | None:
    """Vertical rules at each marker's time, coloured by kind (shown in a legend of their own)."""
    if frame is None or frame.empty:
        return None
    frame = frame[frame["kind"] != SPAN][["t", "kind", "text"]]
    if frame.empty:
        return None
    kinds = [k for k in MARKER_COLORS if k in set(frame["kind"])]
    return alt.Chart(frame).mark_rule(strokeDash=[4, 3], strokeWidth=2).encode(
        x="t:T",
        stroke=alt.Stroke("kind:N", scale=alt.Scale(domain=kinds, range=[MARKER_COLORS[k] for k in kinds]),
                          legend=_legend("marker")),
        tooltip=[alt.Tooltip("t:T", format="%Y-%m-%d %H:%M"), "kind", "text"])


def maintenance_spans(frame: pd.DataFrame | None) -> alt.Chart | None:
    """Maintenance windows shaded over the part of the range they cover (`series_frames.SPAN`
    rows, clipped to the range): their events count in no budget, so a flat stretch of the
    budget there is by design."""
    if frame is None or frame.empty or "start" not in frame.columns:
        return None
    spans = frame[frame["kind"] == SPAN][["start", "end", "text"]]
    if spans.empty:
        return None
    return alt.Chart(spans).mark_rect(opacity=0.12, color=MAINTENANCE_FILL).encode(
        x="start:T", x2="end:T", tooltip=[alt.Tooltip("start:T", format="%Y-%m-%d %H:%M"),
                                          alt.Tooltip("end:T", format="%Y-%m-%d %H:%M"), "text"])


def _with_markers(chart: alt.Chart, marks: pd.DataFrame | None, description: str) -> alt.LayerChart:
    layers = [s for s in [maintenance_spans(marks)] if s is not None] + [chart]
    layers += [m] if (m := markers(marks)) is not None else []
    return alt.layer(*layers).resolve_scale(color="independent", stroke="independent").properties(
        height=HEIGHT, description=description)


def burn_chart(burns: pd.DataFrame, rules: pd.DataFrame, episodes: pd.DataFrame, marks: pd.DataFrame | None,
               description: str) -> alt.LayerChart:
    """Burn rate per tier window over time; the tiers' thresholds as horizontal rules; alert
    episodes shaded by severity."""
    order = list(dict.fromkeys(burns.sort_values("window_s")["window"])) if not burns.empty else []
    layers = [s for s in [maintenance_spans(marks)] if s is not None]
    if episodes is not None and not episodes.empty:
        layers.append(alt.Chart(episodes).mark_rect(opacity=0.15).encode(
            x="start:T", x2="end:T",
            fill=alt.Fill("severity:N", scale=alt.Scale(domain=list(SEVERITY_COLORS),
                                                        range=list(SEVERITY_COLORS.values())),
                          legend=_legend("alert episode")),
            tooltip=[alt.Tooltip("start:T", format="%Y-%m-%d %H:%M"), alt.Tooltip("end:T", format="%H:%M"),
                     "severity", "source"]))
    layers.append(alt.Chart(burns).mark_line().encode(
        x=_x(), y=alt.Y("burn_rate:Q", title="burn rate (x budget)"),
        color=alt.Color("window:N", sort=order, legend=_legend("window")),
        tooltip=[alt.Tooltip("t:T", format="%Y-%m-%d %H:%M"), "window", alt.Tooltip("burn_rate:Q", format=".2f")]))
    if rules is not None and not rules.empty:
        layers.append(alt.Chart(rules).mark_rule(strokeDash=[6, 4]).encode(
            y="threshold:Q",
            stroke=alt.Stroke("severity:N", scale=alt.Scale(domain=list(SEVERITY_COLORS),
                                                            range=list(SEVERITY_COLORS.values())),
                              legend=None),
            tooltip=["rule"]))
    m = markers(marks)
    if m is not None:
        layers.append(m)
    return alt.layer(*layers).resolve_scale(color="independent", stroke="independent", fill="independent").properties(
        height=HEIGHT, description=description)


def budget_chart(budget: pd.DataFrame, marks: pd.DataFrame | None, description: str) -> alt.LayerChart:
    """Error budget left over the SLO window, with zero marked: below it the budget is spent."""
    line = alt.Chart(budget).mark_line(color="#2563eb").encode(
        x=_x(), y=alt.Y("error_budget_remaining:Q", title="error budget left", axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("t:T", format="%Y-%m-%d %H:%M"),
                 alt.Tooltip("error_budget_remaining:Q", format=".1%")])
    zero = alt.Chart(pd.DataFrame({"y": [0.0], "label": ["budget spent"]})).mark_rule(
        color="#dc2626", strokeWidth=2).encode(y="y:Q", tooltip=["label"])
    return _with_markers(line + zero, marks, description)


def lines_chart(frame: pd.DataFrame, y: str, color: str, y_title: str, marks: pd.DataFrame | None,
                description: str, y_format: str | None = None, legend_title: str | None = None
                ) -> alt.LayerChart:
    """One line per `color` value over time (latency quantiles, outcome rates, cost per version...)."""
    axis = alt.Axis(format=y_format) if y_format else alt.Axis()
    tip = alt.Tooltip(f"{y}:Q", format=y_format or ",.2f")
    line = alt.Chart(frame).mark_line(point=len(frame) < 60).encode(
        x=_x(), y=alt.Y(f"{y}:Q", title=y_title, axis=axis),
        color=alt.Color(f"{color}:N", legend=_legend(legend_title or color)),
        tooltip=[alt.Tooltip("t:T", format="%Y-%m-%d %H:%M"), color, tip])
    return _with_markers(line, marks, description)
