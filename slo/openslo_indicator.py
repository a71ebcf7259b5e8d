"""An OpenSLO SLO's indicator (inline `indicator` or `indicatorRef` to a kind: SLI) as the asrwatch
SLI it describes: a `ratioMetric` with good or bad and total, or a `thresholdMetric`, whose metric
sources must read asrwatch's data (`slo.openslo_sources`); `metricSourceRef` resolves to a kind:
DataSource for the type. Errors name the SLO's file, document and the field's full path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slo.openslo_docs import Catalog, Doc
from slo.openslo_sources import SourceError, asrwatch_spec, ratio_from_promql, threshold_from_promql

RATIO_KEYS = ("counter", "good", "bad", "total", "raw", "rawType")


@dataclass
class Indicator:
    """What an indicator measures in asrwatch's words; a threshold's value comes from the objective."""

    kind: str  # "ratio" or "threshold"
    params: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def read_indicator(doc: Doc, spec: dict[str, Any], catalog: Catalog) -> Indicator:
    if ("indicator" in spec) == ("indicatorRef" in spec):
        raise doc.error("spec.indicator", "needs exactly one of indicator or indicatorRef")
    if "indicator" in spec:
        inline = spec["indicator"]
        if not isinstance(inline, dict):
            raise doc.error("spec.indicator", "must be a mapping with metadata and spec")
        doc.check_keys(inline, "spec.indicator", ("apiVersion", "kind", "metadata", "spec"))
        return indicator_spec(doc, inline.get("spec"), "spec.indicator.spec", catalog)
    ref = spec["indicatorRef"]
    sli = catalog.find("SLI", ref)
    if sli is None:
        raise doc.error("spec.indicatorRef", f"no kind: SLI document named {ref!r} in the files read")
    return indicator_spec(doc, sli.body.get("spec"), f"spec.indicatorRef -> SLI {ref!r} ({sli.where}) spec", catalog)


def indicator_spec(doc: Doc, spec: Any, where: str, catalog: Catalog) -> Indicator:
    if not isinstance(spec, dict) or ("ratioMetric" in spec) == ("thresholdMetric" in spec):
        raise doc.error(where, "needs exactly one of ratioMetric or thresholdMetric")
    doc.check_keys(spec, where, ("description", "ratioMetric", "thresholdMetric"))
    if "thresholdMetric" in spec:
        metric = f"{where}.thresholdMetric"
        kind, source = _source(doc, spec["thresholdMetric"], metric, catalog)
        try:
            if kind == "asrwatch":
                return Indicator("threshold", asrwatch_spec(source, threshold=True))
            _prometheus_only_query(doc, source, metric)
            reading = threshold_from_promql(source.get("query"))
        except SourceError as exc:
            raise doc.error(f"{metric}.metricSource.{exc.field}", exc.reason) from None
        return Indicator("threshold", reading.params, [f"{metric}: {n}" for n in reading.notes])
    return _ratio(doc, spec["ratioMetric"], f"{where}.ratioMetric", catalog)


def _ratio(doc: Doc, ratio: Any, where: str, catalog: Catalog) -> Indicator:
    if not isinstance(ratio, dict):
        raise doc.error(where, "must be a mapping")
    doc.check_keys(ratio, where, RATIO_KEYS)
    if "raw" in ratio:
        raise doc.error(f"{where}.raw", "a precomputed ratio cannot be imported: asrwatch's budget "
                                        "counts good and total events")
    if ("good" in ratio) == ("bad" in ratio) or "total" not in ratio:
        raise doc.error(where, "needs total and exactly one of good or bad")
    parts = {p: _source(doc, ratio[p], f"{where}.{p}", catalog) for p in ("good", "bad", "total") if p in ratio}
    kinds = {p: kind for p, (kind, _) in parts.items()}
    if len(set(kinds.values())) > 1:
        first = next(iter(kinds))
        raise doc.error(f"{where}.{first}.metricSource.type", "the parts read different source types "
                        f"({', '.join(f'{p}: {k}' for p, k in kinds.items())}); they must read the same data")
    if kinds["total"] == "prometheus":
        for part, (_, spec) in parts.items():
            _prometheus_only_query(doc, spec, f"{where}.{part}")
    try:
        if kinds["total"] == "asrwatch":
            readings = {p: asrwatch_spec(spec, threshold=False) for p, (_, spec) in parts.items()}
        else:
            readings = ratio_from_promql({p: spec.get("query") for p, (_, spec) in parts.items()})
    except SourceError as exc:
        part = f"{exc.part}." if exc.part else ""
        raise doc.error(f"{where}.{part}metricSource.{exc.field}", exc.reason) from None
    return merged(doc, readings, where, ".metricSource")


def merged(doc: Doc, readings: dict[str, dict[str, Any]], where: str, suffix: str = "") -> Indicator:
    """One SLI from the parts' readings, which must agree on every key they both give."""
    params: dict[str, Any] = {}
    given_by: dict[str, str] = {}
    for part, reading in readings.items():
        for key, value in reading.items():
            if key in params and params[key] != value:
                raise doc.error(f"{where}.{part}{suffix}", f"{key} {value!r} disagrees with "
                                                          f"{given_by[key]}'s {params[key]!r}")
            params[key], given_by[key] = value, part
    return Indicator("ratio", {k: v for k, v in params.items() if v not in ({}, [])})


def _source(doc: Doc, part: Any, where: str, catalog: Catalog) -> tuple[str, dict[str, Any]]:
    """(asrwatch | prometheus, spec) of a part's metricSource; foreign types are refused here."""
    if not isinstance(part, dict) or not isinstance(part.get("metricSource"), dict):
        raise doc.error(f"{where}.metricSource", "required: a mapping with type (or metricSourceRef) and spec")
    doc.check_keys(part, where, ("metricSource",))
    source, where = part["metricSource"], f"{where}.metricSource"
    doc.check_keys(source, where, ("metricSourceRef", "type", "spec"))
    declared, ref = source.get("type"), source.get("metricSourceRef")
    if ref is not None:
        data_source = catalog.find("DataSource", ref)
        if data_source is None:
            raise doc.error(f"{where}.metricSourceRef", f"no kind: DataSource named {ref!r} in the files read")
        ds_spec = data_source.body.get("spec")
        ds_type = ds_spec.get("type") if isinstance(ds_spec, dict) else None
        if declared and ds_type and str(declared).lower() != str(ds_type).lower():
            raise doc.error(f"{where}.type", f"{declared!r} but DataSource {ref!r} ({data_source.where}) "
                                             f"is {ds_type!r}")
        declared = declared or ds_type
    if not declared:
        raise doc.error(f"{where}.type", "needs a type, or a metricSourceRef to a DataSource with one")
    kind = str(declared).lower()
    if kind not in ("asrwatch", "prometheus"):
        raise doc.error(f"{where}.type", f"{declared!r} is a foreign data source: asrwatch imports SLIs over "
                                         "its own data only (type asrwatch, or Prometheus over asrwatch_* metrics)")
    spec = source.get("spec") or {}
    if not isinstance(spec, dict):
        raise doc.error(f"{where}.spec", "must be a mapping")
    return kind, spec


def _prometheus_only_query(doc: Doc, spec: dict[str, Any], where: str) -> None:
    for key in spec:
        if key != "query":
            raise doc.error(f"{where}.metricSource.spec.{key}", "a Prometheus source takes only query "
                                                                "(PromQL over asrwatch_* metrics)")
