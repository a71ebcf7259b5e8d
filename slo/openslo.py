"""Import OpenSLO SLOs as asrwatch SLO specs (`asrwatch slo import-openslo PATH...`, `openslo:`).

Read: openslo/v1 `kind: SLO` documents (OpenSLO/OpenSLO README.md, "SLO", "SLI", "Objectives")
and the openslo/v1alpha shape of Sloth's examples (slok/sloth examples/openslo-*.yml), from
multi-document or list-form files and directories; `indicatorRef` (kind SLI) and
`metricSourceRef` (kind DataSource) resolve across everything read together. Service and alert
objects are read and left alone: asrwatch alerts by the Workbook's multi-window policy and routes
through its own receivers.

Modules: `openslo_docs` reads files, durations and windows, `openslo_indicator` reads an SLO's
indicator, `openslo_sources` recognises asrwatch's data in a metric source, `openslo_v1alpha` reads
Sloth's shape; this one maps SLOs and their objectives.

Mapping:
- The indicator must describe asrwatch's data (`slo.openslo_sources`): a `ratioMetric` with good
  or bad and total, or a `thresholdMetric` over a latency or WER histogram, where the objective's
  `op: lte` (or `lt`) and `value` become threshold_ms (max_wer for WER).
- Each objective becomes one asrwatch SLO, named `<name>-<objective displayName or index>` when
  there are several; `targetPercent: 99.9` is objective 0.999.
- `budgetingMethod: Occurrences` over one rolling `timeWindow` (default 30d); durations are
  OpenSLO's case-sensitive shorthand, and a rolling `1M`/`1Q`/`1Y` is 30d/90d/365d, with a note.
- Names are made valid (`^[A-Za-z0-9_.:-]+$`, at most 128) from metadata.name or displayName,
  and unique (`-2`, `-3`, with a note); `spec.service` is the SLO's service.
Rejected, naming file, document, field and reason: composite SLOs, Timeslices and
RatioTimeslices budgeting, calendar windows, raw ratios, and foreign data sources.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from asrwatch.settings import Settings
from slo.openslo_docs import Catalog, Doc, OpenSLOError, files_under, parse_shorthand, read_documents, rolling_window
from slo.openslo_indicator import read_indicator
from slo.openslo_sources import THRESHOLD_FIELD
from slo.openslo_v1alpha import read_v1alpha
from slo.spec import DEFAULT_SERVICE, SLOSpec, SLOSpecError, format_duration, parse_slo, percent_to_fraction

SLO_KEYS = ("description", "service", "indicator", "indicatorRef", "timeWindow", "budgetingMethod",
            "objectives", "alertPolicies")
OBJECTIVE_KEYS = ("displayName", "op", "value", "target", "targetPercent", "timeSliceTarget", "timeSliceWindow")
COMPOSITE_KEYS = ("compositeWeight", "indicator", "indicatorRef")
V1_WINDOW_KEYS = ("duration", "isRolling", "calendar")
MAX_NAME = 128


@dataclass
class Imported:
    specs: list[SLOSpec]
    notes: list[str] = field(default_factory=list)  # choices made on import, for the user to see


def import_openslo(text: str, file: str = "<openslo>") -> list[SLOSpec]:
    """The asrwatch specs of one OpenSLO text (references resolve within it)."""
    return convert(read_documents(text, file)).specs


def load_openslo(paths: list[str | Path], dimensions: Sequence[str] = ()) -> Imported:
    """Specs from files and directories read together (references resolve across all of them)."""
    docs: list[Doc] = []
    for path in files_under(paths):
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise OpenSLOError(f"{path}: cannot read: {exc}") from None
        docs += read_documents(text, str(path))
    return convert(docs, dimensions)


def convert(docs: list[Doc], dimensions: Sequence[str] = ()) -> Imported:
    catalog = Catalog(docs)
    slos = catalog.of_kind("SLO")
    if not slos:
        files = ", ".join(dict.fromkeys(d.file for d in docs)) or "the input"
        raise OpenSLOError(f"{files}: no kind: SLO document found")
    out, errors, taken = Imported([]), [], set()
    for doc in slos:
        try:
            raws, notes = _slo(doc, catalog)
        except OpenSLOError as exc:
            errors.append(str(exc))
            continue
        label = f"{doc.where} (SLO {doc.name!r})"
        out.notes += [f"{label}: {note}" for note in notes]
        for raw in raws:
            name = _unique(raw["name"], taken)
            if name != raw["name"]:
                out.notes.append(f"{label}: name {raw['name']!r} is taken; imported as {name!r}")
            try:
                out.specs.append(parse_slo({**raw, "name": name}, dimensions=dimensions))
            except SLOSpecError as exc:
                errors.append(f"{label}: as an asrwatch SLO: {exc}")
    if errors:
        raise OpenSLOError("\n".join(errors))
    return out


def _slo(doc: Doc, catalog: Catalog) -> tuple[list[dict[str, Any]], list[str]]:
    spec = doc.body.get("spec")
    if not isinstance(spec, dict):
        raise doc.error("spec", "required: a mapping")
    notes: list[str] = []
    v1alpha = doc.body["apiVersion"] == "openslo/v1alpha"
    _budgeting(doc, spec, required=not v1alpha)  # Sloth's v1alpha examples leave it out
    if v1alpha:
        window, pairs = read_v1alpha(doc, spec, notes)
    else:
        doc.check_keys(spec, "spec", SLO_KEYS)
        window = rolling_window(doc, spec.get("timeWindow"), "spec.timeWindow", V1_WINDOW_KEYS, _duration, notes)
        objectives = _objectives(doc, spec)
        indicator = read_indicator(doc, spec, catalog)
        if indicator.kind == "threshold" and len(objectives) > 1:
            raise doc.error("spec.objectives", "a thresholdMetric SLO takes one objective (OpenSLO v1, Notes (SLO))")
        pairs = [(obj, indicator) for obj in objectives]
    base = _base_name(doc)
    raws = []
    for i, (obj, indicator) in enumerate(pairs):
        where = f"spec.objectives[{i}]"
        notes += indicator.notes
        params = dict(indicator.params)
        if indicator.kind == "threshold":
            params.update(_threshold(doc, obj, where, params.get("sli"), notes))
        for key in ("timeSliceTarget", "timeSliceWindow"):
            if key in obj:
                notes.append(f"{where}.{key}: has no effect with Occurrences budgeting")
        suffix = _slug(obj.get("displayName") or "", lower=True) or str(i)
        raws.append({
            "name": base if len(pairs) == 1 else f"{base}-{suffix}",
            "objective": _target(doc, obj, where), "window": window,
            "description": str(spec.get("description") or ""), **_service(spec), **params,
        })
    return raws, list(dict.fromkeys(notes))


def _service(spec: dict[str, Any]) -> dict[str, str]:
    # OpenSLO's `spec.service` is Sloth's service (the sloth_service label), where the spec model has it.
    service = spec.get("service")
    if not isinstance(service, str) or not service:
        return {}
    return {"service": service}


def _duration(doc: Doc, window: dict[str, Any], where: str) -> tuple[timedelta, str | None]:
    """A v1 window's length: `duration` in OpenSLO's duration-shorthand."""
    try:
        length, note = parse_shorthand(window.get("duration"))
    except ValueError as exc:
        raise doc.error(f"{where}.duration", str(exc)) from None
    return length, note and f"{where}.duration: {note}"


def _budgeting(doc: Doc, spec: dict[str, Any], *, required: bool) -> None:
    method = spec.get("budgetingMethod")
    if method is None and not required:
        return
    if method in ("Timeslices", "RatioTimeslices"):
        raise doc.error("spec.budgetingMethod", f"{method} is not supported: asrwatch budgets by events "
                                                "(Occurrences), not by good time slices")
    if method != "Occurrences":
        raise doc.error("spec.budgetingMethod", "required: Occurrences (OpenSLO's values are "
                                                "case-sensitive: Occurrences, Timeslices, RatioTimeslices); "
                                                f"got {method!r}")


def _objectives(doc: Doc, spec: dict[str, Any]) -> list[dict[str, Any]]:
    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or not objectives:
        raise doc.error("spec.objectives", "required: a list of objectives with a target")
    for i, obj in enumerate(objectives):
        where = f"spec.objectives[{i}]"
        if not isinstance(obj, dict):
            raise doc.error(where, "must be a mapping")
        for key in COMPOSITE_KEYS:
            if key in obj:
                raise doc.error(f"{where}.{key}", "composite SLOs are not supported: asrwatch keeps one "
                                                  "error budget per indicator, not a weighted sum of several")
        doc.check_keys(obj, where, OBJECTIVE_KEYS)
    return objectives


def _target(doc: Doc, obj: dict[str, Any], where: str) -> float:
    keys = [k for k in ("target", "targetPercent") if k in obj]
    if len(keys) != 1:
        raise doc.error(where, "needs exactly one of target (e.g. 0.999) or targetPercent (e.g. 99.9)")
    key, value = keys[0], obj[keys[0]]
    top = 1 if key == "target" else 100
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < top:
        raise doc.error(f"{where}.{key}", f"must be a number strictly between 0 and {top}, got {value!r}")
    return float(value) if key == "target" else percent_to_fraction(value)


def _threshold(doc: Doc, obj: dict[str, Any], where: str, sli: Any, notes: list[str]) -> dict[str, float]:
    op, value = obj.get("op"), obj.get("value")
    if op in ("gte", "gt"):
        raise doc.error(f"{where}.op", f"{op} would count slow or wrong events as good: asrwatch counts an "
                                       "event good when at or under the value (lte)")
    if op not in ("lte", "lt"):
        raise doc.error(f"{where}.op", f"a thresholdMetric objective needs op lte (or lt), got {op!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise doc.error(f"{where}.value", f"needs the threshold as a number >= 0, got {value!r}")
    if op == "lt":
        notes.append(f"{where}.op: lt is read as lte (an event exactly at {value} counts as good)")
    return {THRESHOLD_FIELD.get(sli, "threshold_ms"): float(value)}


def _slug(text: str, *, lower: bool = False) -> str:
    """A name fragment valid in asrwatch's name pattern: accents dropped, other runs become `-`."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9_.:]+", "-", ascii_text).strip("-.")
    return slug.lower() if lower else slug


