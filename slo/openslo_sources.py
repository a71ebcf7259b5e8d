"""Which asrwatch SLI an OpenSLO metric source describes, or why none.

asrwatch computes SLIs from its own sessions, so only sources that describe asrwatch's data
can be imported:
- `type: asrwatch`, whose `spec` names the SLI in asrwatch's own words
  (`sli`, `threshold_ms`, `max_wer`, `filters`, `group_by`);
- `type: Prometheus` whose `spec.query` counts one series of the collector's `/metrics`, as
  Sloth's OpenSLO examples write good and total (`sum(rate(<series>[{{.window}}]))`):
  `asrwatch_sessions_total` (availability: good has `status="ok"`, bad `status!="ok"`) and the
  `asrwatch_*` histograms (good is `_bucket{le="X"}`, total `_count`: X becomes threshold_ms, or
  max_wer for asrwatch_utterance_wer), and `asrwatch_entities_found_total` over
  `asrwatch_entity_occurrences_total` (entity_recall), and `asrwatch_hallucination_flagged_total`
  (bad) over `asrwatch_hallucination_checked_total` (hallucination). Matchers on slice dimensions (model_version, region,
  channel, tenant, ...) become filters (`=~"a|b"`: a list), `sum by (...)` becomes group_by;
  `job` and `instance` are ignored.
Any other source (Datadog, CloudWatch, a Prometheus query over other metrics) is foreign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from slo.spec import BAD_COUNTERS_FOR_SLI, COUNTERS_FOR_SLI, DIMENSIONS, HISTOGRAM_FOR_SLI, LATENCY_KINDS, SLI_KINDS

ASRWATCH_KEYS = ("sli", "threshold_ms", "max_wer", "max_der", "filters", "group_by")
SESSIONS = "asrwatch_sessions_total"
HISTOGRAM_SLI = {metric: kind for kind, metric in HISTOGRAM_FOR_SLI.items()}
# Total counter -> (kind, the role its other counter plays, that counter).
COUNTED_SLI = {**{total: (kind, "good", good) for kind, (good, total) in COUNTERS_FOR_SLI.items()},
               **{total: (kind, "bad", bad) for kind, (bad, total) in BAD_COUNTERS_FOR_SLI.items()}}
# The slice dimensions: /metrics labels model_version, region and channel always, and any other
# dimension an SLO filters or groups on (`slo.spec.metrics_needs`), so an import may use them all.
METRIC_LABELS = DIMENSIONS
TARGET_LABELS = ("job", "instance")  # added by Prometheus' scrape: they select the collector, not a slice
COUNTING_FUNCTIONS = {"sum", "rate", "increase", "irate"}
THRESHOLD_SLIS = LATENCY_KINDS + ("quality", "diarization")
# The spec field a threshold SLI's edge goes to (latency SLIs: threshold_ms).
THRESHOLD_FIELD = {"quality": "max_wer", "diarization": "max_der"}


class SourceError(ValueError):
    """`field` is relative to the metric source (e.g. `spec.query`); `part` names the ratio part
    (good, bad, total) where one is meant."""

    def __init__(self, field_path: str, reason: str, part: str | None = None) -> None:
        super().__init__(reason)
        self.field, self.reason, self.part = field_path, reason, part


@dataclass
class Selector:
    metric: str
    matchers: dict[str, tuple[str, str]]  # label -> (operator, value)


@dataclass
class PromQL:
    selectors: list[Selector]
    functions: set[str]
    group_by: tuple[str, ...]
    operators: str  # what is left besides selectors, functions and parentheses


@dataclass
class Reading:
    """What one part (good, bad, total or the threshold metric) says about the asrwatch SLI."""

    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


_RANGE = re.compile(r"\[[^\]]*\]")  # [5m], Sloth's [{{.window}}]
_GROUPING = re.compile(r"\b(by|without)\s*\(([^()]*)\)")
_BRACED = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^{}]*)\}")
_FUNCTION = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_BARE = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)")
_MATCHER = re.compile(r"\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`)\s*(?:,|$)")


def parse_promql(query: str) -> PromQL:
    """The selectors, functions and grouping of a query: enough to recognise the shapes above.
    Anything it cannot place is left in `operators`, so callers can refuse what they don't know."""
    text = _RANGE.sub(" ", query)
    group_by: list[str] = []
    for how, labels in _GROUPING.findall(text):
        if how == "without":
            raise SourceError("spec.query", "`without` hides which slices are kept; use `sum by (...)`")
        group_by += [label.strip() for label in labels.split(",") if label.strip()]
    text = _GROUPING.sub(" ", text)
    selectors = [Selector(name or "", _matchers(body)) for name, body in _BRACED.findall(text)]
    text = _BRACED.sub(" § ", text)
    functions = set(_FUNCTION.findall(text))
    text = _FUNCTION.sub("(", text)
    selectors += [Selector(name, {}) for name in _BARE.findall(text)]
    text = _BARE.sub(" § ", text)
    operators = re.sub(r"[\s()§,]", "", text)
    return PromQL(selectors, functions, tuple(dict.fromkeys(group_by)), operators)


