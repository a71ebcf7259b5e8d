"""Model versions side by side as a chart (the debug page, beside the comparison table): one
small panel per metric, one bar per version, the WER's 95% interval as an error bar.

Pure: the rows of `/api/v1/wer`, `/api/v1/latency` and `/api/v1/cost` grouped by model_version
in, a long-form frame and an Altair chart out. No I/O, no Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

# (source, field, panel title, scale, interval fields). Units go in the title because each panel
# has its own y scale; WER is drawn in percent so its axis reads like the table's tiles. Counts
# (sessions, utterances, total cost) are left to the table: they follow traffic share, not quality.
COMPARED: tuple[tuple[str, str, str, float, tuple[str, str] | None], ...] = (
    ("wer", "wer", "WER (%)", 100.0, ("ci_low", "ci_high")),
    ("latency", "final_p50_ms", "final p50 (ms)", 1.0, None),
    ("latency", "final_p95_ms", "final p95 (ms)", 1.0, None),
    ("latency", "final_p99_ms", "final p99 (ms)", 1.0, None),
    ("latency", "first_partial_p95_ms", "first partial p95 (ms)", 1.0, None),
    ("cost", "cost_per_successful_turn", "cost per successful turn (USD)", 1.0, None),
    ("cost", "cost_per_audio_minute", "cost per audio minute (USD)", 1.0, None),
)
METRICS = [title for _, _, title, _, _ in COMPARED]
COLUMNS = ["metric", "model_version", "value", "low", "high"]
# Three panels a row, each narrow enough that the chart fits beside the sidebar on a 1024-pixel
# screen: a facet cannot stretch to its container, and a wider one pushed the page sideways.
PANELS_PER_ROW = 3
PANEL_WIDTH = 130
PANEL_HEIGHT = 120


def _number(value: Any) -> float | None:
    try:
        number = None if value is None else float(value)
    except (TypeError, ValueError):
        return None
    return number if number is not None and number == number else None  # NaN: nothing to draw


def comparison_bars_frame(wer_rows: Sequence[Mapping[str, Any]], latency_rows: Sequence[Mapping[str, Any]],
                          cost_rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """metric, model_version, value, low, high: one row per metric and version that has a value
    (a version without labeled samples has no WER bar rather than a bar at zero)."""
    sources = {"wer": wer_rows, "latency": latency_rows, "cost": cost_rows}
    rows = []
    for source, field, title, scale, interval in COMPARED:
        for r in sources[source]:
            value = _number(r.get(field))
            if value is None:
                continue
            low, high = ((_number(r.get(interval[0])), _number(r.get(interval[1]))) if interval else (None, None))
            rows.append({"metric": title, "model_version": str(r.get("model_version")), "value": value * scale,
                         "low": None if low is None else low * scale, "high": None if high is None else high * scale})
    rows.sort(key=lambda row: (METRICS.index(row["metric"]), row["model_version"]))
    return pd.DataFrame(rows, columns=COLUMNS)


def comparison_description(bars: pd.DataFrame) -> str:
    versions = sorted(set(bars["model_version"]))
    return (f"Model versions side by side ({', '.join(versions) or 'none'}): "
            f"{', '.join(m for m in METRICS if m in set(bars['metric']))}.")


def comparison_chart(bars: pd.DataFrame, description: str) -> alt.FacetChart:
    """Grouped bars, one panel per metric with its own y scale, one colour per version (named in a
    legend below, labels never cut), the 95% interval as a black error bar where the API gives one."""
    versions = sorted(set(bars["model_version"]))
    base = alt.Chart().encode(x=alt.X("model_version:N", sort=versions, axis=None, title=None))
    tip = [alt.Tooltip("metric:N"), alt.Tooltip("model_version:N", title="model version"),
           alt.Tooltip("value:Q", format=",.4~f"), alt.Tooltip("low:Q", format=",.4~f", title="95% low"),
           alt.Tooltip("high:Q", format=",.4~f", title="95% high")]
    columns = base.mark_bar().encode(
        y=alt.Y("value:Q", title=None),
        color=alt.Color("model_version:N", sort=versions,
                        legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=0, titleLimit=0,
                                          title="model version")),
        tooltip=tip)
    whiskers = base.mark_rule(color="#111827", strokeWidth=2).encode(y="low:Q", y2="high:Q", tooltip=tip)
    panel = alt.layer(columns, whiskers, data=bars).properties(width=PANEL_WIDTH, height=PANEL_HEIGHT)
    return panel.facet(
        facet=alt.Facet("metric:N", sort=METRICS, title=None,
                        header=alt.Header(labelLimit=0, labelFontSize=12, labelFontWeight="bold")),
        columns=PANELS_PER_ROW,
    ).resolve_scale(y="independent").properties(description=description)
