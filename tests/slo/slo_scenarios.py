"""Shared test scenarios: per-minute event counts with real incidents, as rollup rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from collector.measures import histogram

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # promtool's time zero
GOOD_MS, BAD_MS = 450.0, 3100.0


def incident_counts(minutes: int, groups: list[str], seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """group -> (total, bad) per minute: steady traffic with a sharp outage, a slow burn and a
    quiet stretch with a couple of failures (the low-traffic guard's case)."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, group in enumerate(groups):
        rate = np.full(minutes, 40.0)
        p_bad = np.full(minutes, 0.002)
        t = np.arange(minutes)
        if i % 3 == 0:  # sharp outage: pages
            at = int(0.3 * minutes) + 20 * i
            p_bad[(t >= at) & (t < at + 15)] = 0.5
        if i % 3 == 1:  # slow burn: tickets
            p_bad[(t >= int(0.4 * minutes)) & (t < int(0.8 * minutes))] = 0.05
        if i % 3 == 2:  # quiet hours with a failure now and then: low-traffic tickets, no page
            quiet = (t >= int(0.55 * minutes)) & (t < int(0.85 * minutes))
            rate[quiet] = 0.4
            p_bad[quiet] = 0.15
        total = rng.poisson(rate)
        bad = rng.binomial(total, p_bad)
        out[group] = (total, bad)
    return out


def rollup_rows(counts: dict[str, tuple[np.ndarray, np.ndarray]], dim: str, sli: str,
                start: datetime = EPOCH, extra: dict[str, str] | None = None) -> list[dict]:
    """Rollup-like rows (the columns sli_source reads) for per-minute (total, bad) counts."""
    rows = []
    for group, (total, bad) in counts.items():
        for m in np.flatnonzero(total):
            n, b = int(total[m]), int(bad[m])
            row = {"minute": start + timedelta(minutes=int(m)), "model_version": "m1", "region": "r1",
                   "channel": "web", "tenant": "t", "language": "en", "pool": "default", **(extra or {}),
                   dim: group, "sessions": n, "status_ok": n - b, "status_decode_error": 0,
                   "empty_hypotheses": 0, "latency_hist": {}, "wer_pairs": {}}
            if sli == "decode_errors":
                row["status_decode_error"] = b // 2
                row["empty_hypotheses"] = b - b // 2
            if sli == "latency":
                hist: dict[int, int] = {}
                histogram.add(hist, GOOD_MS, n - b)
                histogram.add(hist, BAD_MS, b)
                row["latency_hist"] = histogram.to_json({k: v for k, v in hist.items() if v})
            if sli == "quality":
                row["wer_pairs"] = {k: v for k, v in {"1:20": n - b, "9:20": b}.items() if v}
            if sli == "entity_recall":  # n entity occurrences, b of them missed
                row["entity_occurrences"], row["entities_found"] = n, n - b
            if sli == "diarization":  # n diarized sessions, b of them over max_der (0.2)
                row["diar_pairs"] = {k: v for k, v in {"1000:20000": n - b, "9000:20000": b}.items() if v}
            if sli == "hallucination":  # n sessions checked, b of them flagged
                row["hallucination_checked"], row["hallucination_flagged"] = n, b
            if sli == "cache_hit":  # n cache lookups, b of them misses
                row["cache_lookups"], row["cache_hits"] = n, n - b
            if sli == "fallback":  # n sessions naming their backend, b of them served by the API
                row["backend_sessions"], row["fallback_sessions"] = n, b
            rows.append(row)
    return rows
