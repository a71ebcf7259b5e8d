"""Sloth's OpenSLO shape, openslo/v1alpha: each objective carries its own `ratioMetrics` (PromQL
good and total, `source: prometheus`, `queryType: promql`) and windows are `{count, unit}`
(slok/sloth examples/openslo-*.yml and internal/storage/io/openslo.go; OpenSLO/oslo
pkg/manifest/v1alpha/objects.go). Read into the same (objective, indicator) pairs as v1."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slo.openslo_docs import Doc, parse_shorthand, rolling_window
from slo.openslo_indicator import Indicator, merged
from slo.openslo_sources import SourceError, ratio_from_promql, threshold_from_promql

V1ALPHA_KEYS = ("timeWindows", "budgetingMethod", "description", "indicator", "service", "objectives")
V1ALPHA_WINDOW_KEYS = ("unit", "count", "isRolling", "calendar")
# Each unit but Second as the duration-shorthand letter it stands for (slo.openslo_docs).
V1ALPHA_UNITS = {"Minute": "m", "Hour": "h", "Day": "d", "Week": "w", "Month": "M", "Quarter": "Q", "Year": "Y"}


def read_v1alpha(doc: Doc, spec: dict[str, Any], notes: list[str]) -> tuple[str, list[tuple[dict, Indicator]]]:
    """(window, [(objective, indicator)]) of a v1alpha SLO's spec."""
    doc.check_keys(spec, "spec", V1ALPHA_KEYS)
    window = rolling_window(doc, spec.get("timeWindows"), "spec.timeWindows", V1ALPHA_WINDOW_KEYS, _length, notes)
    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or not objectives:
        raise doc.error("spec.objectives", "required: a list of objectives with a target")
    pairs = []
    for i, obj in enumerate(objectives):
        where = f"spec.objectives[{i}]"
        if not isinstance(obj, dict):
            raise doc.error(where, "must be a mapping")
        doc.check_keys(obj, where, ("displayName", "value", "ratioMetrics", "target", "timeSliceTarget", "op"))
        if "ratioMetrics" in obj:
            metrics, base = obj["ratioMetrics"], f"{where}.ratioMetrics"
            if not isinstance(metrics, dict) or not {"good", "total"} <= set(metrics):
                raise doc.error(base, "needs good and total")
            doc.check_keys(metrics, base, ("good", "total", "counter", "incremental"))
            queries = {p: _v1alpha_query(doc, metrics[p], f"{base}.{p}") for p in ("good", "total")}
            try:
                readings = ratio_from_promql(queries)
            except SourceError as exc:
                raise doc.error(f"{base}.{exc.part}.query", exc.reason) from None
            pairs.append((obj, merged(doc, readings, base)))
        else:
            indicator = spec.get("indicator")
            if not isinstance(indicator, dict) or "thresholdMetric" not in indicator:
                raise doc.error(where, "needs ratioMetrics, or spec.indicator.thresholdMetric")
            query = _v1alpha_query(doc, indicator["thresholdMetric"], "spec.indicator.thresholdMetric")
            try:
                reading = threshold_from_promql(query)
            except SourceError as exc:
                raise doc.error("spec.indicator.thresholdMetric.query", exc.reason) from None
            pairs.append((obj, Indicator("threshold", reading.params, reading.notes)))
    return window, pairs


def _v1alpha_query(doc: Doc, source: Any, where: str) -> str:
    if not isinstance(source, dict):
        raise doc.error(where, "needs source, queryType and query")
    doc.check_keys(source, where, ("source", "queryType", "query", "metadata"))
    if str(source.get("source", "")).lower() != "prometheus":
        raise doc.error(f"{where}.source", f"{source.get('source')!r} is a foreign data source: asrwatch "
                                           "imports Prometheus queries over asrwatch_* metrics")
    if str(source.get("queryType", "")).lower() != "promql":
        raise doc.error(f"{where}.queryType", f"only promql, got {source.get('queryType')!r}")
    return source.get("query")


def _length(doc: Doc, window: dict[str, Any], where: str) -> tuple[timedelta, str | None]:
    """A v1alpha window's length, `{count, unit}`, read as the same duration-shorthand as v1's
    (`30 Day` is `30d`, a rolling `1 Month` is `1M`, i.e. 30 days, with a note)."""
    count, unit = window.get("count"), window.get("unit")
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise doc.error(f"{where}.count", f"must be a positive integer, got {count!r}")
    if unit == "Second":
        return timedelta(seconds=count), None
    if unit not in V1ALPHA_UNITS:
        raise doc.error(f"{where}.unit", f"use one of Second, {', '.join(V1ALPHA_UNITS)}, got {unit!r}")
    length, calendar = parse_shorthand(f"{count}{V1ALPHA_UNITS[unit]}")
    return length, calendar and f"{where}: a rolling {count} {unit} is read as {length.days}d"