def _matchers(body: str) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    pos = 0
    body = body.strip()
    while pos < len(body):
        match = _MATCHER.match(body, pos)
        if not match:
            raise SourceError("spec.query", f"cannot read the label matchers {{{body}}}")
        label, op, quoted = match.groups()
        value = quoted[1:-1] if quoted[0] == "`" else re.sub(r"\\(.)", r"\1", quoted[1:-1])
        if label in out:
            raise SourceError("spec.query", f"label {label} is matched twice")
        out[label] = (op, value)
        pos = match.end()
    return out


def _filters(selector: Selector, skip: tuple[str, ...]) -> dict[str, Any]:
    """Equality and `=~"a|b"` matchers on /metrics labels -> asrwatch filters."""
    filters: dict[str, Any] = {}
    for label, (op, value) in sorted(selector.matchers.items()):
        if label in skip or label in TARGET_LABELS:
            continue
        if label not in METRIC_LABELS:
            raise SourceError("spec.query", f"label {label} is not a label of asrwatch's metrics "
                                            f"({', '.join(METRIC_LABELS)})")
        if op == "=":
            filters[label] = value
        elif op == "=~" and not re.search(r"(?<!\\)[*+?\[\](){}^$]", value):
            values = [re.sub(r"\\(.)", r"\1", v) for v in value.split("|")]
            filters[label] = values[0] if len(values) == 1 else values
        else:
            raise SourceError("spec.query", f"{label}{op}\"{value}\" is not a list of values, so it "
                                            "cannot become an asrwatch filter")
    return filters


def _group_by(query: PromQL, ignore: tuple[str, ...] = ()) -> list[str]:
    labels = [label for label in query.group_by if label not in ignore]
    for label in labels:
        if label not in METRIC_LABELS:
            raise SourceError("spec.query", f"sum by ({label}): {label} is not a label of asrwatch's metrics")
    return labels


def _one_counter(query_text: Any) -> tuple[PromQL, Selector]:
    if not isinstance(query_text, str) or not query_text.strip():
        raise SourceError("spec.query", "a Prometheus source needs a PromQL query over asrwatch's metrics")
    query = parse_promql(query_text)
    foreign = sorted({s.metric for s in query.selectors if not s.metric.startswith("asrwatch_")})
    if foreign:
        raise _foreign_metrics(foreign)
    if len(query.selectors) != 1 or query.operators or not query.functions <= COUNTING_FUNCTIONS:
        raise SourceError("spec.query", "a ratio part must count one series (optionally in sum/rate/"
                                        f"increase), got {query_text!r}")
    return query, query.selectors[0]


def _foreign_metrics(metrics: list[str]) -> SourceError:
    return SourceError("spec.query", f"reads {', '.join(metrics)}, which asrwatch does not export: "
                                     "a foreign data source (asrwatch imports only SLIs over its own data)")


