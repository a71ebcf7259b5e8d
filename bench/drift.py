"""Drift scan benchmark: 1M sessions, 50 single-dimension slices (plus their pairs).

Prints time and peak memory of (a) reading both windows from SQLite through
`drift.source`, (b) the full scan (every feature x slice, WER per slice, vocabulary,
label-free WER), and side by side (c) Evidently's default data-drift preset on the same
table, fleet-wide only (Evidently has no slicing; running it once per slice would cost
50x more). Goal: scan under 10 s and 1 GB here, and faster than Evidently.

    python bench/drift.py [--sessions 1000000] [--no-db] [--no-evidently]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drift.config import DriftConfig, Windows  # noqa: E402
from drift.features import sample_table, session_table  # noqa: E402
from drift.scan import TextRow, run_scan  # noqa: E402

AT = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
REGIONS = [f"region-{i}" for i in range(5)]
CHANNELS = ["telephony", "web", "mobile", "far_field"]
VERSIONS = ["asr-v1", "asr-v2", "asr-v3"]
TENANTS = [f"tenant-{i:02d}" for i in range(37)]  # 1 + 5 + 4 + 3 + 37 = 50 slices
WORDS = np.array([f"w{i}" for i in range(3000)])


class PeakRSS:
    """Samples this process's resident memory every 10 ms."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.01)

    def __enter__(self) -> "PeakRSS":
        self.start = self.proc.memory_info().rss
        self.peak = self.start
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def synthetic(n: int, seed: int = 7) -> dict:
    """Columns of n sessions over 8 days; region-3 has lower SNR in the last day."""
    rng = np.random.default_rng(seed)
    end = AT.timestamp()
    ts = end - rng.uniform(0, 8 * 86400, n)
    current = ts >= end - 86400
    region = rng.integers(0, len(REGIONS), n)
    snr = rng.normal(25, 6, n)
    snr[current & (region == 3)] -= 8
    audio = rng.lognormal(1.5, 0.6, n)
    conf = np.clip(rng.beta(8, 1.5, n) - 0.01 * np.maximum(0, 20 - snr) / 2, 0, 1)
    return {
        "session_id": np.array([f"s{i:07d}" for i in range(n)], dtype=object),
        "ts": ts,
        "is_current": current,
        "region": np.array(REGIONS, dtype=object)[region],
        "channel": np.array(CHANNELS, dtype=object)[rng.integers(0, len(CHANNELS), n)],
        "model_version": np.array(VERSIONS, dtype=object)[rng.choice(3, n, p=[0.6, 0.3, 0.1])],
        "tenant": np.array(TENANTS, dtype=object)[rng.integers(0, len(TENANTS), n)],
        "language": np.array(["en", "es"], dtype=object)[(rng.random(n) < 0.1).astype(int)],
        "status": np.array(["ok", "partial", "decode_error", "timeout"], dtype=object)[
            rng.choice(4, n, p=[0.96, 0.02, 0.01, 0.01])],
        "audio_seconds": audio,
        "hypothesis_words": np.round(audio * rng.normal(2.5, 0.4, n)).clip(0),
        "confidence": conf,
        "snr_db": snr,
        "final_latency_ms": rng.lognormal(6.5, 0.5, n),
        "first_partial_ms": rng.lognormal(5.5, 0.4, n),
        "partial_rewrites": rng.poisson(3, n).astype(float),
    }


def synthetic_samples(cols: dict, fraction: float, seed: int = 8) -> dict:
    rng = np.random.default_rng(seed)
    n = len(cols["ts"])
    pick = np.flatnonzero(rng.random(n) < fraction)
    words = rng.integers(3, 30, len(pick))
    rate = np.clip(0.25 - 0.2 * cols["confidence"][pick], 0.01, 1)
    errors = rng.binomial(words, rate)
    end = AT.timestamp()
    window = np.where(cols["ts"][pick] >= end - 86400, 1, 0)
    return {
        "session_id": cols["session_id"][pick], "ts": cols["ts"][pick], "window": window,
        "substitutions": errors, "deletions": np.zeros(len(pick)), "insertions": np.zeros(len(pick)),
        "ref_words": words, "confidence": cols["confidence"][pick],
        **{d: cols[d][pick] for d in ("region", "channel", "model_version", "tenant")},
    }


def synthetic_texts(cols: dict, count: int, seed: int = 9) -> list[TextRow]:
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(cols["ts"]), count, replace=False)
    zipf = np.minimum(rng.zipf(1.3, (count, 12)) - 1, len(WORDS) - 1)
    end = AT.timestamp()
    return [TextRow(int(cols["ts"][i] >= end - 86400), float(cols["ts"][i]), str(cols["session_id"][i]),
                    " ".join(WORDS[zipf[k]]), {d: str(cols[d][i]) for d in ("region", "channel", "model_version",
                                                                              "tenant")})
            for k, i in enumerate(pick)]


def bench_scan(cols: dict, config: DriftConfig) -> None:
    windows = Windows.ending_at(AT, config)
    samples = sample_table(synthetic_samples(cols, 0.05))
    texts = synthetic_texts(cols, min(config.max_hypotheses * 2, len(cols["ts"])))
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        table = session_table(cols)
        report = run_scan(table, samples, windows, config, texts)
        elapsed = time.perf_counter() - t0
    tickets = report.tickets()
    print(f"scan ({'with' if config.pairs else 'without'} pairs): {elapsed:.2f} s, peak RSS +"
          f"{(mem.peak - mem.start) / 2**20:.0f} MiB (process {mem.peak / 2**20:.0f} MiB); "
          f"{report.tests_run} tests over {report.slices_evaluated} slices; {len(tickets)} tickets: "
          + ", ".join(f"{f.feature}@{f.slice_key}" for f in tickets[:5]))
    return elapsed


