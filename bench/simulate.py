"""Simulator throughput: sessions per second it can generate, and generate + post.

Side by side in one run, on the same simulated span:
  (a) generation only (no I/O), with the default 5% labeled transcripts;
  (b) generation with a transcript on every session (`--hypotheses`);
  (c) generate + post to a live collector (SQLite by default: `asrwatch serve` on loopback,
      or `--collector URL --token T` for one you run, e.g. on PostgreSQL);
  (d) the same with 20% of sessions sent as OTLP traces.
Prints sessions/s for each and the ratios, so the load generator's ceiling is known when it
drives later benchmarks: if (c) is far below (a), the collector is the bottleneck.

    python bench/simulate.py [--minutes 10] [--rate 1000] [--collector URL --token T]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tests/live_collector.py starts a real collector

from simulator.fleet import FleetConfig  # noqa: E402
from simulator.generate import generate  # noqa: E402
from simulator.run import scenario_set, simulate  # noqa: E402

START = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def generation_rate(hours: float, rate: float, hypotheses: bool) -> tuple[int, float]:
    active = scenario_set("steady", START, hours)
    t0 = time.perf_counter()
    n = sum(b.session_count for b in generate(active, START, hours, rate, 1, fleet=FleetConfig(), hypotheses=hypotheses))
    return n, time.perf_counter() - t0


@contextlib.contextmanager
def collector_under_test(url: str | None, token: str | None):
    if url:
        yield url, token
        return
    from live_collector import running_collector

    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as tmp:
        with running_collector(Path(tmp)) as live:
            yield live.url, live.tokens["ingest"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="simulated minutes per measurement")
    parser.add_argument("--rate", type=float, default=1000.0, help="mean sessions per simulated minute")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--collector", help="post to this collector instead of starting one")
    parser.add_argument("--token", help="ingest token for --collector")
    args = parser.parse_args()
    hours = args.minutes / 60.0

    n_a, t_a = generation_rate(hours, args.rate, hypotheses=False)
    n_b, t_b = generation_rate(hours, args.rate, hypotheses=True)
    rates = {"generate (5% labeled)": n_a / t_a, "generate (+ every transcript)": n_b / t_b}
    with collector_under_test(args.collector, args.token) as (url, token):
        for label, day, otlp in (("generate + post (JSON)", 2, 0.0), ("generate + post (20% OTLP)", 3, 0.2)):
            start = START.replace(day=day)
            report = simulate(url, token, "steady", start=start, hours=hours, rate=args.rate, seed=1,
                              otlp_fraction=otlp, batch_size=args.batch_size, progress=True)
            rates[label] = report.sessions_per_s
            print(f"  {label}: {report.stats.sessions + report.stats.traced} sessions, "
                  f"{report.stats.samples} samples in {report.wall_s:.1f} s", file=sys.stderr)

    base = rates["generate (5% labeled)"]
    print(f"simulator throughput, {args.minutes:g} simulated minutes at {args.rate:g} sessions/min "
          f"({n_a} sessions per measurement)")
    for label, value in rates.items():
        print(f"  {label:<32} {value:>9,.0f} sessions/s   x{value / base:.2f} of generation")


if __name__ == "__main__":
    main()
