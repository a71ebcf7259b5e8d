"""SLO evaluation from the database at fleet scale, against one raw SQL aggregation per SLO over
the stored sessions computing the same burn rates, side by side in one run.

    python bench/slo.py [--slos 50] [--groups 200] [--sessions 300000] [--days 30]
                        [--thresholds 10] [--rounds 3] [--db PATH] [--json OUT]

Fills a SQLite store as the collector does (sessions and minute rollups through its ingest
functions, hourly rollups by `collector.store.compaction`), with latency SLOs grouped by
model_version x region x channel. `--thresholds` distinct latency thresholds are shared out among
the SLOs (with several objectives and 30d/28d/7d windows), as a fleet's SLOs share SLIs.

- asrwatch: `slo.snapshot.slo_statuses(engine, settings, at, cache)`, the production path (read
  rollups, build the series, burn rates, budget, alert tiers with starts_at), cold (the first call
  of a fresh process, empty cache) and warm (the next calls, as the evaluator every 15 s).
- baseline: per SLO one SQL aggregation over `sessions` (per group, for every report window, the
  SLO window and the tiers' windows: events and bad events), then the same burn rates, budget
  and alert tiers in Python (no starts_at: it does less than asrwatch).

Each side runs in its own process per round (rounds alternate which goes first), so each reports
its own peak RSS. Prints min/median/max per side, the ratios, the load average, and whether the
two agree on every events count, burn rate, budget and firing severity (exit 1 if not).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from spread import spread  # noqa: E402  (bench/spread.py)

from slo.alerting import policy  # noqa: E402
from slo.burn_rate import REPORT_WINDOWS  # noqa: E402
from slo.spec import parse_slos  # noqa: E402

AT = datetime(2026, 11, 1, 9, 30, 20, tzinfo=timezone.utc)
CHANNELS = ["web", "mobile", "telephony", "far_field"]
REGIONS = ["eu-west", "us-east", "us-west", "ap-south", "sa-east"]
DIMS = ["model_version", "region", "channel"]
MIN_EVENTS = 10
WINDOWS, OBJECTIVES = ["30d", "30d", "28d", "7d"], [0.99, 0.995, 0.95]


def slo_configs(n: int, thresholds: int) -> list[dict]:
    values = [500 + 250 * k for k in range(thresholds)]
    return [{"name": f"latency-{i:03d}", "sli": "latency", "threshold_ms": values[i % thresholds],
             "objective": OBJECTIVES[i % len(OBJECTIVES)], "window": WINDOWS[i % len(WINDOWS)], "group_by": DIMS}
            for i in range(n)]


def slices(groups: int) -> list[tuple[str, str, str]]:
    models = [f"m{k:02d}" for k in range(max(1, groups // (len(REGIONS) * len(CHANNELS))))]
    return [(m, r, c) for m in models for r in REGIONS for c in CHANNELS]


def fill(db: Path, sessions: int, days: int, groups: int) -> None:
    """Sessions as the collector stores them, with incidents: fast burns in the last hour, slow
    burns over a day, and a few slices slow for weeks (their tickets began long ago)."""
    from collector.store.compaction import compact
    from collector.store.database import make_engine, migrate
    from collector.store.ingest import store_sessions
    from collector.store.schemas import SessionIn

    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    rng = np.random.default_rng(7)
    keys = slices(groups)
    end = AT.replace(second=0, microsecond=0)
    age_s = rng.uniform(0, days * 86400, sessions)
    group = rng.integers(0, len(keys), sessions)
    age_min = age_s / 60
    slow = np.ones(sessions)
    slow[(group % 37 == 0) & (age_min < 50)] = 4.0
    slow[(group % 23 == 1) & (age_min < 26 * 60)] = 1.8
    slow[group % 97 == 5] = 1.6
    latency = np.rint(rng.lognormal(6.5, 0.45, sessions) * slow)
    with tqdm(total=sessions, unit="session", desc="fill store", file=sys.stderr) as bar:
        for lo in range(0, sessions, 20_000):
            batch = []
            for i in range(lo, min(lo + 20_000, sessions)):
                m, r, c = keys[group[i]]
                batch.append(SessionIn.model_validate({
                    "session_id": f"s{i}", "ts": (end - timedelta(seconds=float(age_s[i]))).isoformat(),
                    "model_version": m, "region": r, "channel": c, "status": "ok",
                    "final_latency_ms": float(latency[i])}))
            store_sessions(engine, batch, AT)
            bar.update(len(batch))
    with tqdm(total=days * 24, unit="hour", desc="compact rollups", file=sys.stderr) as bar:
        compact(engine, AT, progress=lambda through, target: bar.update(1))
    engine.dispose()


def settings_for(configs: list[dict]) -> SimpleNamespace:
    return SimpleNamespace(slos=configs, slo_min_events=MIN_EVENTS, runbook_base="/runbooks", slo_min_bad_events=0)


def asrwatch_side(db: Path, configs: list[dict], warm_calls: int) -> dict:
    from collector.store.database import make_engine
    from slo.series_cache import SeriesCache
    from slo.snapshot import slo_statuses

    engine = make_engine(f"sqlite:///{db}")
    settings, cache = settings_for(configs), SeriesCache()
    t0 = time.perf_counter()
    statuses = slo_statuses(engine, settings, AT, cache)
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(warm_calls):
        t0 = time.perf_counter()
        statuses = slo_statuses(engine, settings, AT, cache)
        warm.append(time.perf_counter() - t0)
    answer = {f"{s.spec.name}|{'|'.join(g.labels[d] for d in DIMS)}":
              [g.events, g.burn_rates, g.error_budget_remaining, [a.severity for a in g.alerts]]
              for s in statuses for g in s.groups}
    return {"cold_s": cold, "warm_s": warm, "answer": answer}


def baseline_side(db: Path, configs: list[dict]) -> dict:
    """One aggregation per SLO over the raw sessions, then the same arithmetic in Python."""
    from sqlalchemy import and_, case, func, select

    from collector.store.database import make_engine, read_connection
    from collector.store.models import Session

    engine = make_engine(f"sqlite:///{db}")
    end = AT.replace(second=0, microsecond=0)
    t0 = time.perf_counter()
    answer = {}
    with read_connection(engine) as conn:
        for spec in parse_slos(configs):
            tiers = policy(spec.window)
            windows = sorted({*REPORT_WINDOWS.values(), spec.window_minutes,
                              *(t.long_minutes for t in tiers), *(t.short_minutes for t in tiers)})
            ts, latency = Session.ts, Session.final_latency_ms
            columns = []
            for w in windows:
                inside = ts >= end - timedelta(minutes=w)
                columns += [func.sum(case((inside, 1), else_=0)),
                            func.sum(case((and_(inside, latency > spec.threshold_ms), 1), else_=0))]
            dims = [getattr(Session, d) for d in DIMS]
            query = select(*dims, *columns).where(ts >= end - timedelta(minutes=windows[-1]), ts < end,
                                                  latency.is_not(None)).group_by(*dims)
            for row in conn.execute(query):
                counts = {w: (row[3 + 2 * k], row[4 + 2 * k]) for k, w in enumerate(windows)}
                answer[f"{spec.name}|{'|'.join(row[:3])}"] = judge(spec, tiers, counts)
    return {"time_s": time.perf_counter() - t0, "answer": answer}


def judge(spec, tiers, counts: dict[int, tuple[int, int]]) -> list:
    """Burn rates, budget and which severity fires, from (events, bad) per window."""
    budget = 1.0 - spec.objective

    def ratio(w):
        total, bad = counts[w]
        return None if not total else bad / total

    burns = {name: (None if ratio(w) is None else ratio(w) / budget) for name, w in REPORT_WINDOWS.items()}
    r = ratio(spec.window_minutes)
    remaining = 1.0 if r is None else 1.0 - r / budget
    page = ticket = low = False
    for t in tiers:
        rl, rs = ratio(t.long_minutes), ratio(t.short_minutes)
        limit = t.threshold(spec.objective)
        if rl is None or rs is None or not (rl > limit and rs > limit):
            continue
        if counts[t.long_minutes][0] >= t.min_events(spec.objective, MIN_EVENTS):
            page |= t.severity == "page"
            ticket |= t.severity == "ticket"
        else:
            low |= t.severity == "page"
    alerts = ["page"] if page else (["ticket"] if ticket or low else [])
    return [counts[spec.window_minutes][0], burns, remaining, alerts]


def same(a: dict, b: dict) -> list[str]:
    """Keys where the two answers differ (events, burn rates and budget to 1e-9, severities)."""
    wrong = sorted(a.keys() ^ b.keys())
    for key in a.keys() & b.keys():
        (e1, b1, r1, s1), (e2, b2, r2, s2) = a[key], b[key]
        burns_ok = all((b1[w] is None) == (b2[w] is None) and (b1[w] is None or np.isclose(b1[w], b2[w], rtol=1e-9))
                       for w in REPORT_WINDOWS)
        if e1 != e2 or s1 != s2 or not burns_ok or not np.isclose(r1, r2, rtol=1e-9):
            wrong.append(key)
    return wrong


def child(args: argparse.Namespace) -> None:
    configs = slo_configs(args.slos, args.thresholds)
    out = (asrwatch_side(args.db, configs, args.warm) if args.side == "asrwatch" else baseline_side(args.db, configs))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    args.out.write_text(json.dumps(out))


def run_side(args: argparse.Namespace, side: str, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--side", side, "--db", str(args.db), "--out", str(out), "--slos",
           str(args.slos), "--thresholds", str(args.thresholds), "--warm", str(args.warm)]
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=50)
    parser.add_argument("--groups", type=int, default=200, help="model_version x region x channel slices")
    parser.add_argument("--sessions", type=int, default=300_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--thresholds", type=int, default=10, help="distinct latency thresholds among the SLOs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warm", type=int, default=3, help="warm calls per asrwatch round")
    parser.add_argument("--db", type=Path, help="the store (reused when it exists)")
    parser.add_argument("--json", type=Path, help="also write the figures here (for `python -m bench`)")
    parser.add_argument("--side", choices=["asrwatch", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        return child(args)
    args.thresholds = min(args.thresholds, args.slos)
    args.db = args.db or Path(f"/tmp/asrwatch-bench-slo-{args.groups}g-{args.sessions}s-{args.days}d.db")
    if not args.db.exists():
        fill(args.db, args.sessions, args.days, args.groups)
    work = args.db.with_suffix(".out")
    work.mkdir(exist_ok=True)
    ours: list[dict] = []
    theirs: list[dict] = []
    for r in tqdm(range(args.rounds), desc="rounds (asrwatch and baseline alternate)", file=sys.stderr):
        for side in (["asrwatch", "baseline"] if r % 2 == 0 else ["baseline", "asrwatch"]):
            result = run_side(args, side, work / f"{side}.json")
            (ours if side == "asrwatch" else theirs).append(result)
    load = os.getloadavg()
    wrong = same(ours[-1]["answer"], theirs[-1]["answer"])
    cold, base = spread([o["cold_s"] for o in ours]), spread([t["time_s"] for t in theirs])
    warm = spread([w for o in ours for w in o["warm_s"]])
    rss, base_rss = max(o["peak_rss_mb"] for o in ours), max(t["peak_rss_mb"] for t in theirs)
    firing = sum(len(v[3]) for v in ours[-1]["answer"].values())
    groups = len(ours[-1]["answer"])
    print(f"{args.slos} latency SLOs ({args.thresholds} thresholds) x {args.groups} slices, {args.sessions:,} sessions "
          f"over {args.days} days; {groups:,} SLO x group statuses, {firing} alerts firing; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"same answer (events, burn rates, budgets, severities): {'yes' if not wrong else f'NO ({len(wrong)})'}")
    print(f"{'':52s}{'min s':>9s}{'median s':>10s}{'max s':>9s}{'peak RSS':>11s}")
    for label, s, mb in (("asrwatch slo_statuses, cold (first call)", cold, rss),
                         ("asrwatch slo_statuses, warm (next calls)", warm, rss),
                         ("baseline: one SQL aggregation per SLO, no starts_at", base, base_rss)):
        print(f"{label:52s}{s['min']:9.2f}{s['median']:10.2f}{s['max']:9.2f}{mb:8.0f} MB")
    print(f"the baseline does less: it finds no starts_at (asrwatch replays each of the {firing} firing alerts "
          "back to where it began); the answers compared exclude starts_at")
    ratio_cold, ratio_warm = base["median"] / cold["median"], base["median"] / warm["median"]
    print(f"ratio baseline / asrwatch (medians): cold {ratio_cold:.1f}x, warm {ratio_warm:.1f}x   "
          f"(goal >= 10x, peak RSS < 1 GB at 50 SLOs x 200 groups, < 1.5 GB at 200 x 200)")
    if args.json:
        args.json.write_text(json.dumps({
            "slos": args.slos, "groups": args.groups, "sessions": args.sessions, "days": args.days,
            "thresholds": args.thresholds, "cold_s": cold, "warm_s": warm, "baseline_s": base,
            "ratio_cold": ratio_cold, "ratio_warm": ratio_warm, "peak_rss_mb": rss, "baseline_rss_mb": base_rss,
            "firing": firing, "same_answer": not wrong, "load": load,
            "baseline_note": "the baseline computes no starts_at (asrwatch replays every firing alert's start)"}))
    if wrong:
        print("differ:", wrong[:10], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
