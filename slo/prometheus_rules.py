"""Prometheus recording and alerting rules for the SLOs, in the form Sloth generates.

Error ratios are event-weighted over each window: increase(bad[w]) / increase(total[w]) from the
collector's `/metrics` counters, never an average of 5-minute ratios. A counter child created
inside a window (its `_created` timestamp says so) is counted from 0, its whole value: the
collector creates a label set's children with its first sessions, so Prometheus never scrapes
that child at 0, and `increase()` alone would miss the first batch of a new model version or
tenant. Any other child counts its plain `increase()`, so what the collector counted before
Prometheus first scraped it, or during a scrape gap, is never taken for window events (see
`_increase`).

Proven with promtool 2.42 (Debian's), whose ranges include their start sample; Prometheus 3's
ranges leave the start out, which changes `increase()` at the window's edge: the equality with
the in-process engine is not tested there.

The alert expressions are the in-process engine's conditions (`slo.alerting`): the same tiers,
scaled windows, thresholds (the same float literals), low-traffic guard and
page-suppresses-ticket rule, and the alerts carry the same names and labels as the engine's
(`slo.evaluation._alert`): both take them from `SLOSpec.alert_labels`, which adds Sloth's
`sloth_id`, `sloth_service`, `sloth_slo` and `sloth_severity` for a spec that names its service.

Sloth's names, so its Grafana dashboards (grafana.com 14348, 14643) work unchanged: every
recording carries `sloth_id`, `sloth_service`, `sloth_slo` besides `slo`; the SLO-level metadata
is `slo:objective:ratio`, `slo:error_budget:ratio`, `slo:time_period:days`,
`slo:current_burn_rate:ratio`, `slo:period_burn_rate:ratio`,
`slo:period_error_budget_remaining:ratio` and `sloth_slo_info` (slok/sloth,
internal/prometheus/recording_rules.go `GenerateMetadataRecordingRules`, conventions.go).

The whole-window (period) ratio is a sum over recorded 5-minute increases, so Prometheus keeps
30 days of two small recorded series per group rather than evaluating 30 days of raw samples
(Sloth averages its recorded 5m ratios instead, `optimizedSLIRecordGenerator`; a sum of bad
and total events keeps the ratio event-weighted and equal to the engine's).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client.utils import floatToGoString

from collector.api import DEFAULT_LABEL_VALUES_MAX, OTHER
from slo.alerting import policy
from slo.burn_rate import REPORT_WINDOWS
from slo.evaluation import DEFAULT_RUNBOOK_BASE, runbook_url
from slo.spec import (
    ALWAYS_LABELLED,
    BAD_COUNTERS_FOR_SLI,
    COUNTERS_FOR_SLI,
    HISTOGRAM_FOR_SLI,
    SLOSpec,
    format_duration,
    min_events_for,
)
from slo.status import runbook_base as runbook_base_of

if TYPE_CHECKING:
    from asrwatch.settings import Settings

SESSIONS = "asrwatch_sessions_total"
EMPTY_HYPOTHESES = "asrwatch_empty_hypotheses_total"
PERIOD_STEP = timedelta(minutes=5)
PERIOD_INTERVAL = format_duration(PERIOD_STEP)  # the period group's interval = its increases' range
PERIOD_BAD = f"slo:period_bad_events:increase{PERIOD_INTERVAL}"
PERIOD_TOTAL = f"slo:period_events:increase{PERIOD_INTERVAL}"
SLOTH_IDENTITY = ("sloth_id", "sloth_service", "sloth_slo")
SLOTH_SPEC = "asrwatch/v1"  # sloth_slo_info{sloth_spec}: which spec format the rules came from


class NotExportable(ValueError):
    pass


def _selector(spec: SLOSpec, extra: dict[str, str] | None = None, negate: dict[str, str] | None = None) -> str:
    matchers = []
    for key, values in sorted(spec.filter_values().items()):
        if len(values) == 1:
            matchers.append(f'{key}="{_escape(values[0])}"')
        else:
            matchers.append(f'{key}=~"{"|".join(_escape(re.escape(v)) for v in values)}"')
    matchers += [f'{k}="{_escape(v)}"' for k, v in (extra or {}).items()]
    matchers += [f'{k}!="{_escape(v)}"' for k, v in (negate or {}).items()]
    return "{" + ",".join(matchers) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _sum(spec: SLOSpec, inner: str) -> str:
    by = f" by ({', '.join(spec.group_by)})" if spec.group_by else ""
    return f"sum{by} ({inner})"


def _or_zero(expr: str, total: str) -> str:
    # A group with no bad series at all (rules applied to an older collector that created a
    # status child only when it first occurred) counts as zero, not as absent.
    return f"({expr} or (0 * {total}))"


def _increase(series: str, created: str, window: timedelta, *, histogram_bucket: bool = False) -> str:
    """Events of each counter child over `window`, counting a child born inside it from 0.

    `increase()` needs two samples and extrapolates from a child's first one, so the first
    scrape of a new label set (a model version's first batch, often all bad when it is broken)
    would be lost or guessed. A child that did not exist at the window's start had value 0
    then: its increase is its current value. "Did not exist" is the collector's `_created`
    timestamp inside the window, and no sample at the window's start: a missing sample alone
    (Prometheus started after the collector, a scrape gap over 5m) would count everything the
    child counted since the collector started; a sample at the start with a recent created
    time is a collector restart, which `increase()` handles as a counter reset. Without a
    `_created` series (an older collector) a child counts its plain `increase()`. `_created` is
    on the collector's wall clock and `time()` on Prometheus': both are assumed NTP-synced."""
    w = format_duration(window)
    ignoring = " ignoring (le)" if histogram_bucket else ""  # `<hist>_created` has no le label
    born = (f"(({series} unless {series} offset {w}) and{ignoring} "
            f"{created} > (time() - {int(window.total_seconds())}))")
    # `or` keeps every born child from its left side and adds the others' increase.
    return f"({born} or increase({series}[{w}]))"


def _created_name(metric: str) -> str:
    # The client writes `<family>_created` beside `<family>_total` and the histogram `<family>_*`.
    for suffix in ("_total", "_bucket", "_count"):
        if metric.endswith(suffix):
            return metric.removesuffix(suffix) + "_created"
    raise ValueError(f"{metric} is not a counter or histogram series")


def bad_and_total(spec: SLOSpec, window: timedelta) -> tuple[str, str]:
    """PromQL for the bad and total events of the SLI over `window`, summed per group."""
    def events(metric: str, extra: dict[str, str] | None = None, negate: dict[str, str] | None = None) -> str:
        plain = {k: v for k, v in (extra or {}).items() if k != "le"}
        return _sum(spec, _increase(f"{metric}{_selector(spec, extra, negate)}",
                                    f"{_created_name(metric)}{_selector(spec, plain, negate)}", window,
                                    histogram_bucket="le" in (extra or {})))

    if spec.sli in HISTOGRAM_FOR_SLI:
        name = HISTOGRAM_FOR_SLI[spec.sli]
        edge = {"quality": spec.max_wer, "diarization": spec.max_der}.get(spec.sli, spec.threshold_ms)
        total = events(f"{name}_count")
        good = events(f"{name}_bucket", {"le": floatToGoString(float(edge))})  # type: ignore[arg-type]
        return f"({total} - {good})", total
    if spec.sli in BAD_COUNTERS_FOR_SLI:
        bad_metric, total_metric = BAD_COUNTERS_FOR_SLI[spec.sli]
        return events(bad_metric), events(total_metric)
    if spec.sli in COUNTERS_FOR_SLI:
        good_metric, total_metric = COUNTERS_FOR_SLI[spec.sli]
        total = events(total_metric)
        return f"({total} - {events(good_metric)})", total
    total = events(SESSIONS)
    if spec.sli == "availability":
        return _or_zero(events(SESSIONS, negate={"status": "ok"}), total), total
    if spec.sli == "decode_errors":
        decode = _or_zero(events(SESSIONS, {"status": "decode_error"}), total)
        empty = _or_zero(events(EMPTY_HYPOTHESES), total)
        return f"({decode} + {empty})", total
    raise NotExportable(f"SLO {spec.name!r}: sli {spec.sli} has no Prometheus form")


def _window(minutes: int) -> str:
    return format_duration(timedelta(minutes=minutes))


def _ratio(bad: str, total: str) -> str:
    return f"{bad}\n/\n{total}\n"


def recorded_windows(spec: SLOSpec) -> tuple[list[int], list[int]]:
    """(minutes of every `slo:sli_error:ratio_rate<w>` recording, minutes of every
    `slo:sli_events:increase<w>` one): the reported windows and the tiers' windows; events for
    the tiers' long windows (their low-traffic guard). The SLO window is recorded too, by
    `_period_rules` where it is none of these."""
    tiers = policy(spec.window)
    windows = sorted(set(REPORT_WINDOWS.values()) | {m for t in tiers for m in (t.long_minutes, t.short_minutes)})
    return windows, sorted({t.long_minutes for t in tiers})


def period_sums(spec: SLOSpec) -> tuple[str, str] | None:
    """PromQL for the bad and total events over the SLO window from the recorded 5-minute
    increases (`_period_rules`), or None where the window is a recorded one (no period rules)."""
    if spec.window_minutes in recorded_windows(spec)[0]:
        return None
    sel = f'{{slo="{_escape(spec.name)}"}}'
    # The group runs every 5m, so each sample is the increase since the previous one; a range
    # half a step short of the window holds window/5m of them (tested with promtool 2.42,
    # whose ranges include their start; the half step is meant to keep the count on
    # Prometheus 3's left-open ranges too, which is not tested).
    span = format_duration(spec.window - PERIOD_STEP / 2)
    return f"sum_over_time({PERIOD_BAD}{sel}[{span}])", f"sum_over_time({PERIOD_TOTAL}{sel}[{span}])"


def rules_for(spec: SLOSpec, *, min_events: int, runbook_base: str = DEFAULT_RUNBOOK_BASE,
              min_bad_events: float = 0.0) -> list[dict[str, Any]]:
    """Rule groups for one SLO: SLI recordings then alerts (one group, so alerts see this
    evaluation's recordings), and a 5-minute group for the period ratio and Sloth's metadata."""
    # Every dimension a spec filters or groups on is a fixed or a configured one (`slo.spec`
    # validates it) and a label of /metrics (`collector.api.metrics` labels those SLOs use).
    tiers = policy(spec.window)
    labels = {"slo": spec.name, **spec.sloth_labels(), **spec.labels}
    sel = f'{{slo="{_escape(spec.name)}"}}'
    windows, event_windows = recorded_windows(spec)
    rules: list[dict[str, Any]] = []
    for minutes in windows:
        bad, total = bad_and_total(spec, timedelta(minutes=minutes))
        rules.append({"record": f"slo:sli_error:ratio_rate{_window(minutes)}", "expr": _ratio(bad, total),
                      "labels": dict(labels)})
    for minutes in event_windows:
        _, total = bad_and_total(spec, timedelta(minutes=minutes))
        rules.append({"record": f"slo:sli_events:increase{_window(minutes)}", "expr": total, "labels": dict(labels)})

    def tier_expr(tier, enough: bool) -> str:
        th = repr(tier.threshold(spec.objective))
        lw, sw = _window(tier.long_minutes), _window(tier.short_minutes)
        guard = ">=" if enough else "<"
        # Bad events are whole numbers: "at least N" is "more than N - 0.5" in float arithmetic.
        some_bad = (f" and slo:sli_error:ratio_rate{lw}{sel} * slo:sli_events:increase{lw}{sel}"
                    f" > {min_bad_events - 0.5:g}") if (min_bad_events > 0 and not enough) else ""
        return (
            f"(slo:sli_error:ratio_rate{lw}{sel} > {th}"
            f" and slo:sli_error:ratio_rate{sw}{sel} > {th}"
            f" and slo:sli_events:increase{lw}{sel} {guard} {tier.min_events(spec.objective, min_events, min_bad_events)}"
            f"{some_bad})"
        )

    page = "(" + " or ".join(tier_expr(t, True) for t in tiers if t.severity == "page") + ")"
    ticket_parts = [tier_expr(t, True) for t in tiers if t.severity == "ticket"]
    ticket_parts += [tier_expr(t, False) for t in tiers if t.severity == "page"]  # low traffic
    ticket = "(" + " or ".join(ticket_parts) + f")\nunless\n{page}"
    group_text = " ".join(f"{d}={{{{ $labels.{d} }}}}" for d in spec.group_by) or "all traffic"
    url = runbook_url(spec, runbook_base)
    for severity, expr in (("page", page), ("ticket", ticket)):
        if not spec.alert_enabled(severity):
            continue
        rules.append({
            "alert": spec.alert_name(severity),
            # The recordings' Sloth identity is dropped and the alert carries what the in-process
            # engine's alert carries (`alert_labels`: with sloth_* again for a Sloth-style spec).
            "expr": f"max without ({', '.join(SLOTH_IDENTITY)}) (\n{expr}\n)\n",
            "labels": {**spec.alert_labels(severity), "slo": spec.name, "severity": severity},
            "annotations": {
                **spec.alert_annotations(severity),
                "summary": (
                    f"SLO {spec.name} ({group_text}): error budget burn over the {severity} threshold "
                    f"(objective {spec.objective}, window {format_duration(spec.window)})"
                ),
                "runbook_url": url,
            },
        })
    return [
        {"name": f"asrwatch-slo-{spec.name}", "rules": rules},
        {"name": f"asrwatch-slo-{spec.name}-period", "interval": PERIOD_INTERVAL,
         "rules": _period_rules(spec, labels, sel, current_minutes=tiers[0].short_minutes)},
    ]


def _period_rules(spec: SLOSpec, labels: dict[str, str], sel: str, *, current_minutes: int) -> list[dict[str, Any]]:
    """The whole-window ratio from recorded 5-minute increases, and Sloth's metadata."""
    period = format_duration(spec.window)
    rules: list[dict[str, Any]] = []
    sums = period_sums(spec)
    if sums is not None:  # a 1d or 3d window is recorded from raw already
        bad, total = bad_and_total(spec, PERIOD_STEP)
        rules += [
            {"record": PERIOD_BAD, "expr": bad, "labels": dict(labels)},
            {"record": PERIOD_TOTAL, "expr": total, "labels": dict(labels)},
            {"record": f"slo:sli_error:ratio_rate{period}", "expr": _ratio(*sums), "labels": dict(labels)},
        ]
    on = f"on ({', '.join(SLOTH_IDENTITY)}) group_left"
    budget = f"slo:error_budget:ratio{sel}"
    info = {**labels, "sloth_objective": spec.objective_percent, "sloth_spec": SLOTH_SPEC}
    return rules + [
        {"record": "slo:objective:ratio", "expr": f"vector({spec.objective!r})", "labels": dict(labels)},
        {"record": "slo:error_budget:ratio", "expr": f"vector({1.0 - spec.objective!r})", "labels": dict(labels)},
        {"record": "slo:time_period:days", "expr": f"vector({spec.window / timedelta(days=1):g})",
         "labels": dict(labels)},
        # Sloth's "current" burn rate is the fast page tier's short window (5m for 30 days).
        {"record": "slo:current_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate{_window(current_minutes)}{sel}\n/ {on}\n{budget}\n", "labels": dict(labels)},
        {"record": "slo:period_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate{period}{sel}\n/ {on}\n{budget}\n", "labels": dict(labels)},
        {"record": "slo:period_error_budget_remaining:ratio", "expr": f"1 - slo:period_burn_rate:ratio{sel}",
         "labels": dict(labels)},
        {"record": "sloth_slo_info", "expr": "vector(1)", "labels": info},
    ]


def export_rules(specs: list[SLOSpec], settings: Settings | None = None) -> tuple[dict[str, Any], list[str]]:
    """(rule file as a dict, reasons for SLOs left out). Without settings: the defaults."""
    base = runbook_base_of(settings)
    min_bad = settings.slo_min_bad_events if settings is not None else 0.0
    groups, skipped = [], []
    for spec in specs:
        try:
            groups += rules_for(spec, min_events=min_events_for(spec, settings), runbook_base=base,
                                min_bad_events=min_bad)
        except NotExportable as exc:
            skipped.append(str(exc))
    return {"groups": groups}, skipped


def folding_warnings(specs: list[SLOSpec], settings: Settings | None = None) -> list[str]:
    """One line per SLO that groups on a dimension /metrics folds past its value budget: there
    Prometheus alerts for one `__other__` group where the in-process engine alerts per value."""
    budget = settings.metrics_label_values_max if settings is not None else DEFAULT_LABEL_VALUES_MAX
    out = []
    for spec in specs:
        folded = [d for d in spec.group_by if d not in ALWAYS_LABELLED]
        if folded:
            out.append(
                f"SLO {spec.name!r} groups by {', '.join(folded)}: /metrics labels at most {budget} values per dimension "
                f"(metrics_label_values_max) and the rest {OTHER}; past that budget these rules alert once for the "
                f"{OTHER} group while the built-in evaluator alerts per value")
    return out


def to_yaml(rules: dict[str, Any]) -> str:
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, data: str) -> Any:
        # Multi-line PromQL reads best as a literal block, as in Sloth's output.
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    _Dumper.add_representer(str, _str)
    return yaml.dump(rules, Dumper=_Dumper, sort_keys=False, width=200)
