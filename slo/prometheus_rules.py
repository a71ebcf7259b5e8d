"""Prometheus recording and alerting rules for the SLOs, in the style Sloth generates.

Error ratios are event-weighted over each window: rate(bad[w]) / rate(total[w]) from the
collector's `/metrics` counters, never an average of 5-minute ratios. The alert expressions
are the in-process engine's conditions (`slo.alerting`): the same tiers, scaled windows,
thresholds (the same float literals), low-traffic guard and page-suppresses-ticket rule.
Only dimensions that are labels of the metrics (model_version, region, channel) can be
filtered or grouped on; other SLOs are left out with a reason.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from prometheus_client.utils import floatToGoString

from slo.alerting import policy
from slo.burn_rate import REPORT_WINDOWS
from slo.evaluation import ALERT_NAME, DEFAULT_RUNBOOK_BASE, runbook_url
from slo.spec import HISTOGRAM_FOR_SLI, SLOSpec, format_duration, min_events_for

METRIC_LABELS = ("model_version", "region", "channel")
SESSIONS = "asrwatch_sessions_total"
EMPTY_HYPOTHESES = "asrwatch_empty_hypotheses_total"
PERIOD_INTERVAL = "5m"


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
    # A group with no bad events has no bad series at all; count it as zero, not as absent.
    return f"({expr} or (0 * {total}))"


def bad_and_total(spec: SLOSpec, window: str) -> tuple[str, str]:
    """PromQL for the bad and total event rates of the SLI over `window`, summed per group."""
    def rate(metric: str, extra: dict[str, str] | None = None, negate: dict[str, str] | None = None) -> str:
        return _sum(spec, f"rate({metric}{_selector(spec, extra, negate)}[{window}])")

    if spec.sli in HISTOGRAM_FOR_SLI:
        name = HISTOGRAM_FOR_SLI[spec.sli]
        edge = spec.max_wer if spec.sli == "quality" else spec.threshold_ms
        total = rate(f"{name}_count")
        good = rate(f"{name}_bucket", {"le": floatToGoString(float(edge))})  # type: ignore[arg-type]
        return f"({total} - {good})", total
    total = rate(SESSIONS)
    if spec.sli == "availability":
        return _or_zero(rate(SESSIONS, negate={"status": "ok"}), total), total
    if spec.sli == "decode_errors":
        decode = _or_zero(rate(SESSIONS, {"status": "decode_error"}), total)
        empty = _or_zero(rate(EMPTY_HYPOTHESES), total)
        return f"({decode} + {empty})", total
    raise NotExportable(f"SLO {spec.name!r}: sli {spec.sli} has no Prometheus form")


def check_exportable(spec: SLOSpec) -> None:
    for dim in list(spec.filters) + list(spec.group_by):
        if dim not in METRIC_LABELS:
            raise NotExportable(
                f"SLO {spec.name!r}: {dim} is not a label of the /metrics series "
                f"({', '.join(METRIC_LABELS)}), so the rules cannot filter or group on it"
            )


def _window(minutes: int) -> str:
    return format_duration(timedelta(minutes=minutes))


def rules_for(spec: SLOSpec, *, min_events: int, runbook_base: str = DEFAULT_RUNBOOK_BASE,
              min_bad_events: float = 0.0) -> list[dict[str, Any]]:
    """Rule groups for one SLO: SLI recordings then alerts (one group, so alerts see this
    evaluation's recordings), and a slower group for the whole-window budget."""
    check_exportable(spec)
    tiers = policy(spec.window)
    labels = {"slo": spec.name}
    sel = f'{{slo="{_escape(spec.name)}"}}'
    windows = sorted(set(REPORT_WINDOWS.values()) | {m for t in tiers for m in (t.long_minutes, t.short_minutes)})
    event_windows = sorted({t.long_minutes for t in tiers})
    rules: list[dict[str, Any]] = []
    for minutes in windows:
        w = _window(minutes)
        bad, total = bad_and_total(spec, w)
        rules.append({"record": f"slo:sli_error:ratio_rate{w}", "expr": f"{bad}\n/\n{total}\n", "labels": dict(labels)})
    for minutes in event_windows:
        w = _window(minutes)
        _, total = bad_and_total(spec, w)
        increase = total.replace("rate(", "increase(", 1)
        rules.append({"record": f"slo:sli_events:increase{w}", "expr": increase, "labels": dict(labels)})

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
        rules.append({
            "alert": ALERT_NAME,
            "expr": expr + "\n",
            "labels": {**labels, "severity": severity},
            "annotations": {
                "summary": (
                    f"SLO {spec.name} ({group_text}): error budget burn over the {severity} threshold "
                    f"(objective {spec.objective}, window {format_duration(spec.window)})"
                ),
                "runbook_url": url,
            },
        })
    period = format_duration(spec.window)
    bad, total = bad_and_total(spec, period)
    period_rules = [
        {"record": "slo:objective:ratio", "expr": repr(spec.objective), "labels": dict(labels)},
        {"record": f"slo:sli_error:ratio_rate{period}", "expr": f"{bad}\n/\n{total}\n", "labels": dict(labels)},
        {
            "record": "slo:error_budget_remaining:ratio",
            "expr": f"1 - slo:sli_error:ratio_rate{period}{sel} / {repr(1.0 - spec.objective)}",
            "labels": dict(labels),
        },
    ]
    return [
        {"name": f"asrwatch-slo-{spec.name}", "rules": rules},
        {"name": f"asrwatch-slo-{spec.name}-period", "interval": PERIOD_INTERVAL, "rules": period_rules},
    ]


def export_rules(
    specs: list[SLOSpec], settings: Any = None, *, runbook_base: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """(rule file as a dict, reasons for SLOs left out)."""
    base = runbook_base or getattr(settings, "runbook_base_url", None) or DEFAULT_RUNBOOK_BASE
    groups, skipped = [], []
    for spec in specs:
        try:
            groups += rules_for(spec, min_events=min_events_for(spec, settings), runbook_base=base,
                                min_bad_events=float(getattr(settings, "slo_min_bad_events", 0) or 0))
        except NotExportable as exc:
            skipped.append(str(exc))
    return {"groups": groups}, skipped


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
