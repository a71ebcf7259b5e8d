"""Pure functions from the API's JSON to the frames and figures the pages draw. No I/O, no Streamlit."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

SEVERITY_ORDER = {"page": 0, "ticket": 1, "info": 2}


# -- formatting: one place, so tests compare what the page shows with the API's numbers ----------


def fmt_int(value: float | None) -> str:
    return "n/a" if _missing(value) else f"{int(round(value)):,}"


def fmt_p(value: float | None) -> str:
    """A p-value people can read: 4 decimals, or two significant digits in scientific notation
    under 0.0001 (a Holm-adjusted 3e-42 printed as a decimal overflowed its column as zeros)."""
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:.4f}" if value >= 1e-4 else f"{value:.1e}"


def fmt_pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if _missing(value) else f"{value * 100:.{digits}f}%"


def fmt_usd(value: float | None, digits: int = 2) -> str:
    return "n/a" if _missing(value) else f"${value:,.{digits}f}"


def fmt_ms(value: float | None) -> str:
    return "n/a" if _missing(value) else f"{value:,.0f} ms"


def fmt_num(value: float | None, digits: int = 2) -> str:
    return "n/a" if _missing(value) else f"{value:,.{digits}f}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def slice_label(labels: Mapping[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (labels or {}).items()) or "all"


def absolute_url(base_url: str, url: str | None) -> str | None:
    """Runbook links are relative to the collector (`/runbooks/...`)."""
    if not url:
        return None
    return base_url.rstrip("/") + url if url.startswith("/") else url


def frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Rows to a frame with exactly `columns` (missing keys are empty), in that order."""
    return pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=list(columns))


# -- executive ------------------------------------------------------------------------------


SLO_COLUMNS = ["slo", "group", "sli", "objective", "actual", "error_budget_remaining", "burn_1h", "events",
               "compliant", "firing"]


def slo_frame(slos: Mapping[str, Any]) -> pd.DataFrame:
    """One row per SLO and group: objective vs actual, budget left, and whether it meets the objective."""
    rows = []
    for slo in slos.get("slos", []):
        for g in slo.get("groups", []):
            actual = g.get("sli_value")
            rows.append({
                "slo": slo["name"], "group": slice_label(g.get("group")), "sli": slo.get("sli"),
                "objective": slo.get("objective"), "actual": actual,
                "error_budget_remaining": g.get("error_budget_remaining"),
                "burn_1h": (g.get("burn_rates") or {}).get("1h"), "events": g.get("events"),
                "compliant": None if actual is None else actual >= slo.get("objective", 0),
                "firing": len(g.get("alerts") or []),
            })
    return frame(rows, SLO_COLUMNS)


def trend_frame(buckets: Sequence[tuple[datetime, datetime, Sequence[Mapping[str, Any]]]],
                dims: Sequence[str]) -> pd.DataFrame:
    """WER per time bucket and group: `bucket` is the bucket's start; `series` names the group."""
    rows = []
    for start, _end, found in buckets:
        for r in found:
            rows.append({"bucket": pd.Timestamp(start), "series": " / ".join(str(r.get(d)) for d in dims),
                         **{d: r.get(d) for d in dims}, "wer": r.get("wer"), "ci_low": r.get("ci_low"),
                         "ci_high": r.get("ci_high"), "utterances": r.get("utterances")})
    return frame(rows, ["bucket", "series", *dims, "wer", "ci_low", "ci_high", "utterances"])


COST_COLUMNS = ["sessions", "successful_turns", "gpu_seconds", "cost_usd", "cost_per_successful_turn",
                "audio_minutes", "cost_per_audio_minute"]


def monthly_run_rate(cost_usd: float | None, span_seconds: float) -> float | None:
    """The window's spend scaled to 30 days."""
    if cost_usd is None or span_seconds <= 0:
        return None
    return cost_usd * (30 * 86400) / span_seconds


