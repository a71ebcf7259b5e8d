"""Console page loads with 1M sessions in the store.

Fills a SQLite store with the simulator's fleet (1M sessions over 24 h by default, 5% labeled,
with the canary and decode-failure incidents), written in-process through the collector's own
ingest functions (the HTTP path is measured by bench/ingest.py) and compacted into hourly
rollups as the collector's compaction loop does behind live traffic, then starts a real collector
on it and times each console page's data load — every API call the page makes, uncached, over
HTTP — as the console does it. Goal: under 2 s per page here. Prints seconds per page (cold and
warm: the second load finds the database pages in the OS cache) and the ratio to the goal.

    python bench/console.py [--sessions 1000000] [--hours 24] [--db PATH] [--keep]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from live_collector import running_collector  # noqa: E402
from spread import spread  # noqa: E402  (bench/spread.py)

from collector.store.compaction import compact  # noqa: E402
from collector.store.database import make_engine, migrate  # noqa: E402
from collector.store.ingest import score_and_store_samples, store_sessions  # noqa: E402
from collector.store.schemas import SampleIn, SessionIn  # noqa: E402
from dashboards.api import ConsoleAPI, http_fetch  # noqa: E402
from dashboards.loaders import PAGES  # noqa: E402
from dashboards.timerange import FILTER_DIMENSIONS, make_view  # noqa: E402
from simulator.fleet import FleetConfig  # noqa: E402
from simulator.generate import generate  # noqa: E402
from simulator.run import scenario_set  # noqa: E402

GOAL_S = 2.0
SLOS = [
    {"name": "final-latency", "sli": "latency", "threshold_ms": 2000, "objective": 0.99, "window": "30d",
     "group_by": ["region"]},
    {"name": "availability", "sli": "availability", "objective": 0.995, "window": "30d"},
    {"name": "transcript-quality", "sli": "quality", "max_wer": 0.3, "objective": 0.95, "window": "30d",
     "group_by": ["model_version"]},
]


def fill(database_url: str, sessions: int, hours: float, end: datetime) -> int:
    engine = make_engine(database_url)
    migrate(engine)
    rate = sessions / (hours * 60)
    start = end - timedelta(hours=hours)
    scenarios = scenario_set(["canary-far-field-regression", "decode-failures@20h"], start, hours)
    fleet = FleetConfig(label_fraction=0.05)
    now = datetime.now(timezone.utc)
    stored = 0
    pending: list[SessionIn] = []
    samples: list[SampleIn] = []
    bar = tqdm(total=sessions, unit="session", desc="fill store")
    for batch in generate(scenarios, start, hours, rate, seed=3, fleet=fleet):
        pending.extend(SessionIn.model_validate_json(orjson.dumps(r)) for r in batch.all_records())
        samples.extend(SampleIn.model_validate_json(orjson.dumps(s.to_api())) for s in batch.samples)
        if len(pending) >= 20_000:
            stored += _flush(engine, pending, samples, now, bar)
    stored += _flush(engine, pending, samples, now, bar)
    bar.close()
    # What the running collector's compaction loop would have done behind the traffic.
    hours = tqdm(total=int(hours), unit="hour", desc="compact rollups")
    compact(engine, end, progress=lambda through, target: hours.update(1))
    hours.close()
    engine.dispose()
    return stored


def _flush(engine, pending: list, samples: list, now: datetime, bar) -> int:
    store_sessions(engine, pending, now)
    score_and_store_samples(engine, list(enumerate(samples)), "whisper_en", now)
    n = len(pending)
    bar.update(n)
    pending.clear()
    samples.clear()
    return n


def time_pages(url: str, token: str, at: datetime) -> dict[str, dict]:
    calls: list[tuple[float, str]] = []

    def fetch(method, full_url, tok, params, body):
        t0 = time.perf_counter()
        try:
            return http_fetch(method, full_url, tok, params, body, timeout_s=600)
        finally:
            group = dict(params).get("group_by")
            path = full_url.split("/api/v1", 1)[-1] + (f"?group_by={group}" if group else "")
            calls.append((time.perf_counter() - t0, path))

    api = ConsoleAPI(url, token, fetch=fetch)  # no cache: every call reaches the collector
    view = make_view("24h", at, {}, datetime.now(timezone.utc))
    extra = {"debug": {"session_id": "none", "compare": False}}
    loads = {name: (lambda loader=loader, name=name: loader(api, view, **extra.get(name, {})))
             for name, loader in PAGES.items()}
    loads["debug+compare"] = lambda: PAGES["debug"](api, view, session_id="none", compare=True)
    # The sidebar's slice-filter choices, loaded with every page (then cached).
    loads["(sidebar)"] = lambda: api.cost(list(FILTER_DIMENSIONS), view.window(), {})
    out = {}
    for name, load in loads.items():
        times = []
        for _ in range(2):
            calls.clear()
            t0 = time.perf_counter()
            load()
            times.append(time.perf_counter() - t0)
        slowest = max(calls) if calls else (0.0, "")
        out[name] = {"cold": times[0], "warm": times[1], "slowest": f"{slowest[1]} {slowest[0]:.2f} s"}
    return out


def _wait_for_stored_pass(url: str, end: datetime, timeout_s: float = 1800) -> datetime:
    """Until the drift loop's start-up pass at the data's end is in the store (a 1M-session
    scan: tens of seconds); not a wall-clock pass of an earlier collector on this file."""
    from drift.config import DriftConfig
    from drift.stored_reports import stored_at

    engine = make_engine(url)
    deadline = time.monotonic() + timeout_s
    try:
        with tqdm(desc="drift start-up pass", unit="s", file=sys.stderr) as bar:
            while (at := stored_at(engine, DriftConfig())) is None or at > end + timedelta(hours=1):
                if time.monotonic() > deadline:
                    raise TimeoutError("the drift loop stored no pass")
                time.sleep(1)
                bar.update(1)
    finally:
        engine.dispose()
    return at


def time_model_owner_after_restart(workdir: Path, url: str, end: datetime, rounds: int) -> dict:
    """The model owner's live page, first load right after a collector start, alternating:
    answered from the drift loop's stored pass (asrwatch), and as before stored passes, a
    scan on request (`drift.interval_s: 0` reproduces it: no loop, so a live request scans).
    The watermark clock puts "now" at the data's end, as a live fleet's wall clock would be."""
    base = {"slos": SLOS, "evaluator_interval_s": 86400, "evaluator_clock": "watermark"}
    sides = {"stored pass (asrwatch)": base, "scan on request (before)": {**base, "drift": {"interval_s": 0}}}
    with running_collector(workdir, config=base, database_url=url):  # its start-up pass, stored
        stored = _wait_for_stored_pass(url, end)
    view = replace(make_view("24h", end, {}, datetime.now(timezone.utc)), live=True)
    times: dict[str, list[float]] = {name: [] for name in sides}
    answered_at: dict[str, str] = {}
    for r in tqdm(range(rounds), desc="model owner after restart", file=sys.stderr):
        for name, config in (sides.items() if r % 2 == 0 else reversed(list(sides.items()))):
            with running_collector(workdir, config=config, database_url=url) as live:
                api = ConsoleAPI(live.url, live.tokens["read"], fetch=_fetch_600)
                t0 = time.perf_counter()
                page = PAGES["model_owner"](api, view)
                times[name].append(time.perf_counter() - t0)
                drift = page.sections["drift"]
                if not drift.ok:
                    raise RuntimeError(f"{name}: the drift section failed: {drift.error}")
                answered_at[name] = drift.data["at"]
    return {"stored_pass_at": stored.isoformat(), "answered_at": answered_at, "rounds": rounds,
            "load_average": os.getloadavg()[0],
            **{name: spread(v) for name, v in times.items()}}


def _fetch_600(method, full_url, tok, params, body):
    return http_fetch(method, full_url, tok, params, body, timeout_s=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--db", type=Path, default=None, help="reuse (or create) this SQLite file")
    parser.add_argument("--restart-rounds", type=int, default=2,
                        help="alternating rounds of the model owner's first load after a restart (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the figures here (for `python -m bench`)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="asrwatch-bench-console-"))
    db = args.db or workdir / "bench.db"
    end = datetime(2026, 11, 20, tzinfo=timezone.utc)
    url = f"sqlite:///{db}"
    if not db.exists():
        t0 = time.perf_counter()
        n = fill(url, args.sessions, args.hours, end)
        print(f"filled {n:,} sessions in {time.perf_counter() - t0:.0f} s -> {db}")
    # The watermark clock puts the collector's "now" at the data's end, as a live fleet's wall clock
    # would be: its evaluator's start-up pass then reads what the live view asks for.
    config = {"slos": SLOS, "evaluator_interval_s": 86400, "evaluator_clock": "watermark"}
    with running_collector(workdir, config=config, database_url=url) as live:
        results = time_pages(live.url, live.tokens["read"], end)
    print(f"\nconsole page data loads, {args.sessions:,} sessions in the store (goal < {GOAL_S:.0f} s per page)")
    print(f"{'page':<12} {'cold s':>8} {'warm s':>8} {'warm/goal':>10}  slowest call (warm)")
    for name, r in results.items():
        print(f"{name:<12} {r['cold']:8.2f} {r['warm']:8.2f} {r['warm'] / GOAL_S:10.2f}  {r['slowest']}")
    restart = None
    if args.restart_rounds > 0:
        restart = time_model_owner_after_restart(workdir, url, end, args.restart_rounds)
        print(f"\nmodel owner, live, first load after a collector start ({args.restart_rounds} alternating rounds, "
              f"load average {restart['load_average']:.1f}; drift pass stored at {restart['stored_pass_at']})")
        for name in ("stored pass (asrwatch)", "scan on request (before)"):
            r = restart[name]
            print(f"  {name:<26} min {r['min']:.2f} s  median {r['median']:.2f} s  max {r['max']:.2f} s  "
                  f"(answer at {restart['answered_at'][name]})")
    if args.json:
        args.json.write_text(orjson.dumps({"sessions": args.sessions, "pages": results,
                                           "model_owner_after_restart": restart}).decode())


if __name__ == "__main__":
    main()