def _base_name(doc: Doc) -> str:
    meta = doc.body.get("metadata") if isinstance(doc.body.get("metadata"), dict) else {}
    base = _slug(doc.name or "") or _slug(meta.get("displayName") or "", lower=True)
    if not base:
        raise doc.error("metadata.name", "required: a name (or a displayName) to name the SLO by")
    return base


def _unique(name: str, taken: set[str]) -> str:
    def capped(text: str) -> str:
        if len(text) <= MAX_NAME:
            return text
        digest = hashlib.sha1(text.encode()).hexdigest()[:8]  # keeps cut names apart
        return f"{text[:MAX_NAME - 9]}-{digest}"

    candidate, n = capped(name), 1
    while candidate in taken:
        n += 1
        candidate = capped(f"{name}-{n}")
    taken.add(candidate)
    return candidate


# One import per loaded configuration, like the rest of the config file: `serve` checks the
# files at start, and the evaluator and API reuse the result instead of re-reading every pass.
_BY_SETTINGS: dict[int, tuple[tuple[str, ...], list[SLOSpec]]] = {}


def openslo_for_settings(settings: Settings, paths: list[str]) -> list[SLOSpec]:
    key, wanted = id(settings), tuple(str(p) for p in paths)
    cached = _BY_SETTINGS.get(key)
    if cached and cached[0] == wanted:
        return cached[1]
    specs = load_openslo(list(wanted), settings.dimensions).specs
    try:
        weakref.finalize(settings, _BY_SETTINGS.pop, key, None)
    except TypeError:  # an object without weak references: no cache, read each time
        return specs
    _BY_SETTINGS[key] = (wanted, specs)
    return specs


def to_config(specs: list[SLOSpec]) -> list[dict[str, Any]]:
    """asrwatch `slos:` entries for the specs (as a user would write them)."""
    out = []
    for s in specs:
        raw: dict[str, Any] = {"name": s.name, "sli": s.sli, "objective": s.objective,
                               "window": format_duration(s.window)}
        if s.threshold_ms is not None:
            raw["threshold_ms"] = s.threshold_ms
        if s.max_wer is not None:
            raw["max_wer"] = s.max_wer
        if s.max_der is not None:
            raw["max_der"] = s.max_der
        if s.filters:
            raw["filters"] = dict(s.filters)
        if s.group_by:
            raw["group_by"] = list(s.group_by)
        if s.description:
            raw["description"] = s.description
        if s.service != DEFAULT_SERVICE:
            raw["service"] = s.service
        out.append(raw)
    return out