def incidents_frame(alerts: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    rows = [{"state": a.get("state"), "severity": a.get("severity"), "name": a.get("name"),
             "group": slice_label({k: v for k, v in (a.get("labels") or {}).items()
                                   if k not in ("alertname", "severity")}),
             "starts_at": a.get("starts_at"), "ends_at": a.get("ends_at"), "summary": a.get("summary")}
            for a in alerts]
    rows.sort(key=lambda r: (SEVERITY_ORDER.get(r["severity"], 9), str(r["starts_at"])))
    return frame(rows, ["state", "severity", "name", "group", "starts_at", "ends_at", "summary"])


# -- on-call --------------------------------------------------------------------------------


def alerts_frame(alerts: Sequence[Mapping[str, Any]], base_url: str) -> pd.DataFrame:
    rows = []
    for a in alerts:
        ann = a.get("annotations") or {}
        burns = (a.get("evidence") or {}).get("burn_rates") or {}
        rows.append({
            "severity": a.get("severity"), "name": a.get("name"),
            "group": slice_label({k: v for k, v in (a.get("labels") or {}).items()
                                  if k not in ("alertname", "severity")}),
            "burn_long": _float(ann.get("burn_long")), "burn_short": _float(ann.get("burn_short")),
            "burn_1h": burns.get("1h"), "budget_left": _float(ann.get("error_budget_remaining")),
            "starts_at": a.get("starts_at"), "summary": a.get("summary"),
            "runbook": absolute_url(base_url, a.get("runbook_url")),
            "routed_to": ", ".join(a.get("routed_to") or []),
        })
    rows.sort(key=lambda r: (SEVERITY_ORDER.get(r["severity"], 9), str(r["starts_at"])))
    return frame(rows, ["severity", "name", "group", "burn_long", "burn_short", "burn_1h", "budget_left",
                        "starts_at", "summary", "runbook", "routed_to"])


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def burn_frame(slos: Mapping[str, Any]) -> pd.DataFrame:
    """Long form: one row per SLO, group and reporting window (the SLO's `burn_windows` from the
    API, shortest first) with its burn rate."""
    rows = []
    for slo in slos.get("slos", []):
        windows = slo.get("burn_windows") or []
        for g in slo.get("groups", []):
            for w in windows:
                rows.append({"slo": slo["name"], "group": slice_label(g.get("group")), "window": w["window"],
                             "window_s": w["window_s"], "burn_rate": (g.get("burn_rates") or {}).get(w["window"])})
    return frame(rows, ["slo", "group", "window", "window_s", "burn_rate"])


def _alert_tiers(slos: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    """The SLO's enabled alert tiers as the API states them: a disabled tier never fires, so no rule for it."""
    slo = next((s for s in slos.get("slos", []) if s.get("name") == name), {})
    return [t for t in slo.get("alert_tiers") or [] if t.get("enabled", True)]


def threshold_frame(slos: Mapping[str, Any], name: str) -> pd.DataFrame:
    """SLO `name`'s page/ticket burn thresholds, one row per (tier, window), for rule marks on the
    chart. The windows are the SLO's own (scaled to its window by the engine), not the 30-day ones."""
    rows = []
    for t in _alert_tiers(slos, name):
        rule = f"{t['severity']} {t['long_window']}&{t['short_window']} > {t['factor']:g}x"
        for window, seconds in ((t["long_window"], t["long_window_s"]), (t["short_window"], t["short_window_s"])):
            rows.append({"severity": t["severity"], "window": window, "window_s": seconds, "threshold": t["factor"],
                         "rule": rule})
    return frame(rows, ["severity", "window", "window_s", "threshold", "rule"])


def window_order(*frames: pd.DataFrame) -> list[str]:
    """The x axis of the burn chart: every window of the frames (burn windows and tier windows,
    which differ for an SLO that is not 30 days), shortest first."""
    seconds: dict[str, float] = {}
    for f in frames:
        seconds.update(zip(f["window"], f["window_s"]))
    return sorted(seconds, key=lambda w: seconds[w])


def thresholds_caption(slos: Mapping[str, Any], name: str) -> str:
    """'page when 1h & 5m exceed 14.4x or 6h & 30m exceed 6x; ticket when ...' for SLO `name`."""
    by_severity: dict[str, list[str]] = {}
    for t in _alert_tiers(slos, name):
        by_severity.setdefault(t["severity"], []).append(
            f"{t['long_window']} & {t['short_window']} exceed {t['factor']:g}x")
    if not by_severity:
        return "No alert tiers enabled for this SLO."
    slo = next(s for s in slos.get("slos", []) if s.get("name") == name)
    parts = [f"{severity} when " + " or ".join(conds) for severity, conds in by_severity.items()]
    return f"Ticks: {'; '.join(parts)} ({slo.get('window')} SLO)."


THROUGHPUT_COLUMNS = ("node", "pool", "sessions", "sessions_per_s", "concurrent_streams_mean", "concurrent_streams_max",
                      "gpu_utilization", "queue_ms_mean")
LATENCY_COLUMNS = ["final_p50_ms", "final_p95_ms", "final_p99_ms", "first_partial_p50_ms", "first_partial_p95_ms",
                   "first_partial_p99_ms", "final_count"]


def outcome_rates(rows: Sequence[Mapping[str, Any]], dims: Sequence[str]) -> pd.DataFrame:
    """Decode-failure, partial and other status rates per group from status counts."""
    out = []
    for r in rows:
        sessions = r.get("sessions") or 0
        entry = {d: r.get(d) for d in dims}
        entry["sessions"] = sessions
        for status in ("decode_error", "partial", "timeout", "dropped"):
            count = r.get(status, r.get(f"status_{status}")) or 0
            entry[status] = count
            entry[f"{status}_rate"] = count / sessions if sessions else None
        rewrites = r.get("partial_rewrites")
        entry["partial_rewrites_per_session"] = (rewrites / sessions) if (rewrites is not None and sessions) else None
        out.append(entry)
    return frame(out, [*dims, "sessions", "decode_error", "decode_error_rate", "partial", "partial_rate",
                       "timeout_rate", "dropped_rate", "partial_rewrites_per_session"])


def silences_frame(silences: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    rows = [{"state": (s.get("status") or {}).get("state"), "matchers": matcher_text(s.get("matchers") or []),
             "startsAt": s.get("startsAt"), "endsAt": s.get("endsAt"), "createdBy": s.get("createdBy"),
             "comment": s.get("comment"), "id": s.get("id")} for s in silences]
    rows.sort(key=lambda r: ({"active": 0, "pending": 1}.get(r["state"], 2), str(r["startsAt"])))
    return frame(rows, ["state", "matchers", "startsAt", "endsAt", "createdBy", "comment", "id"])


def matcher_text(matchers: Iterable[Any]) -> str:
    parts = []
    for m in matchers:
        if isinstance(m, Mapping):
            op = "=~" if m.get("isRegex") else "="
            if m.get("isEqual") is False:
                op = "!~" if m.get("isRegex") else "!="
            parts.append(f"{m.get('name')}{op}{m.get('value')}")
        else:
            parts.append(str(m))
    return ", ".join(parts)


def parse_matchers(text: str) -> list[str]:
    """'alertname=X, region=us-east' -> ['alertname=X', 'region=us-east']; raises naming the bad one."""
    out = [p.strip() for p in text.replace("\n", ",").split(",") if p.strip()]
    if not out:
        raise ValueError("matchers: give at least one, e.g. alertname=SLOErrorBudgetBurn")
    for p in out:
        if not any(op in p for op in ("=", "!=", "=~", "!~")) or p.startswith("="):
            raise ValueError(f"matchers: {p!r} is not name=value (or !=, =~, !~)")
    return out


ROLLBACK_ACTIONS = ("rollback", "rollout.rollback", "rollout.rolled_back")


def rollback_frame(audit: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    rows = [a for a in audit if "rollback" in str(a.get("action", "")) or "rolled_back" in str(a.get("action", ""))]
    return audit_frame(rows)


INSUFFICIENT = "insufficient data"


def split_reasons(reasons: Sequence[str]) -> tuple[list[str], list[str]]:
    """The judge's reasons as (findings, waiting for data): a regression or a veto is what the
    decision rests on; "insufficient data ..." lines (slo.rollout.judge) only say what it could
    not test yet, and mixed in a list they read as findings."""
    findings = [r for r in reasons if not r.startswith(INSUFFICIENT)]
    return findings, [r for r in reasons if r.startswith(INSUFFICIENT)]


AUDIT_COLUMNS = ["done at (wall clock)", "judged event time", "actor", "action", "target", "reason"]


def audit_frame(audit: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Newest action first, by the wall clock it was taken at. The event time an automatic action
    judged has its own column: in a replay it is hours behind, and one column for both made a
    rollout look rolled back before it was registered."""
    rows = [{"done at (wall clock)": a.get("at"), "judged event time": a.get("event_at") or "", "actor": a.get("actor"),
             "action": a.get("action"), "target": a.get("target"), "reason": a.get("reason")} for a in audit]
    rows.sort(key=lambda r: pd.Timestamp(r["done at (wall clock)"]) if r["done at (wall clock)"] else pd.Timestamp.min.tz_localize("UTC"),
              reverse=True)
    return frame(rows, AUDIT_COLUMNS)


# -- debug ----------------------------------------------------------------------------------


def waterfall_frame(session: Mapping[str, Any]) -> pd.DataFrame:
    """Stages as bars on one time axis: start and end in ms after the session's first stage."""
    stages = session.get("stages") or []
    if not stages:
        return frame([], ["stage", "start_ms", "end_ms", "duration_ms"])
    starts = [pd.Timestamp(s["start"]) for s in stages]
    t0 = min(starts)
    rows = []
    for s, start in sorted(zip(stages, starts), key=lambda p: p[1]):
        offset = (start - t0).total_seconds() * 1000.0
        rows.append({"stage": s["name"], "start_ms": offset, "end_ms": offset + float(s["duration_ms"]),
                     "duration_ms": float(s["duration_ms"])})
    return frame(rows, ["stage", "start_ms", "end_ms", "duration_ms"])


@dataclass(frozen=True)
class DiffOp:
    kind: str  # equal | substitute | delete | insert
    ref: str
    hyp: str


@dataclass(frozen=True)
class TranscriptDiff:
    ops: list[DiffOp]
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int

    @property
    def wer(self) -> float:
        if self.ref_words == 0:
            return 0.0 if self.insertions == 0 else 1.0
        return (self.substitutions + self.deletions + self.insertions) / self.ref_words


def transcript_diff(reference: str, hypothesis: str | None,
                    normalize: Callable[[str], str] = lambda t: t) -> TranscriptDiff:
    """Word alignment of reference and hypothesis after normalization (jiwer, as the collector scores)."""
    import jiwer

    ref = normalize(reference or "").split()
    hyp = normalize(hypothesis or "").split()
    if not ref:
        return TranscriptDiff([DiffOp("insert", "", w) for w in hyp], 0, 0, len(hyp), 0)
    if not hyp:
        return TranscriptDiff([DiffOp("delete", w, "") for w in ref], 0, len(ref), 0, len(ref))
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    ops: list[DiffOp] = []
    for chunk in out.alignments[0]:
        kind = chunk.type
        r = ref[chunk.ref_start_idx:chunk.ref_end_idx]
        h = hyp[chunk.hyp_start_idx:chunk.hyp_end_idx]
        if kind == "equal":
            ops.extend(DiffOp("equal", a, b) for a, b in zip(r, h))
        elif kind == "substitute":
            ops.extend(DiffOp("substitute", a, b) for a, b in zip(r, h))
        elif kind == "delete":
            ops.extend(DiffOp("delete", a, "") for a in r)
        else:
            ops.extend(DiffOp("insert", "", b) for b in h)
    return TranscriptDiff(ops, out.substitutions, out.deletions, out.insertions, len(ref))


_DIFF_STYLE = {
    "substitute": "background:#fde68a;border-radius:3px;padding:0 2px",
    "delete": "background:#fecaca;text-decoration:line-through;border-radius:3px;padding:0 2px",
    "insert": "background:#bbf7d0;border-radius:3px;padding:0 2px",
}


def diff_html(diff: TranscriptDiff) -> str:
    """Inline diff: substitutions `ref→hyp` in amber, deletions struck in red, insertions in green."""
    parts = []
    for op in diff.ops:
        if op.kind == "equal":
            parts.append(html.escape(op.ref))
        elif op.kind == "substitute":
            parts.append(f'<span class="asr-sub" title="substitution" style="{_DIFF_STYLE["substitute"]}">'
                         f"{html.escape(op.ref)}&rarr;{html.escape(op.hyp)}</span>")
        elif op.kind == "delete":
            parts.append(f'<span class="asr-del" title="deletion" style="{_DIFF_STYLE["delete"]}">'
                         f"{html.escape(op.ref)}</span>")
        else:
            parts.append(f'<span class="asr-ins" title="insertion" style="{_DIFF_STYLE["insert"]}">'
                         f"+{html.escape(op.hyp)}</span>")
    return '<div style="line-height:2">' + " ".join(parts) + "</div>"


def token_frame(attributes: Mapping[str, Any] | None) -> pd.DataFrame:
    """Token probabilities from the probe (`tokens` + `token_probs`) as one row per token."""
    attrs = attributes or {}
    probs = attrs.get("token_probs") or attrs.get("asr.token_probs")
    if not probs:
        return frame([], ["position", "token", "probability", "line"])
    tokens = attrs.get("tokens") or attrs.get("asr.tokens") or [str(i) for i in range(len(probs))]
    if isinstance(tokens, str):
        tokens = tokens.split()
    rows = []
    per_line = 20
    for i, p in enumerate(probs):
        value = _float(p)
        if value is None:
            continue
        rows.append({"position": i % per_line, "token": str(tokens[i]) if i < len(tokens) else "",
                     "probability": value, "line": i // per_line})
    return frame(rows, ["position", "token", "probability", "line"])


def comparison_frame(wer_rows: Sequence[Mapping[str, Any]], latency_rows: Sequence[Mapping[str, Any]],
                     cost_rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Model versions side by side: one column per version, one row per metric."""
    metrics: dict[str, dict[str, Any]] = {}

    def put(rows: Sequence[Mapping[str, Any]], fields: Sequence[tuple[str, str]]) -> None:
        for r in rows:
            version = str(r.get("model_version"))
            for key, label in fields:
                metrics.setdefault(version, {})[label] = r.get(key)

    put(wer_rows, [("wer", "WER"), ("ci_low", "WER 95% low"), ("ci_high", "WER 95% high"),
                   ("utterances", "labeled utterances")])
    put(latency_rows, [("final_p50_ms", "final p50 ms"), ("final_p95_ms", "final p95 ms"),
                       ("final_p99_ms", "final p99 ms"), ("first_partial_p95_ms", "first partial p95 ms")])
    put(cost_rows, [("sessions", "sessions"), ("cost_usd", "cost USD"),
                    ("cost_per_successful_turn", "cost per successful turn"),
                    ("cost_per_audio_minute", "cost per audio minute")])
    order = ["WER", "WER 95% low", "WER 95% high", "labeled utterances", "final p50 ms", "final p95 ms",
             "final p99 ms", "first partial p95 ms", "sessions", "cost USD", "cost per successful turn",
             "cost per audio minute"]
    table = pd.DataFrame({v: [metrics[v].get(m) for m in order] for v in sorted(metrics)}, index=order)
    table.index.name = "metric"
    return table


def scatter_frame(samples: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    rows = [{"session_id": s.get("session_id"), "snr_db": s.get("snr_db"), "wer": s.get("wer"),
             "model_version": s.get("model_version"), "channel": s.get("channel")}
            for s in samples if s.get("snr_db") is not None and s.get("wer") is not None]
    return frame(rows, ["session_id", "snr_db", "wer", "model_version", "channel"])


# -- model owner ----------------------------------------------------------------------------


def findings_frame(drift: Mapping[str, Any]) -> pd.DataFrame:
    rows = [{"severity": f.get("severity"), "kind": f.get("kind"), "feature": f.get("feature"),
             "slice": f.get("slice"), "test": f.get("test"), "statistic": f.get("statistic"),
             "p_adjusted": fmt_p(f.get("p_adjusted")), "effect": f.get("effect"), "summary": f.get("summary"),
             "explained_by": f.get("explained_by"), "fingerprint": f.get("fingerprint")}
            for f in drift.get("findings", [])]
    return frame(rows, ["severity", "kind", "feature", "slice", "test", "statistic", "p_adjusted", "effect",
                        "summary", "explained_by", "fingerprint"])


def evidence_frame(finding: Mapping[str, Any]) -> pd.DataFrame:
    """Reference vs current histogram of a finding, long form (bin, window, fraction)."""
    h = finding.get("histogram") or {}
    if h.get("kind") == "numeric":
        edges = h.get("edges") or []
        bins = [f"{edges[i]:.4g}..{edges[i + 1]:.4g}" for i in range(len(edges) - 1)]
    else:
        bins = [str(c) for c in h.get("categories") or []]
    rows = []
    for window in ("reference", "current"):
        for i, fraction in enumerate(h.get(window) or []):
            if i < len(bins):
                rows.append({"bin": bins[i], "order": i, "window": window, "fraction": fraction})
    return frame(rows, ["bin", "order", "window", "fraction"])


def worst_slices_frame(drift: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for w in drift.get("worst_slices", []):
        rows.append({"slice": w.get("slice"), "severity": w.get("severity"),
                     **{k: v for k, v in w.items() if k not in ("slice", "slice_labels", "severity")
                        and not isinstance(v, (list, dict))}})
    return pd.DataFrame(rows)


LABEL_FREE_COLUMNS = ["model_version", "estimated_wer", "ci_low", "ci_high", "withheld_reason", "labeled_wer",
                      "n_labeled", "n_unlabeled", "calibration_healthy", "calibrated_slope", "calibrated_intercept",
                      "calibrated_ece", "raw_slope", "raw_intercept", "raw_ece", "warnings"]
CALIBRATION_SLICE_COLUMNS = ["model_version", "slice", "healthy", "n", "calibrated_slope", "calibrated_intercept",
                             "calibrated_ece", "raw_slope", "raw_intercept", "raw_ece", "problems"]


def _health_columns(health: Mapping[str, Any] | None) -> dict[str, Any]:
    """The calibration health of `drift.calibration_health` as flat columns (calibrated_*, raw_*)."""
    out = {}
    for kind in ("calibrated", "raw"):
        part = (health or {}).get(kind) or {}
        for key in ("slope", "intercept", "ece"):
            out[f"{kind}_{key}"] = part.get(key)
    return out


def label_free_frame(drift: Mapping[str, Any]) -> pd.DataFrame:
    rows = [{**e, "warnings": "; ".join(e.get("warnings") or []), **_health_columns(e.get("calibration_health")),
             "calibration_healthy": (e.get("calibration_health") or {}).get("healthy")}
            for e in drift.get("label_free", [])]
    return frame(rows, LABEL_FREE_COLUMNS)


def calibration_slices_frame(drift: Mapping[str, Any]) -> pd.DataFrame:
    """Calibration health per slice of each model version's labelled utterances."""
    rows = [{"model_version": e.get("model_version"), "slice": s.get("slice"), "healthy": s.get("healthy"),
             "n": (s.get("calibrated") or {}).get("n"), **_health_columns(s),
             "problems": "; ".join((s.get("calibrated") or {}).get("problems") or [])}
            for e in drift.get("label_free", []) for s in e.get("calibration_slices") or []]
    return frame(rows, CALIBRATION_SLICE_COLUMNS)


def withheld_label_free(drift: Mapping[str, Any]) -> list[str]:
    """One line per model version whose label-free WER is withheld, with the reason."""
    return [f"Label-free WER for {e.get('model_version')} withheld: {e['withheld_reason']}"
            for e in drift.get("label_free", []) if e.get("withheld_reason")]


def calibration_frame(drift: Mapping[str, Any]) -> pd.DataFrame:
    """Reliability curve points per model version (confidence bin vs observed word accuracy)."""
    rows = []
    for e in drift.get("label_free", []):
        for point in e.get("calibration") or e.get("reliability") or []:
            rows.append({"model_version": e.get("model_version"), "confidence": point.get("confidence"),
                         "accuracy": point.get("accuracy"), "count": point.get("count")})
    return frame(rows, ["model_version", "confidence", "accuracy", "count"])


def vocabulary_frame(drift: Mapping[str, Any]) -> pd.DataFrame:
    vocab = drift.get("vocabulary") or {}
    rows = []
    seen = set()
    for kind in ("misrecognized", "new_terms"):
        for t in vocab.get(kind) or []:
            if t.get("term") in seen:
                continue
            seen.add(t.get("term"))
            rows.append({"term": t.get("term"), "misrecognized": kind == "misrecognized",
                         "current_count": t.get("current_count"), "baseline_count": t.get("baseline_count"),
                         "miss_rate": t.get("miss_rate"), "p_adjusted": fmt_p(t.get("p_adjusted"))})
    return frame(rows, ["term", "misrecognized", "current_count", "baseline_count", "miss_rate", "p_adjusted"])


def tickets_frame(tickets: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    # A ticket routed by a receiver with no owning team names the receiver: an empty team column
    # told the model owner nothing about where the ticket went.
    rows = [{"status": t.get("status"), "team": t.get("team") or t.get("receiver"), "title": t.get("title"),
             "opened_at": t.get("opened_at"), "updated_at": t.get("updated_at"), "body": t.get("body"),
             "id": t.get("id")} for t in tickets]
    return frame(rows, ["status", "team", "title", "opened_at", "updated_at", "body", "id"])


# -- rollouts -------------------------------------------------------------------------------


VERDICT_COLUMNS = ["slice", "family", "metric", "baseline", "canary", "effect", "low", "high", "p_value",
                   "regression"]


def verdict_frame(verdict: Mapping[str, Any]) -> pd.DataFrame:
    """Canary vs baseline per slice and metric with the test's interval and outcome."""
    rows = []
    for name, entry in ((verdict.get("metrics") or {}).get("slices") or {}).items():
        for metric, test in (entry.get("tests") or {}).items():
            if not test:
                continue
            rows.append({"slice": name, "family": entry.get("family"), "metric": metric,
                         "baseline": test.get("baseline"), "canary": test.get("canary"), "effect": test.get("effect"),
                         "low": test.get("low"), "high": test.get("high"), "p_value": test.get("p_value"),
                         "regression": bool(test.get("regression", False))})
    return frame(rows, VERDICT_COLUMNS)


def arms_frame(verdict: Mapping[str, Any]) -> pd.DataFrame:
    """Per slice, the WER of each arm (for the side-by-side chart)."""
    rows = []
    for name, entry in ((verdict.get("metrics") or {}).get("slices") or {}).items():
        for arm in ("baseline", "canary"):
            summary = entry.get(arm) or {}
            rows.append({"slice": name, "arm": arm, "wer": summary.get("wer"),
                         "utterances": summary.get("utterances"), "sessions": summary.get("sessions")})
    return frame(rows, ["slice", "arm", "wer", "utterances", "sessions"])


# -- diarization ----------------------------------------------------------------------------

DIARIZATION_COLUMNS = ["model_version", "channel", "der", "ci_low", "ci_high", "sessions", "missed_s",
                       "false_alarm_s", "confusion_s", "speech_s", "speaker_count_error"]


def sample_der(sample: Mapping[str, Any]) -> float | None:
    """A stored sample's DER from its components (pyannote's rule without reference speech)."""
    from collector.measures import diarization

    if sample.get("der_speech_s") is None:
        return None
    error = sample["der_missed_s"] + sample["der_false_alarm_s"] + sample["der_confusion_s"]
    return diarization.session_der(error, sample["der_speech_s"])


def speaker_turns_frame(sample: Mapping[str, Any]) -> pd.DataFrame:
    """A diarized sample's turns for a timeline: one row per segment, `track` reference or
    hypothesis, speakers as the collector stored them (anonymous ids)."""
    rows = [{"track": track, "speaker": speaker, "start_s": start, "end_s": end}
            for track, key in (("reference", "reference_segments"), ("hypothesis", "hypothesis_segments"))
            for speaker, start, end in (sample.get(key) or [])]
    return pd.DataFrame(rows, columns=["track", "speaker", "start_s", "end_s"])



def sample_cer(sample: Mapping[str, Any]) -> float | None:
    """A stored sample's CER (None when scored before CER was: migration 0011)."""
    from collector.measures import wer

    if sample.get("ref_chars") is None:
        return None
    return wer.utterance_wer(sample["char_errors"], sample["ref_chars"])


def sample_entity_recall(sample: Mapping[str, Any]) -> float | None:
    """A stored sample's entity recall; None without entity occurrences in its reference."""
    from collector.measures import entity_recall

    return entity_recall.corpus_recall(sample.get("entities_found") or 0, sample.get("entity_occurrences") or 0)
