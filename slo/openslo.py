"""Import OpenSLO v1 ratio SLOs into asrwatch specs.

Supported: `kind: SLO` (apiVersion openslo/v1) with an inline `indicator` or an
`indicatorRef` to a `kind: SLI` document of the same file, whose `ratioMetric` takes its
counts from `metricSource.type: asrwatch`, e.g.

    ratioMetric:
      counter: true
      good:  {metricSource: {type: asrwatch, spec: {sli: latency, threshold_ms: 2000}}}
      total: {metricSource: {type: asrwatch, spec: {sli: latency, filters: {channel: telephony}}}}

The metric-source specs are merged (sli, threshold_ms, max_wer, filters, group_by). One
rolling `timeWindow`, `budgetingMethod: Occurrences`; each objective becomes one SLO
(`<name>-<displayName>` when there are several). OpenSLO alert policies are not imported:
asrwatch alerts by the Workbook's multi-window policy.
"""

from __future__ import annotations

from typing import Any

import yaml

from slo.spec import SLOSpec, SLOSpecError, parse_slo

_ASRWATCH_KEYS = ("sli", "threshold_ms", "max_wer", "filters", "group_by")


def _fail(name: str, field: str, message: str) -> SLOSpecError:
    return SLOSpecError(f"OpenSLO SLO {name!r}: {field}: {message}")


def _indicator(doc: dict[str, Any], slis: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    spec = doc.get("spec") or {}
    if "indicator" in spec:
        return spec["indicator"] or {}
    ref = spec.get("indicatorRef")
    if ref is None:
        raise _fail(name, "spec.indicator", "needs an indicator or an indicatorRef")
    if ref not in slis:
        raise _fail(name, "spec.indicatorRef", f"no kind: SLI document named {ref!r} in the file")
    return slis[ref]


def _metric_params(ratio: dict[str, Any], name: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for part in ("good", "bad", "total"):
        if part not in ratio:
            continue
        source = ((ratio[part] or {}).get("metricSource")) or {}
        kind = str(source.get("type", "")).lower()
        if kind != "asrwatch":
            raise _fail(name, f"spec.indicator.spec.ratioMetric.{part}.metricSource.type",
                        f"only type asrwatch can be imported, got {source.get('type')!r}")
        for key, value in (source.get("spec") or {}).items():
            if key not in _ASRWATCH_KEYS:
                raise _fail(name, f"ratioMetric.{part}.metricSource.spec.{key}", "unknown key")
            if key in params and params[key] != value:
                raise _fail(name, f"ratioMetric.{part}.metricSource.spec.{key}",
                            f"disagrees with another part ({params[key]!r} vs {value!r})")
            params[key] = value
    if "total" not in ratio or not ({"good", "bad"} & set(ratio)):
        raise _fail(name, "spec.indicator.spec.ratioMetric", "needs total and one of good or bad")
    return params


def import_openslo(text: str) -> list[SLOSpec]:
    docs = [d for d in yaml.safe_load_all(text) if d]
    slis = {
        (d.get("metadata") or {}).get("name"): d
        for d in docs if isinstance(d, dict) and d.get("kind") == "SLI"
    }
    specs: list[SLOSpec] = []
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "SLO":
            continue
        name = str((doc.get("metadata") or {}).get("name") or "<unnamed>")
        if doc.get("apiVersion") != "openslo/v1":
            raise _fail(name, "apiVersion", f"only openslo/v1 is supported, got {doc.get('apiVersion')!r}")
        spec = doc.get("spec") or {}
        if spec.get("budgetingMethod", "Occurrences") != "Occurrences":
            raise _fail(name, "spec.budgetingMethod", "only Occurrences (event-weighted) is supported")
        windows = spec.get("timeWindow") or [{"duration": "30d", "isRolling": True}]
        if len(windows) != 1 or not windows[0].get("isRolling", True):
            raise _fail(name, "spec.timeWindow", "exactly one rolling window is supported")
        ratio = ((_indicator(doc, slis, name).get("spec") or {}).get("ratioMetric"))
        if not ratio:
            raise _fail(name, "spec.indicator.spec.ratioMetric", "only ratio SLIs can be imported")
        params = _metric_params(ratio, name)
        objectives = spec.get("objectives") or []
        if not objectives:
            raise _fail(name, "spec.objectives", "needs at least one objective with a target")
        for i, objective in enumerate(objectives):
            target = objective.get("target")
            if target is None and objective.get("targetPercent") is not None:
                target = float(objective["targetPercent"]) / 100.0
            suffix = objective.get("displayName") or str(i)
            raw = {
                "name": name if len(objectives) == 1 else f"{name}-{suffix}".replace(" ", "-"),
                "objective": target,
                "window": windows[0].get("duration"),
                "description": str(spec.get("description") or ""),
                **params,
            }
            specs.append(parse_slo(raw))
    if not specs:
        raise SLOSpecError("OpenSLO: no kind: SLO document found")
    return specs


def to_config(specs: list[SLOSpec]) -> list[dict[str, Any]]:
    """asrwatch `slos:` entries for the specs (as a user would write them)."""
    from slo.spec import format_duration

    out = []
    for s in specs:
        raw: dict[str, Any] = {"name": s.name, "sli": s.sli, "objective": s.objective,
                               "window": format_duration(s.window)}
        if s.threshold_ms is not None:
            raw["threshold_ms"] = s.threshold_ms
        if s.max_wer is not None:
            raw["max_wer"] = s.max_wer
        if s.filters:
            raw["filters"] = dict(s.filters)
        if s.group_by:
            raw["group_by"] = list(s.group_by)
        if s.description:
            raw["description"] = s.description
        out.append(raw)
    return out
