"""The engine's numbers against an independent brute-force computation over raw events."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from slo_dense_reference import build_series

from collector.measures import histogram
from slo.evaluation import evaluate_slo, series_span
from slo.spec import parse_slo

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
BASE_TIERS = [("page", 60, 5, 14.4), ("page", 360, 30, 6.0), ("ticket", 1440, 120, 3.0), ("ticket", 4320, 360, 1.0)]


class Brute:
    """Straight from the definitions, over raw (ts, group, bad) events; no prefix sums."""

    def __init__(self, ts: np.ndarray, group: np.ndarray, bad: np.ndarray, objective: float,
                 window_min: int, min_events: int):
        self.ts, self.group, self.bad = ts, group, bad
        self.objective, self.window_min, self.min_events = objective, window_min, min_events
        scale = window_min / (30 * 1440)
        self.tiers = [(sev, max(1, math.floor(lw * scale + 0.5)), max(1, math.floor(sw * scale + 0.5)), f)
                      for sev, lw, sw, f in BASE_TIERS]

    def counts(self, g: str, end: datetime, minutes: int) -> tuple[int, int]:
        lo = end - timedelta(minutes=minutes)
        mask = (self.group == g) & (self.ts >= np.datetime64(lo.replace(tzinfo=None))) & \
            (self.ts < np.datetime64(end.replace(tzinfo=None)))
        return int(self.bad[mask].sum()), int(mask.sum())

    def burn(self, g: str, end: datetime, minutes: int) -> float | None:
        bad, total = self.counts(g, end, minutes)
        return None if total == 0 else (bad / total) / (1 - self.objective)

    def budget(self, g: str, end: datetime) -> float:
        bad, total = self.counts(g, end, self.window_min)
        return 1.0 if total == 0 else 1 - (bad / total) / (1 - self.objective)

    def severity(self, g: str, end: datetime) -> tuple[str | None, bool]:
        page = ticket = low_page = False
        for sev, lw, sw, factor in self.tiers:
            bl, tl = self.counts(g, end, lw)
            bs, ts_ = self.counts(g, end, sw)
            limit = factor * (1 - self.objective)
            hot = tl > 0 and ts_ > 0 and bl / tl > limit and bs / ts_ > limit
            if not hot:
                continue
            if tl >= self.min_events:
                page |= sev == "page"
                ticket |= sev == "ticket"
            elif sev == "page":
                low_page = True
        if page:
            return "page", False
        if ticket or low_page:
            return "ticket", low_page and not ticket
        return None, False

    def starts_at(self, g: str, end: datetime, severity: str) -> datetime:
        start = end
        for k in range(1, self.window_min + 1):
            t = end - timedelta(minutes=k)
            if self.severity(g, t)[0] != severity:
                break
            start = t
        return start


def _rows(ts, group, bad, extra=None):
    """Rollup rows for availability: one per (minute, group)."""
    agg: dict[tuple, list[int]] = {}
    for t, g, b in zip(ts, group, bad):
        minute = datetime.fromisoformat(str(t.astype("datetime64[m]"))).replace(tzinfo=timezone.utc)
        cell = agg.setdefault((minute, str(g)), [0, 0])
        cell[0] += 1
        cell[1] += int(b)
    return [{"minute": m, "region": g, "model_version": "m", "channel": "web", "tenant": "t",
             "language": "en", "pool": "p", "sessions": n, "status_ok": n - b} for (m, g), (n, b) in agg.items()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 400),
    span_min=st.sampled_from([15, 60, 240, 600]),
    at_frac=st.floats(0, 1.1),
    window=st.sampled_from(["6h", "12h", "1d", "150m"]),
    objective=st.sampled_from([0.9, 0.95, 0.99]),
    min_events=st.sampled_from([0, 3, 20]),
    p_bad=st.sampled_from([0.0, 0.02, 0.1, 0.3, 0.7]),
)
def test_engine_matches_brute_force(seed, n, span_min, at_frac, window, objective, min_events, p_bad):
    rng = np.random.default_rng(seed)
    # Events over a span of 15 minutes to 10 hours, failures in bursts, `at` anywhere in it
    # or just after.
    offsets = np.sort(rng.integers(0, span_min * 60, n))
    ts = np.datetime64(T0.replace(tzinfo=None), "s") + offsets.astype("timedelta64[s]")
    group = rng.choice(np.array(["eu", "us"], dtype=object), n)
    burst = np.sin(offsets / 600.0 + rng.random() * 6) > 0.3
    bad = rng.random(n) < np.where(burst, p_bad, p_bad / 10)
    at_s = int(at_frac * span_min * 60)
    spec = parse_slo({"name": "s", "sli": "availability", "objective": objective, "window": window,
                      "group_by": ["region"]})
    at = T0 + timedelta(seconds=at_s, milliseconds=250)
    end = at.replace(second=0, microsecond=0)
    series = build_series(spec, _rows(ts, group, bad), end - series_span(spec), end)
    statuses = {s.labels["region"]: s for s in evaluate_slo(spec, series, at, min_events=min_events)}
    brute = Brute(ts, group, bad, objective, spec.window_minutes, min_events)
    for g in ("eu", "us"):
        b_total = brute.counts(g, end, spec.window_minutes)[1]
        if b_total == 0:
            assert g not in statuses or statuses[g].events == 0
            continue
        s = statuses[g]
        assert s.events == b_total
        assert math.isclose(s.error_budget_remaining, brute.budget(g, end), rel_tol=1e-12, abs_tol=1e-12)
        for name, minutes in {"5m": 5, "30m": 30, "1h": 60, "2h": 120, "6h": 360, "1d": 1440, "3d": 4320}.items():
            expected = brute.burn(g, end, minutes)
            got = s.burn_rates[name]
            assert (got is None) == (expected is None)
            if expected is not None:
                assert math.isclose(got, expected, rel_tol=1e-12)
        severity, low = brute.severity(g, end)
        event(f"alert={severity} low_traffic={low}")
        assert [a.severity for a in s.alerts] == ([severity] if severity else [])
        if severity:
            alert = s.alerts[0]
            assert alert.starts_at == brute.starts_at(g, end, severity)
            assert (alert.annotations.get("low_traffic") == "true") == low
            assert alert.labels == {"alertname": "SLOErrorBudgetBurn", "slo": "s", "severity": severity,
                                    "region": g}


def test_latency_quality_decode_rows_match_raw_counts():
    rng = np.random.default_rng(7)
    minute = T0
    lat = rng.lognormal(7, 0.6, 500)
    lat[:20] = 2000.0  # exactly at the threshold: good
    lat[20:30] = 2000.5  # just over: bad
    hist: dict[int, int] = {}
    for v in lat:
        histogram.add(hist, float(v))
    errors = rng.integers(0, 6, 300)
    ref_words = rng.integers(0, 25, 300)
    pairs: dict[str, int] = {}
    for e, r in zip(errors, ref_words):
        pairs[f"{e}:{r}"] = pairs.get(f"{e}:{r}", 0) + 1
    row = {"minute": minute, "region": "eu", "model_version": "m", "channel": "web", "tenant": "t",
           "language": "en", "pool": "p", "sessions": 40, "status_ok": 30, "status_decode_error": 6,
           "empty_hypotheses": 3, "latency_hist": histogram.to_json(hist), "wer_pairs": pairs}
    end = minute + timedelta(minutes=1)

    def one(raw):
        spec = parse_slo({"name": "x", "objective": 0.9, "window": "1h", **raw})
        s = build_series(spec, [row], minute, end)
        return int(s.good.sum()), int(s.total.sum())

    assert one({"sli": "latency", "threshold_ms": 2000}) == (int((lat <= 2000).sum()), 500)
    wer = np.where(ref_words == 0, np.where(errors == 0, 0.0, 1.0), errors / np.maximum(ref_words, 1))
    assert one({"sli": "quality", "max_wer": 0.15}) == (int((wer <= 0.15).sum()), 300)
    assert one({"sli": "quality", "max_wer": 1.0}) == (int((wer <= 1.0).sum()), 300)
    assert one({"sli": "decode_errors"}) == (40 - 9, 40)
    assert one({"sli": "availability"}) == (30, 40)
    # Rows outside the filters do not count.
    assert one({"sli": "availability", "filters": {"channel": "telephony"}}) == (0, 0)