def bench_source(cols: dict, n: int) -> None:
    from sqlalchemy import insert

    from collector.database import make_engine
    from collector.models import Base, Session
    from drift.source import load_sessions

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        Base.metadata.create_all(engine)
        t0 = time.perf_counter()
        now = datetime.now(timezone.utc)
        fields = ("session_id", "region", "channel", "model_version", "tenant", "language", "status")
        nums = ("audio_seconds", "confidence", "snr_db", "final_latency_ms", "first_partial_ms")
        for start in range(0, n, 50_000):
            rows = []
            for i in range(start, min(start + 50_000, n)):
                row = {f: cols[f][i] for f in fields}
                row.update({f: float(cols[f][i]) for f in nums})
                row.update(ts=datetime.fromtimestamp(cols["ts"][i], timezone.utc), received_at=now, pool="default",
                           partial_rewrites=int(cols["partial_rewrites"][i]),
                           hypothesis=" ".join(["word"] * int(cols["hypothesis_words"][i])), shadow=False, retries=0)
                rows.append(row)
            with engine.begin() as conn:
                conn.execute(insert(Session), rows)
        print(f"setup: inserted {n} sessions into SQLite in {time.perf_counter() - t0:.1f} s (not part of the scan)")
        config = DriftConfig()
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            loaded = load_sessions(engine, Windows.ending_at(AT, config), {})
            elapsed = time.perf_counter() - t0
        print(f"read both windows from SQLite: {elapsed:.2f} s, {len(loaded['session_id'])} rows, "
              f"peak RSS +{(mem.peak - mem.start) / 2**20:.0f} MiB")
        engine.dispose()


EVIDENTLY_FEATURES = {
    "num": ["confidence", "snr_db", "audio_seconds", "final_latency_ms", "first_partial_ms", "partial_rewrites"],
    "cat": ["status", "channel", "language"],
}

# Runs in the interpreter given by --evidently-python (Evidently pins pandas < 3, which this
# project's environment may not have); reports its own time and peak memory.
EVIDENTLY_RUNNER = r"""
import json, os, resource, sys, time
os.environ.setdefault("DO_NOT_TRACK", "1")
import numpy as np, pandas as pd
try:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset
except ImportError as exc:
    print(json.dumps({"skipped": f"evidently not installed ({exc})"[:300]})); sys.exit(0)
data = np.load(sys.argv[1], allow_pickle=True)
spec = json.loads(sys.argv[2])
frame = pd.DataFrame({k: data[k] for k in spec["num"] + spec["cat"]})
cur = data["is_current"]
ref_df, cur_df = frame[~cur].reset_index(drop=True), frame[cur].reset_index(drop=True)
definition = DataDefinition(numerical_columns=spec["num"], categorical_columns=spec["cat"])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(Dataset.from_pandas(cur_df, data_definition=definition),
                                           Dataset.from_pandas(ref_df, data_definition=definition))
snapshot.dict()
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "peak_mib": peak / 1024, "before_mib": before / 1024}))
"""


def bench_evidently(cols: dict, python: str) -> float | None:
    import json
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.npz"
        np.savez(path, **{k: cols[k] for k in EVIDENTLY_FEATURES["num"] + EVIDENTLY_FEATURES["cat"] + ["is_current"]})
        env = dict(os.environ, DO_NOT_TRACK="1")
        try:
            out = subprocess.run([python, "-c", EVIDENTLY_RUNNER, str(path), json.dumps(EVIDENTLY_FEATURES)],
                                 capture_output=True, text=True, timeout=1800, env=env)
        except FileNotFoundError:
            print(f"evidently: skipped: evidently not installed (no interpreter {python})")
            return None
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        print(f"evidently: skipped: evidently not installed or failed: {out.stderr.strip()[-300:]}")
        return None
    result = json.loads(lines[-1])
    if "skipped" in result:
        print(f"evidently: skipped: {result['skipped']}")
        return None
    print(f"evidently DataDriftPreset (fleet only, 1 slice, 9 columns): {result['seconds']:.2f} s, "
          f"peak RSS {result['peak_mib']:.0f} MiB (process, after loading {result['before_mib']:.0f} MiB)")
    return result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--no-db", action="store_true", help="skip the SQLite read benchmark")
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--evidently-python", default=sys.executable,
                        help="interpreter that has evidently installed (e.g. a venv with pandas<3)")
    parser.add_argument("--json", type=Path, help="also write the figures here (for `python -m bench`)")
    args = parser.parse_args()
    print(f"{args.sessions} sessions, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          "(timings scale with other work on the machine)")
    cols = synthetic(args.sessions)
    ours = bench_scan(cols, DriftConfig(pairs=False))
    bench_scan(cols, DriftConfig(pairs=True))
    theirs = None
    if not args.no_evidently:
        theirs = bench_evidently(cols, args.evidently_python)
        if theirs:
            print(f"ratio: evidently fleet-only / asrwatch 50-slice scan = {theirs / ours:.1f}x")
    if args.json:
        args.json.write_text(json.dumps({"sessions": args.sessions, "asrwatch_s": ours, "evidently_s": theirs,
                                         "ratio": theirs / ours if theirs else None}))
    if not args.no_db:
        bench_source(cols, args.sessions)


if __name__ == "__main__":
    main()