def ratio_from_promql(parts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{part: query} for good/bad and total -> {part: asrwatch params}; a SourceError names the part."""
    readings: dict[str, tuple[PromQL, Selector]] = {}
    for part, text in parts.items():
        try:
            readings[part] = _one_counter(text)
        except SourceError as exc:
            raise SourceError(exc.field, exc.reason, part) from None
    total_metric = readings["total"][1].metric
    out: dict[str, dict[str, Any]] = {}
    for part in sorted(readings, key=lambda p: p != "total"):  # what total counts decides the rest
        query, selector = readings[part]
        try:
            out[part] = {**_ratio_part(part, selector, total_metric), "group_by": _group_by(query)}
        except SourceError as exc:
            raise SourceError(exc.field, exc.reason, part) from None
    return out


def _ratio_part(part: str, selector: Selector, total_metric: str) -> dict[str, Any]:
    if total_metric == SESSIONS:
        if selector.metric != SESSIONS:
            raise SourceError("spec.query", f"total counts {SESSIONS}, so {part} must count it too, "
                                            f"got {selector.metric}")
        want = {"good": ("=", "ok"), "bad": ("!=", "ok"), "total": None}[part]
        if selector.matchers.get("status") != want:
            need = f'status{want[0]}"{want[1]}"' if want else "no status matcher"
            raise SourceError("spec.query", f"an availability {part} over {SESSIONS} takes {need}")
        return {"sli": "availability", "filters": _filters(selector, skip=("status",))}
    if total_metric in COUNTED_SLI:  # entity_recall counts good, hallucination bad, each beside its total
        kind, role, metric = COUNTED_SLI[total_metric]
        other = "bad" if role == "good" else "good"
        if selector.metric != {role: metric, "total": total_metric}.get(part):
            raise SourceError("spec.query", f"a {kind} ratio over {total_metric} takes {role} as {metric}"
                                            + ("" if part != other else f", not {other}"))
        return {"sli": kind, "filters": _filters(selector, skip=())}
    base = total_metric.removesuffix("_count")
    if not total_metric.endswith("_count") or base not in HISTOGRAM_SLI:
        known = ", ".join([SESSIONS, *COUNTED_SLI] + [f"{m}_count" for m in HISTOGRAM_SLI])
        raise SourceError("spec.query", f"total reads {total_metric}; asrwatch recognises {known}")
    kind = HISTOGRAM_SLI[base]
    if part == "total":
        if "le" in selector.matchers:
            raise SourceError("spec.query", "total counts every event: no le matcher")
        return {"sli": kind, "filters": _filters(selector, skip=())}
    if part == "bad":
        raise SourceError("spec.query", f"bad events of {base} are total minus a bucket: give good "
                                        f"as {base}_bucket{{le=\"...\"}} instead")
    le = selector.matchers.get("le")
    if selector.metric != f"{base}_bucket" or not le or le[0] != "=":
        raise SourceError("spec.query", f"good must count {base}_bucket{{le=\"<threshold>\"}}")
    try:
        edge = float(le[1])
    except ValueError:
        raise SourceError("spec.query", f"le=\"{le[1]}\" is not a number") from None
    if not (edge >= 0 and edge != float("inf")):
        raise SourceError("spec.query", f"le=\"{le[1]}\" is not a finite threshold")
    threshold = {THRESHOLD_FIELD.get(kind, "threshold_ms"): edge}
    return {"sli": kind, "filters": _filters(selector, skip=("le",)), **threshold}


def threshold_from_promql(query_text: Any) -> Reading:
    """A thresholdMetric over one asrwatch histogram (any of its series, in any function) ->
    that SLI, judged per event against the objective's value."""
    if not isinstance(query_text, str) or not query_text.strip():
        raise SourceError("spec.query", "a Prometheus source needs a PromQL query over asrwatch's metrics")
    query = parse_promql(query_text)
    bases = set()
    for selector in query.selectors:
        base = re.sub(r"_(bucket|sum|count)$", "", selector.metric)
        if base not in HISTOGRAM_SLI or HISTOGRAM_SLI[base] not in THRESHOLD_SLIS:
            raise _foreign_metrics([selector.metric]) if not selector.metric.startswith("asrwatch_") else \
                SourceError("spec.query", f"{selector.metric} is not a latency or WER histogram of asrwatch "
                                          f"({', '.join(HISTOGRAM_SLI)})")
        bases.add(base)
    if len(bases) != 1:
        raise SourceError("spec.query", "a threshold metric must read exactly one asrwatch histogram, "
                                        f"got {', '.join(sorted(bases)) or 'none'}")
    filters = [_filters(s, skip=("le",)) for s in query.selectors]
    if any(f != filters[0] for f in filters):
        raise SourceError("spec.query", "the series of the query select different slices")
    reading = Reading({"sli": HISTOGRAM_SLI[bases.pop()], "filters": filters[0],
                       "group_by": _group_by(query, ignore=("le",))})
    if "histogram_quantile" in query.functions or query.operators:
        reading.notes.append("the query's aggregate is not kept: asrwatch counts each event at or "
                             "under the objective's value as good")
    return reading


def asrwatch_spec(spec: Any, *, threshold: bool) -> dict[str, Any]:
    """`type: asrwatch` spec -> params. For a thresholdMetric the objective's value is the
    threshold, so threshold_ms/max_wer belong there, not here."""
    if not isinstance(spec, dict):
        raise SourceError("spec", "type asrwatch needs a spec mapping, e.g. {sli: availability}")
    allowed = ("sli", "filters", "group_by") if threshold else ASRWATCH_KEYS
    for key in spec:
        if key not in allowed:
            why = "the objective's value is the threshold" if key in ASRWATCH_KEYS else \
                f"unknown key (use {', '.join(allowed)})"
            raise SourceError(f"spec.{key}", why)
    kinds = THRESHOLD_SLIS if threshold else SLI_KINDS
    if "sli" in spec and spec["sli"] not in kinds:
        raise SourceError("spec.sli", f"unknown SLI {spec['sli']!r} for a "
                                      f"{'threshold' if threshold else 'ratio'} metric (use one of {', '.join(kinds)})")
    return dict(spec)
