"""Pure functions from the API's time series to the long-form frames the time charts draw.

Inputs are the JSON of `/api/v1/slos/{name}/series`, of `step=` answers (one row per bucket start
`t` and group) and of `/api/v1/annotations`. Times become timezone-aware pandas timestamps (UTC),
so every chart of a page shares one time axis. No I/O, no Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd


def _time(value: Any) -> pd.Timestamp:
    return pd.Timestamp(str(value).replace("Z", "+00:00")).tz_convert("UTC")


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def _points(series: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The points of the series' one group (the console asks for one), else none."""
    groups = series.get("groups") or []
    return groups[0].get("points") or [] if groups else []


def burn_series_frame(series: Mapping[str, Any]) -> pd.DataFrame:
    """t, window, window_s, burn_rate: one line per alert-tier window (shortest first)."""
    seconds = {w["window"]: w["window_s"] for w in series.get("windows") or []}
    rows = [{"t": _time(p["t"]), "window": w, "window_s": s, "burn_rate": (p.get("burn_rates") or {}).get(w)}
            for p in _points(series) for w, s in seconds.items()]
    return _frame(rows, ["t", "window", "window_s", "burn_rate"])


def budget_series_frame(series: Mapping[str, Any]) -> pd.DataFrame:
    """t, error_budget_remaining over the SLO window (the burn-down)."""
    rows = [{"t": _time(p["t"]), "error_budget_remaining": p.get("error_budget_remaining")} for p in _points(series)]
    return _frame(rows, ["t", "error_budget_remaining"])


def tier_rules_frame(series: Mapping[str, Any]) -> pd.DataFrame:
    """The enabled tiers' burn thresholds, one row per distinct (severity, factor)."""
    rows, seen = [], set()
    for t in series.get("alert_tiers") or []:
        if not t.get("enabled", True) or (t["severity"], t["factor"]) in seen:
            continue
        seen.add((t["severity"], t["factor"]))
        rows.append({"severity": t["severity"], "threshold": float(t["factor"]),
                     "rule": f"{t['severity']}: {t['long_window']} & {t['short_window']} above {t['factor']:g}x"})
    return _frame(rows, ["severity", "threshold", "rule"])


