"""SLO engine benchmark: 50 SLOs x 20 groups over 30 days of per-minute rollups, against a
naive scan of the raw sessions for the same answer, side by side in one run.

    python bench/slo.py [--rate 1.5] [--repeat 3]

Prints the time to build the per-minute series (rollups -> good/total + prefix sums), the
time to evaluate every SLO and group as of `at` (burn rates for 5m..3d, budget, exhaustion,
which Workbook alerts fire), the same plus each firing alert's starts_at (a replay of its
run, which the naive scan does not attempt), the naive scan's time over raw sessions, and
the ratios, in wall and CPU time (CPU time because other jobs share this 2-core machine).
Both must give the same numbers and the same firing alerts; the run exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector import histogram  # noqa: E402
from slo.alerting import policy  # noqa: E402
from slo.burn_rate import REPORT_WINDOWS  # noqa: E402
from slo.evaluation import evaluate_slo, series_span  # noqa: E402
from slo.series import SLISeries  # noqa: E402
from slo.spec import SLOSpec, parse_slos  # noqa: E402

AT = datetime(2026, 11, 1, 9, 30, 20, tzinfo=timezone.utc)
REGIONS = ["eu-west", "us-east", "us-west", "ap-south"]
MODELS = ["v1", "v2", "v3", "v4", "v5"]
MIN_EVENTS = 20


def make_specs() -> list[SLOSpec]:
    kinds = (
        [{"sli": "availability", "objective": o} for o in (0.99, 0.995, 0.999)]
        + [{"sli": "latency", "threshold_ms": t, "objective": 0.99} for t in (800, 1000, 1500, 2000, 3000)]
        + [{"sli": "first_partial_latency", "threshold_ms": t, "objective": 0.95} for t in (200, 300, 500)]
        + [{"sli": "queue_latency", "threshold_ms": t, "objective": 0.99} for t in (50, 100, 250)]
        + [{"sli": "decode_errors", "objective": o} for o in (0.99, 0.995)]
        + [{"sli": "quality", "max_wer": w, "objective": 0.9} for w in (0.1, 0.15, 0.2)]
    )
    windows = ["30d", "30d", "28d", "7d"]
    return parse_slos([
        {"name": f"slo-{i:02d}", "window": windows[i % len(windows)], "group_by": ["region", "model_version"],
         **kinds[i % len(kinds)]}
        for i in range(50)
    ])


class RawSessions:
    """Columnar raw sessions (what a scan of the sessions table would read)."""

    def __init__(self, rate: float, minutes: int, start: datetime, seed: int = 11):
        rng = np.random.default_rng(seed)
        groups = len(REGIONS) * len(MODELS)
        per = rng.poisson(rate, (groups, minutes))
        n = int(per.sum())
        self.group = np.repeat(np.tile(np.arange(groups), 1), per.sum(axis=1)).astype(np.int64)
        minute = np.concatenate([np.repeat(np.arange(minutes), per[g]) for g in range(groups)])
        self.ts = minute * 60 + rng.integers(0, 60, n)  # seconds since start
        self.start = start
        # Incidents in the last hours so that pages and tickets fire.
        age_min = minutes - minute
        hot = np.zeros(n, dtype=bool)
        hot |= (self.group % 7 == 0) & (age_min <= 45)  # fast burn
        hot |= (self.group % 5 == 1) & (age_min <= 26 * 60)  # slow burn
        p_bad = np.where(hot, np.where(self.group % 7 == 0, 0.4, 0.04), 0.002)
        failed = rng.random(n) < p_bad
        self.status = np.where(failed, np.where(rng.random(n) < 0.5, 2, 3), 0)  # 0 ok, 2 decode_error, 3 timeout
        self.empty = (self.status == 0) & (rng.random(n) < 0.001)
        slow = np.where(hot, 3.0, 1.0)
        self.latency = np.round(rng.lognormal(6.2, 0.45, n) * slow)
        self.first_partial = np.round(rng.lognormal(5.0, 0.5, n) * slow)
        self.queue = np.round(rng.lognormal(2.5, 0.9, n) * slow)
        self.labeled = rng.random(n) < 0.2
        self.ref_words = rng.integers(1, 30, n)
        self.errors = rng.binomial(self.ref_words, np.where(hot, 0.3, 0.05))

    def good(self, spec: SLOSpec) -> tuple[np.ndarray, np.ndarray]:
        """Per session: (judged by this SLI, good)."""
        every = np.ones(len(self.ts), dtype=bool)
        if spec.sli == "availability":
            return every, self.status == 0
        if spec.sli == "decode_errors":
            return every, ~((self.status == 2) | self.empty)
        if spec.sli == "quality":
            return self.labeled, self.errors / self.ref_words <= spec.max_wer
        values = {"latency": self.latency, "first_partial_latency": self.first_partial,
                  "queue_latency": self.queue}[spec.sli]
        return every, values <= spec.threshold_ms


class Rollups:
    """Per-minute x group rollups as the collector keeps them: counters, sparse histograms
    (bucket code -> count) and WER pairs, in columnar form."""

    def __init__(self, raw: RawSessions, minutes: int):
        groups = len(REGIONS) * len(MODELS)
        self.shape = (groups, minutes)
        cell = raw.group * minutes + raw.ts // 60
        count = lambda mask: np.bincount(cell[mask], minlength=groups * minutes).reshape(self.shape)  # noqa: E731
        self.sessions = count(np.ones(len(cell), dtype=bool))
        self.status_ok = count(raw.status == 0)
        self.decode = count(raw.status == 2)
        self.empty = count(raw.empty)
        self.hists = {name: self._hist(cell, values) for name, values in (
            ("latency", raw.latency), ("first_partial_latency", raw.first_partial), ("queue_latency", raw.queue))}
        pair = raw.errors * 1000 + raw.ref_words
        keys, inverse = np.unique(pair[raw.labeled], return_inverse=True)
        self.wer_pairs = self._coo(cell[raw.labeled], inverse, keys)

    def _hist(self, cell: np.ndarray, values: np.ndarray):
        uniq, inverse = np.unique(values, return_inverse=True)
        codes = np.array([histogram.bucket_code(float(v)) for v in uniq])
        return self._coo(cell, inverse, codes)

    @staticmethod
    def _coo(cell: np.ndarray, inverse: np.ndarray, labels: np.ndarray):
        packed = cell.astype(np.int64) * len(labels) + inverse
        uniq, counts = np.unique(packed, return_counts=True)
        return uniq // len(labels), labels[uniq % len(labels)], counts

    def series(self, spec: SLOSpec, start: datetime) -> SLISeries:
        """good/total per group and minute for one SLO (the columnar twin of sli_source)."""
        if spec.sli == "availability":
            good, total = self.status_ok, self.sessions
        elif spec.sli == "decode_errors":
            total = self.sessions
            good = total - np.minimum(total, self.decode + self.empty)
        else:
            if spec.sli == "quality":
                cell, key, counts = self.wer_pairs
                errors, ref = key // 1000, key % 1000
                wer = np.where(ref == 0, np.where(errors == 0, 0.0, 1.0), errors / np.maximum(ref, 1))
                ok = wer <= spec.max_wer
            else:
                cell, code, counts = self.hists[spec.sli]
                limit = histogram.bucket_code(spec.threshold_ms)
                if histogram.upper_edge(limit) > spec.threshold_ms * (1 + 1e-12):
                    limit -= 1
                ok = code <= limit
            size = self.shape[0] * self.shape[1]
            total = np.bincount(cell, counts, minlength=size).reshape(self.shape).astype(np.int64)
            good = np.bincount(cell[ok], counts[ok], minlength=size).reshape(self.shape).astype(np.int64)
        groups = tuple((r, m) for r in REGIONS for m in MODELS)
        span = int(series_span(spec) / timedelta(minutes=1))
        return SLISeries(start + timedelta(minutes=self.shape[1] - span), spec.group_by, groups,
                         good[:, -span:], total[:, -span:])


def naive(raw: RawSessions, specs: list[SLOSpec], minutes: int) -> dict:
    """Scan the raw sessions once per SLO and window: counts, burn rates, budget, alerts."""
    out = {}
    end_s = minutes * 60
    groups = len(REGIONS) * len(MODELS)
    for spec in specs:
        judged, good = raw.good(spec)
        needed = {**{k: v for k, v in REPORT_WINDOWS.items()}, "window": spec.window_minutes}
        for t in policy(spec.window):
            needed[f"L{t.long_minutes}"] = t.long_minutes
            needed[f"S{t.short_minutes}"] = t.short_minutes
        counts = {}
        for name, w in needed.items():
            mask = judged & (raw.ts >= end_s - w * 60) & (raw.ts < end_s)
            tot = np.bincount(raw.group[mask], minlength=groups)
            bad = np.bincount(raw.group[mask & ~good], minlength=groups)
            counts[name] = (bad, tot)
        for g in range(groups):
            def ratio(name):
                bad, tot = counts[name]
                return None if tot[g] == 0 else bad[g] / tot[g]
            burns = {k: (None if ratio(k) is None else ratio(k) / (1 - spec.objective)) for k in REPORT_WINDOWS}
            r = ratio("window")
            budget = 1.0 if r is None else 1 - r / (1 - spec.objective)
            page = ticket = low = False
            for t in policy(spec.window):
                rl, rs = ratio(f"L{t.long_minutes}"), ratio(f"S{t.short_minutes}")
                limit = t.factor * (1 - spec.objective)
                if rl is None or rs is None or not (rl > limit and rs > limit):
                    continue
                if counts[f"L{t.long_minutes}"][1][g] >= MIN_EVENTS:
                    page |= t.severity == "page"
                    ticket |= t.severity == "ticket"
                else:
                    low |= t.severity == "page"
            alerts = ["page"] if page else (["ticket"] if ticket or low else [])
            out[(spec.name, g)] = (int(counts["window"][1][g]), burns, budget, alerts)
    return out


def engine(series: dict[str, SLISeries], specs: list[SLOSpec], with_starts: bool = True) -> dict:
    out = {}
    for spec in specs:
        statuses = evaluate_slo(spec, series[spec.name], AT, min_events=MIN_EVENTS, with_starts=with_starts)
        for g, status in enumerate(statuses):
            out[(spec.name, g)] = (status.events, status.burn_rates, status.error_budget_remaining,
                                   [a.severity for a in status.alerts])
    return out


def same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key in a:
        ev1, burns1, budget1, alerts1 = a[key]
        ev2, burns2, budget2, alerts2 = b[key]
        if ev1 != ev2 or alerts1 != alerts2 or not np.isclose(budget1, budget2, rtol=1e-9):
            return False
        for w in burns1:
            if (burns1[w] is None) != (burns2[w] is None):
                return False
            if burns1[w] is not None and not np.isclose(burns1[w], burns2[w], rtol=1e-9):
                return False
    return True


def best_of(repeat: int, fn):
    """(best wall seconds, best CPU seconds of this process, result). CPU time is shown too
    because other jobs on a shared 2-core machine inflate wall time."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1.5, help="sessions per minute per group")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here (for `python -m bench`)")
    args = parser.parse_args()
    specs = make_specs()
    minutes = max(int(series_span(s) / timedelta(minutes=1)) for s in specs)  # 30d + 3d of history
    start = AT.replace(second=0, microsecond=0) - timedelta(minutes=minutes)
    with tqdm(total=2, desc="generating sessions and rollups", file=sys.stderr) as bar:
        raw = RawSessions(args.rate, minutes, start)
        bar.update()
        rollups = Rollups(raw, minutes)
        bar.update()
    print(f"{len(specs)} SLOs x {len(REGIONS) * len(MODELS)} groups, {minutes} minutes "
          f"({minutes / 1440:.0f} days) of rollups, {len(raw.ts):,} raw sessions")

    b_wall, b_cpu, series = best_of(args.repeat, lambda: {s.name: rollups.series(s, start) for s in specs})
    e_wall, e_cpu, fast = best_of(args.repeat, lambda: engine(series, specs, with_starts=False))
    s_wall, s_cpu, full = best_of(args.repeat, lambda: engine(series, specs, with_starts=True))
    n_wall, n_cpu, slow = best_of(max(1, args.repeat // 2), lambda: naive(raw, specs, minutes))
    firing = sum(len(v[3]) for v in fast.values())
    agree = same(fast, slow) and same(full, slow)
    print(f"same answer (events, burn rates, budgets, alerts): {'yes' if agree else 'NO'}; {firing} alerts firing")
    print(f"{'':62s}{'wall ms':>10s}{'cpu ms':>10s}")
    rows = [
        ("build series from rollups (good/total + prefix sums)", b_wall, b_cpu),
        ("evaluate 50 SLOs x 20 groups as of at (same work as scan)", e_wall, e_cpu),
        ("  ... plus starts_at of every firing alert (run replay)", s_wall, s_cpu),
        ("naive scan of raw sessions (no starts_at)", n_wall, n_cpu),
    ]
    for label, wall, cpu in rows:
        print(f"{label:62s}{wall * 1e3:10.1f}{cpu * 1e3:10.1f}")
    print(f"ratio naive / evaluate:                 {n_wall / e_wall:7.1f}x wall {n_cpu / e_cpu:7.1f}x cpu"
          "   (goal >= 50x, evaluate < 250 ms)")
    print(f"ratio naive / evaluate with starts_at:  {n_wall / s_wall:7.1f}x wall {n_cpu / s_cpu:7.1f}x cpu")
    print(f"ratio naive / (build + evaluate):       {n_wall / (b_wall + e_wall):7.1f}x wall "
          f"{n_cpu / (b_cpu + e_cpu):7.1f}x cpu")
    if args.json:
        args.json.write_text(json.dumps({
            "evaluate_ms": e_wall * 1e3, "evaluate_cpu_ms": e_cpu * 1e3, "with_starts_ms": s_wall * 1e3,
            "naive_ms": n_wall * 1e3, "naive_cpu_ms": n_cpu * 1e3, "ratio": n_wall / e_wall,
            "ratio_cpu": n_cpu / e_cpu, "same_answer": agree}))
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
