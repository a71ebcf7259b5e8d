"""Sloth's OpenSLO shape, openslo/v1alpha: each objective carries its own `ratioMetrics` (PromQL
good and total, `source: prometheus`, `queryType: promql`) and windows are `{count, unit}`
(slok/sloth examples/openslo-*.yml and internal/storage/io/openslo.go; OpenSLO/oslo
pkg/manifest/v1alpha/objects.go). Read into the same (objective, indicator) pairs as v1."""

from __future__ import annotations

from typing import Any

from slo.openslo_docs import Doc
from slo.openslo_indicator import Indicator, merged
from slo.openslo_sources import SourceError, ratio_from_promql, threshold_from_promql

V1ALPHA_KEYS = ("timeWindows", "budgetingMethod", "description", "indicator", "service", "objectives")
V1ALPHA_UNITS = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400, "Week": 7 * 86400}
V1ALPHA_CALENDAR_DAYS = {"Month": 30, "Quarter": 90, "Year": 365}


def read_v1alpha(doc: Doc, spec: dict[str, Any], notes: list[str]) -> tuple[str, list[tuple[dict, Indicator]]]:
    """(window, [(objective, indicator)]) of a v1alpha SLO's spec."""
    doc.check_keys(spec, "spec", V1ALPHA_KEYS)
    window = _v1alpha_window(doc, spec.get("timeWindows"), notes)
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


def _v1alpha_window(doc: Doc, windows: Any, notes: list[str]) -> str:
    if windows is None:
        return "30d"
    if not isinstance(windows, list) or len(windows) != 1 or not isinstance(windows[0], dict):
        raise doc.error("spec.timeWindows", "a list of exactly one window")
    window, where = windows[0], "spec.timeWindows[0]"
    doc.check_keys(window, where, ("unit", "count", "isRolling", "calendar"))
    if "calendar" in window:
        raise doc.error(where, "calendar-aligned windows are not supported: asrwatch budgets over a rolling window")
    count, unit = window.get("count"), window.get("unit")
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise doc.error(f"{where}.count", f"must be a positive integer, got {count!r}")
    if unit in V1ALPHA_CALENDAR_DAYS:
        days = count * V1ALPHA_CALENDAR_DAYS[unit]
        notes.append(f"{where}: a rolling {count} {unit} is read as {days}d")
        return f"{days}d"
    if unit not in V1ALPHA_UNITS:
        units = ", ".join([*V1ALPHA_UNITS, *V1ALPHA_CALENDAR_DAYS])
        raise doc.error(f"{where}.unit", f"use one of {units}, got {unit!r}")
    return f"{count * V1ALPHA_UNITS[unit]}s"
