"""Every benchmark in one run, one after another, and one table of what each measured side by side.

    python -m bench            # the full sizes the README quotes (about 20 minutes here)
    python -m bench --quick    # smaller sizes, for a smoke run (about 5 minutes)
    python -m bench --only ingest,slo
    EVIDENTLY_PYTHON=/opt/evidently-venv/bin/python python -m bench   # drift vs Evidently too

Each benchmark runs as its own process (`bench/<name>.py`, which also runs alone) and writes
its figures as JSON; their own progress and tables go to the terminal as they run. The
machine and its load are printed with the table, because every figure is from this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# name -> (full arguments, quick arguments)
RUNS: dict[str, tuple[list[str], list[str]]] = {
    "ingest": ([], ["--rounds", "2"]),
    "slo": ([], ["--rounds", "1", "--sessions", "100000"]),
    "drift": ([], ["--sessions", "200000", "--rounds", "1"]),
    "probe": (["--contexts", "trim"], ["--contexts", "trim", "--limit", "8", "--batch-sizes", "1,8"]),
    "console": ([], ["--sessions", "100000"]),
    "load": (["--minutes", "3"], ["--minutes", "0.5"]),
    "redaction": (["--seconds", "3"], ["--seconds", "0.5"]),
}


def _run(name: str, args: list[str], workdir: Path) -> dict[str, Any] | list | None:
    out = workdir / f"{name}.json"
    started = time.perf_counter()
    print(f"\n=== bench/{name}.py {' '.join(args)}", file=sys.stderr, flush=True)
    code = subprocess.call([sys.executable, str(HERE / f"{name}.py"), *args, "--json", str(out)],
                           stdout=sys.stderr)
    print(f"=== {name}: exit {code} after {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return json.loads(out.read_text()) if out.exists() else None


def _ingest(f: dict) -> list[tuple]:
    return [("ingest: POST /api/v1/sessions vs raw SQLite executemany", f"{f['api_per_s']:,.0f}/s",
             f"{f['raw_per_s']:,.0f}/s", f"{f['ratio']:.2f}", ">= 0.25", f["ratio"] >= 0.25),
            ("ingest: collector peak RSS", f"{f['peak_rss_mb']:.0f} MB", "", "", "< 300 MB", f["peak_rss_mb"] < 300)]


def _slo(f: dict) -> list[tuple]:
    size = f"{f['slos']} SLOs x {f['groups']} groups"
    base = f"{f['baseline_s']['median']:.1f} s"
    return [(f"slo: /slos from the database, {size}, cold (baseline: no starts_at)",
             f"{f['cold_s']['median']:.1f} s", base,
             f"{f['ratio_cold']:.1f}x", ">= 10x", f["ratio_cold"] >= 10 and f["same_answer"]),
            ("slo: the same, warm (evaluator every 15 s)", f"{f['warm_s']['median']:.1f} s", base,
             f"{f['ratio_warm']:.1f}x", ">= 10x", f["ratio_warm"] >= 10 and f["same_answer"]),
            ("slo: peak RSS", f"{f['peak_rss_mb']:.0f} MB", f"{f['baseline_rss_mb']:.0f} MB", "", "< 1 GB",
             f["peak_rss_mb"] < 1024)]


def _drift(f: dict) -> list[tuple]:
    if not f.get("evidently_s"):
        return [("drift: 50-slice scan (Evidently not installed)", f"{f['asrwatch_s']:.1f} s", "-", "-", "", None)]
    return [(f"drift: 50-slice read + scan vs Evidently fleet-only, {f['sessions']:,} sessions", f"{f['asrwatch_s']:.1f} s",
             f"{f['evidently_s']:.1f} s", f"{f['ratio']:.1f}x", ">= 3x, < 5 s", f["ratio"] >= 3 and f["asrwatch_s"] < 5)]


def _probe(rows: list[dict]) -> list[tuple]:
    out = []
    for device in sorted({r.get("device", "cpu") for r in rows}):
        mine = [r for r in rows if r.get("device", "cpu") == device]
        best = max(mine, key=lambda r: r["rtfx"])
        first = min(mine, key=lambda r: r["batch"])
        out.append((f"probe: whisper tiny.en RTFx on {device}, batch {best['batch']} vs {first['batch']}",
                    f"{best['rtfx']:.1f}", f"{first['rtfx']:.1f}", f"{best['rtfx'] / first['rtfx']:.1f}x", "", None))
    return out


def _console(f: dict) -> list[tuple]:
    # Cold is the first load after the collector started (nothing cached in it); warm repeats it.
    return [(f"console: {page} page data load, {f['sessions']:,} sessions",
             f"{r['cold']:.2f} s cold, {r['warm']:.2f} s warm", "", f"{max(r['cold'], r['warm']) / 2.0:.2f} of goal",
             "< 2 s", max(r["cold"], r["warm"]) < 2.0)
            for page, r in f["pages"].items()]


def _load(f: dict) -> list[tuple]:
    offered = f"{f['offered_per_s']:,.0f}/s offered" if f["offered_per_s"] else "as fast as acknowledged"
    return [(f"load: {f['elapsed_s'] / 60:.1f} min on {f['database']}, {offered}",
             f"{f['min_interval_sessions_per_s']:,.0f}/s worst interval", f"p99 {f['p99_ms']:.0f} ms",
             f"lost {f['lost']}, RSS {f['rss_growth_pct']:+.0f}%", "lost 0", f["lost"] == 0)]


def _redaction(f: dict) -> list[tuple]:
    ours, *presidio = f["runs"]
    other = presidio[0] if presidio else None
    return [(f"redaction: PII corpus recall / near-misses altered ({ours['spans']} spans, {ours['near_misses']} near-misses)",
             f"{ours['recall']:.1%} / {ours['altered_rate']:.1%}",
             f"{other['name']}: {other['recall']:.1%} / {other['altered_rate']:.1%}" if other else "Presidio not installed",
             "-", ">= 95% / <= 3%", ours["recall"] >= 0.95 and ours["altered_rate"] <= 0.03)]


TABLES: dict[str, Callable[[Any], list[tuple]]] = {
    "ingest": _ingest, "slo": _slo, "drift": _drift, "probe": _probe, "console": _console, "load": _load,
    "redaction": _redaction,
}


def machine() -> str:
    cpus = os.cpu_count()
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpus} cores ({model}), {mem:.0f} GiB, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"


def table(results: dict[str, Any]) -> str:
    rows = [("benchmark", "asrwatch", "baseline", "ratio", "goal", "met")]
    for name, figures in results.items():
        if figures is None:
            rows.append((f"{name}: no figures (see its output above)", "", "", "", "", False))
            continue
        rows += [(*r[:5], "-" if r[5] is None else ("yes" if r[5] else "NO")) for r in TABLES[name](figures)]
    widths = [max(len(str(r[i])) for r in rows) for i in range(6)]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--only", help=f"comma list of {', '.join(RUNS)}")
    args = parser.parse_args()
    evidently = os.environ.get("EVIDENTLY_PYTHON")  # an interpreter with Evidently (it pins pandas < 3)
    if evidently:
        for variant in RUNS["drift"]:
            variant += ["--evidently-python", evidently]
    names = args.only.split(",") if args.only else list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        parser.error(f"--only: unknown benchmark {', '.join(unknown)} (one of {', '.join(RUNS)})")
    with tempfile.TemporaryDirectory(prefix="asrwatch-bench-") as tmp:
        results = {name: _run(name, RUNS[name][1 if args.quick else 0], Path(tmp)) for name in names}
    print(f"\nasrwatch benchmarks, {'quick' if args.quick else 'full'} sizes, on {machine()}\n")
    print(table(results))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