def episodes_frame(series: Mapping[str, Any], alerts: Sequence[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """start, end, severity, source: the alert episodes to shade. Recorded episodes (what the
    evaluator notified) as they were, clipped to the range (an open one ends at the range's end);
    where none was recorded, the runs of points at which the engine computes a firing severity
    (a collector whose evaluator has not judged those times yet), from the first firing point to
    the next point. A computed run still firing at the range's end starts where the group's
    firing alert of that severity (`alerts` of `/api/v1/slos`, judged at the range's end) says it began,
    not at the first chart step after that: the time the alerts table beside the chart shows."""
    since, until = _time(series["since"]), _time(series["until"])
    rows = []
    for e in series.get("episodes") or []:
        start = max(_time(e["starts_at"]), since)
        end = min(_time(e["ends_at"]), until) if e.get("ends_at") else until
        rows.append({"start": start, "end": end, "severity": e["severity"], "source": "recorded"})
    recorded = {r["severity"] for r in rows}
    points = _points(series)
    run: dict[str, Any] | None = None
    for i, p in enumerate(points):
        firing = p.get("firing")
        if run is not None and firing != run["severity"]:
            run["end"] = _time(p["t"])
            rows.append(run)
            run = None
        if firing and run is None and firing not in recorded:
            run = {"start": _time(p["t"]), "end": None, "severity": firing, "source": "computed"}
        if run is not None and i == len(points) - 1:
            # A run still firing at the last point is shaded for one step past it: ending at its
            # own start it would have no width and nothing would show.
            step = _time(p["t"]) - _time(points[i - 1]["t"]) if i else pd.Timedelta(minutes=1)
            end = min(_time(p["t"]) + step, until)
            run["end"] = end if end > run["start"] else run["start"] + step
            began = [_time(a["starts_at"]) for a in alerts if a.get("severity") == run["severity"]]
            if began and since <= min(began) <= run["start"]:
                run["start"] = min(began)
            rows.append(run)
    return _frame(rows, ["start", "end", "severity", "source"])


def episodes_caption(series: Mapping[str, Any], alerts: Sequence[Mapping[str, Any]] = ()) -> str:
    """One line naming the shaded episodes with their event times, e.g. 'page 10:12 – 11:05 UTC'."""
    eps = episodes_frame(series, alerts)
    if eps.empty:
        return "No alert episodes in this range."
    parts = [f"{r.severity} {r.start:%Y-%m-%d %H:%M} – {r.end:%H:%M} UTC"
             + (" (still firing)" if r.source == "recorded" and r.end == _time(series["until"]) else "")
             + (" (computed)" if r.source == "computed" else "")
             for r in eps.itertuples()]
    return "Alert episodes (shaded): " + "; ".join(parts) + "."


SPAN = "maintenance span"  # a row of `annotations_frame` that is shaded, not drawn as a rule


def annotations_frame(annotations: Sequence[Mapping[str, Any]], since: Any = None, until: Any = None
                      ) -> pd.DataFrame:
    """t, kind, text, start, end, key: rollout registrations, rollbacks, silences and maintenance
    windows (those with an end also end). Given the charts' range, only the marks inside
    [since, until] are kept: the API returns markers that overlap the range (a silence that
    began before it, its end after it), and a rule outside the range would widen the shared time
    axis and squash the data. A maintenance window also gives one `SPAN` row, `start`..`end`
    clipped to the range and keyed by the window's id, so one that began before the range or is
    still running is shaded over the part of it the chart shows."""
    lo, hi = (_time(since) if since is not None else None), (_time(until) if until is not None else None)
    rows = []
    for a in annotations or []:
        rows.append({"t": _time(a["t"]), "kind": a["kind"], "text": a.get("text", "")})
        if a.get("end"):
            rows.append({"t": _time(a["end"]), "kind": f"{a['kind']} end", "text": a.get("text", "")})
    rows = [r for r in rows if (lo is None or r["t"] >= lo) and (hi is None or r["t"] <= hi)]
    for a in annotations or []:
        if a["kind"] != "maintenance":
            continue
        start = _time(a["t"]) if lo is None else max(_time(a["t"]), lo)
        end = hi if not a.get("end") else (_time(a["end"]) if hi is None else min(_time(a["end"]), hi))
        if end is not None and start < end:
            rows.append({"t": start, "kind": SPAN, "text": a.get("text", ""), "start": start, "end": end,
                         "key": a.get("target") or a.get("text", "")})
    return _frame(rows, ["t", "kind", "text", "start", "end", "key"])


LATENCY_QUANTILES = {"p50": "final_p50_ms", "p95": "final_p95_ms", "p99": "final_p99_ms"}


def latency_series_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """t, quantile (p50/p95/p99), ms: final latency per bucket (ungrouped step answer)."""
    out = [{"t": _time(r["t"]), "quantile": q, "ms": r.get(key)}
           for r in rows for q, key in LATENCY_QUANTILES.items() if r.get(key) is not None]
    return _frame(out, ["t", "quantile", "ms"])


def throughput_series_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """t, pool, sessions_per_s, queue_ms_mean, concurrent_streams_mean: load and delay per pool
    per bucket (`/api/v1/throughput?group_by=pool&step=`)."""
    out = [{"t": _time(r["t"]), "pool": r["pool"], "sessions_per_s": r.get("sessions_per_s"),
            "queue_ms_mean": r.get("queue_ms_mean"), "concurrent_streams_mean": r.get("concurrent_streams_mean")}
           for r in rows if r.get("sessions")]
    return _frame(out, ["t", "pool", "sessions_per_s", "queue_ms_mean", "concurrent_streams_mean"])


OUTCOME_RATES = {"decode failures": "decode_error", "partials": "partial"}


def outcome_series_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """t, outcome, rate, count, sessions: decode failures and partials per bucket."""
    out = [{"t": _time(r["t"]), "outcome": name, "rate": (r.get(key) or 0) / r["sessions"],
            "count": r.get(key) or 0, "sessions": r["sessions"]}
           for r in rows if r.get("sessions") for name, key in OUTCOME_RATES.items()]
    return _frame(out, ["t", "outcome", "rate", "count", "sessions"])


def by_group_series_frame(rows: Sequence[Mapping[str, Any]], dim: str, value: str) -> pd.DataFrame:
    """t, <dim>, <value>: one line per group (e.g. cost_usd per model_version, wer per version)."""
    out = [{"t": _time(r["t"]), dim: r.get(dim), value: r.get(value)} for r in rows if r.get(value) is not None]
    return _frame(out, ["t", dim, value])


# The cost drivers `/api/v1/cost` reports (its `top_drivers`), named for a legend.
DRIVER_LABELS = {"retries_per_session": "retries per session", "shadow_fraction": "shadow traffic share",
                 "gpu_seconds_per_audio_second": "GPU-s per audio-s"}


def driver_series_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """t, driver, value: each cost driver's ratio per bucket."""
    out = [{"t": _time(r["t"]), "driver": label, "value": r.get(d)}
           for r in rows for d, label in DRIVER_LABELS.items() if r.get(d) is not None]
    return _frame(out, ["t", "driver", "value"])


def _burn(value: Any) -> float | None:
    try:
        burn = None if value is None else float(value)
    except (TypeError, ValueError):
        return None
    return burn if burn is not None and burn == burn else None  # NaN: no events


def group_alerts(slos: Mapping[str, Any], slo: str, labels: Mapping[str, str]) -> list[Mapping[str, Any]]:
    """The alerts firing for one SLO group in a `/api/v1/slos` answer."""
    for s in slos.get("slos") or []:
        if s.get("name") == slo:
            for g in s.get("groups") or []:
                if g.get("group") == dict(labels):
                    return list(g.get("alerts") or [])
    return []


def group_choices(slos: Mapping[str, Any], window: str = "1h") -> dict[str, tuple[str, dict[str, str]]]:
    """'slo · k=v,...' -> (slo, group labels) for every SLO group of `/api/v1/slos`, hottest first:
    by the burn over `window` (the page tier's long window, as on-call judges "burning now"),
    highest first, groups without events last, ties in the API's order."""
    ranked = []
    for slo in slos.get("slos", []):
        for g in slo.get("groups", []):
            labels = {str(k): str(v) for k, v in (g.get("group") or {}).items()}
            label = f"{slo['name']} · " + (",".join(f"{k}={v}" for k, v in labels.items()) or "all")
            ranked.append((_burn((g.get("burn_rates") or {}).get(window)), len(ranked), label, slo["name"], labels))
    ranked.sort(key=lambda r: (r[0] is None, -(r[0] or 0.0), r[1]))
    return {label: (name, labels) for _, _, label, name, labels in ranked}
