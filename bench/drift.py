"""Drift benchmark: 1M sessions x 50 slices, read from storage plus scan, against Evidently.

Fills a store (SQLite, and PostgreSQL on 127.0.0.1:5432 where it answers) with synthetic
sessions over 8 days in event-time order plus 5% labeled samples, then times the whole path
a model owner waits for, `drift.service.scan_database` (both windows' sessions, samples and
transcripts read from the store, then every feature x slice, WER per slice, vocabulary and
label-free WER), as it is and with the samples/transcript readers and vocabulary code of
e1fce33 (tests/drift/drift_reference.py), alternating in rounds; both must give the same report. Side by side: Evidently's default
`DataDriftPreset` on the same 10 columns, fleet-wide only (Evidently has no slicing), on a
table already in memory, in its own process (its time and peak memory are its own). Goal:
read + scan under 5 s and 1 GB on either store, at least 3x faster than Evidently.

Evidently 0.7.x needs pandas < 3 (the newest fails to import with pandas 3); a working pair is
evidently 0.7.23 with pandas 2.3.3 in a venv:

    python -m venv /tmp/evidently-venv
    /tmp/evidently-venv/bin/pip install "evidently==0.7.23" "pandas==2.3.3"
    EVIDENTLY_PYTHON=/tmp/evidently-venv/bin/python python bench/drift.py [--sessions 1000000]
        [--rounds 3] [--engines sqlite,postgresql] [--no-db] [--no-evidently]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from itertools import islice, repeat
from pathlib import Path

import numpy as np
import psutil
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from spread import spread  # noqa: E402  (bench/spread.py)

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
        # The hallucination reason bitmask ingest stores (`collector.measures.hallucination`): 2% flagged.
        "hallucination": (np.random.default_rng(seed + 3).random(n) < 0.02).astype(float),
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


def bench_scan(cols: dict, config: DriftConfig) -> float:
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


SESSION_FIELDS = ("session_id", "ts", "received_at", "model_version", "region", "tenant", "channel", "language",
                  "pool", "status", "audio_seconds", "first_partial_ms", "final_latency_ms", "partial_rewrites",
                  "confidence", "snr_db", "hypothesis", "hypothesis_words", "shadow", "retries", "hallucination")


def _time_texts(seconds: np.ndarray, postgres: bool) -> list[str]:
    """Epoch seconds as the text each store keeps (SQLAlchemy's UTC form on SQLite, an ISO time
    with its offset for PostgreSQL's COPY), all in one numpy call instead of a datetime and a
    strftime per row (which made filling 5M sessions take most of an hour)."""
    micros = np.round(np.asarray(seconds) * 1e6).astype(np.int64).astype("datetime64[us]")
    text = np.char.replace(np.datetime_as_string(micros, unit="us"), "T", " ")
    return (np.char.add(text, "+00") if postgres else text).tolist()


def _session_rows(cols: dict, order: np.ndarray, postgres: bool):
    """Rows in event-time order, as a fleet's ingest stores them (with the word count the collector
    stores, `collector.measures.word_count`); text as the simulator's length. Built column-wise:
    one text per distinct length, times as text in one call."""
    from collector.measures.word_count import hypothesis_words

    received = _time_texts(np.array([time.time()]), postgres)[0]
    lengths = cols["hypothesis_words"][order].astype(np.int64)
    texts = [" ".join(WORDS[:k]) for k in range(int(lengths.max(initial=0)) + 1)]
    counts = [hypothesis_words(text) for text in texts]
    n = len(order)
    column = lambda name: cols[name][order].tolist()  # noqa: E731
    return zip(column("session_id"), _time_texts(cols["ts"][order], postgres), repeat(received, n),
               column("model_version"), column("region"), column("tenant"), column("channel"), column("language"),
               repeat("default", n), column("status"), column("audio_seconds"), column("first_partial_ms"),
               column("final_latency_ms"), cols["partial_rewrites"][order].astype(np.int64).tolist(),
               column("confidence"), column("snr_db"), [texts[k] for k in lengths.tolist()],
               [counts[k] for k in lengths.tolist()], repeat(False, n), repeat(0, n),
               cols["hallucination"][order].astype(np.int64).tolist())


def _sample_rows(samples: dict, postgres: bool):
    n = len(samples["session_id"])
    received = _time_texts(np.array([time.time()]), postgres)[0]
    return zip(samples["session_id"].tolist(), repeat("human", n), _time_texts(samples["ts"], postgres),
               repeat(received, n), repeat("reference words", n), repeat("reference words", n), repeat(0.0, n),
               np.asarray(samples["substitutions"]).astype(np.int64).tolist(), repeat(0, n), repeat(0, n),
               np.asarray(samples["ref_words"]).astype(np.int64).tolist())


SAMPLE_FIELDS = ("session_id", "source", "ts", "received_at", "reference", "hypothesis", "wer", "substitutions",
                 "deletions", "insertions", "ref_words")


def fill_store(url: str, cols: dict, samples: dict) -> None:
    """Sessions and labeled samples through the driver's bulk path (setup, not timed)."""
    from collector.store.database import make_engine, migrate

    engine = make_engine(url)
    migrate(engine)
    order = np.argsort(cols["ts"], kind="stable")
    n = len(order)
    bar = tqdm(total=n + len(samples["session_id"]), unit="row", desc=f"fill {engine.dialect.name}", file=sys.stderr)
    raw = engine.raw_connection()
    postgres = engine.dialect.name == "postgresql"
    try:
        cur = raw.cursor()
        indexes: list[str] = []
        if not postgres:
            # Setup only: a page cache that holds the session-id index, whose keys arrive in random
            # order (the default 2 MB cache made 5M sessions take an hour); and the tables' own
            # indexes dropped while filling and built again after, from their stored definitions
            # (one sort each instead of a random insert per row: the fill slowed from 4,400 to
            # 3,100 rows/s within the first million). The primary keys' automatic indexes stay.
            cur.execute("PRAGMA cache_size=-1048576")
            dropped = cur.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                                  "AND tbl_name IN ('sessions', 'samples')").fetchall()
            for name, sql in dropped:
                cur.execute(f'DROP INDEX "{name}"')
                indexes.append(sql)

            def put(table, fields, rows):
                sql = f"INSERT INTO {table} ({','.join(fields)}) VALUES ({','.join('?' * len(fields))})"
                while batch := list(islice(rows, 100_000)):
                    cur.executemany(sql, batch)
                    bar.update(len(batch))
        else:
            def put(table, fields, rows):
                with cur.copy(f"COPY {table} ({','.join(fields)}) FROM STDIN") as copy:
                    while batch := list(islice(rows, 100_000)):
                        for row in batch:
                            copy.write_row(row)
                        bar.update(len(batch))
        put("sessions", SESSION_FIELDS, _session_rows(cols, order, postgres))
        put("samples", SAMPLE_FIELDS, _sample_rows(samples, postgres))
        for sql in indexes:
            cur.execute(sql)
        raw.commit()
        if engine.dialect.name == "postgresql":
            cur.execute("ANALYZE sessions")
            cur.execute("ANALYZE samples")
            raw.commit()
    finally:
        raw.close()
        bar.close()
    engine.dispose()


@contextlib.contextmanager
def _paths_before():
    """The samples and transcript readers and the vocabulary code of e1fce33 (kept as the
    differential tests' reference, tests/drift/drift_reference.py), swapped in for one scan."""
    from drift import scan, service, vocabulary

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "drift"))
    import drift_reference as old

    swaps = [(service, "load_samples", old.load_samples), (service, "load_texts", old.load_texts),
             (vocabulary, "build_corpus", old.build_corpus), (vocabulary, "vocabulary_drift", old.vocabulary_drift),
             (scan, "_vocabulary", old.scan_vocabulary)]
    saved = [(module, name, getattr(module, name)) for module, name, _ in swaps]
    for module, name, value in swaps:
        setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


STEPS = ("reading sessions", "reading samples", "reading transcripts", "waiting for sessions", "vocabulary",
         "label-free WER")


def _timed_scan(engine, config: DriftConfig, steps: dict[str, float]):
    """scan_database, with each step's seconds added to `steps` (the rest as "feature tests")."""
    from drift.service import scan_database

    marks: list[tuple[str, float]] = []
    report = scan_database(engine, config, AT, progress=lambda name: marks.append((name, time.perf_counter())))
    marks.append(("end", time.perf_counter()))
    for (name, t0), (_, t1) in zip(marks, marks[1:]):
        key = name if name in STEPS else "feature tests"
        steps[key] = steps.get(key, 0.0) + t1 - t0
    return report


def bench_store(url: str, rounds: int) -> dict:
    """The whole path a model owner waits for (`drift.service.scan_database`: sessions, samples,
    transcripts, the scan) as it is and with the samples/transcript readers and vocabulary code
    it replaced, alternating in rounds so that both see the same machine."""
    from collector.store.database import make_engine

    engine = make_engine(url)
    config = DriftConfig(pairs=False)  # 50 slices
    sides = {"asrwatch": contextlib.nullcontext, "before (e1fce33)": _paths_before}
    times: dict[str, list[float]] = {name: [] for name in sides}
    steps: dict[str, dict[str, list[float]]] = {name: {} for name in sides}
    peaks: dict[str, float] = {}
    reports = {}
    _timed_scan(engine, config, {})  # warm the OS page cache for both sides alike
    for r in tqdm(range(rounds), desc=f"rounds on {engine.dialect.name}", file=sys.stderr):
        for name, paths in (sides.items() if r % 2 == 0 else reversed(list(sides.items()))):
            step_times: dict[str, float] = {}
            with paths(), PeakRSS() as mem:
                t0 = time.perf_counter()
                reports[name] = _timed_scan(engine, config, step_times)
                times[name].append(time.perf_counter() - t0)
            peaks[name] = max(peaks.get(name, 0), mem.peak)
            for step, seconds in step_times.items():
                steps[name].setdefault(step, []).append(seconds)
    engine.dispose()
    a, b = reports.values()
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict()), "the two paths gave different reports"
    ratios = [old / new for new, old in zip(*times.values())]
    out = {"engine": make_url_name(url), "rounds": rounds, "tests_run": a.tests_run,
           "sessions_read": a.counts["sessions_reference"] + a.counts["sessions_current"], "texts": a.counts["texts"],
           "load_average": os.getloadavg()[0]}
    for name in sides:
        out[name] = {**spread(times[name]), "peak_rss_mib": peaks[name] / 2**20,
                     "steps_median_s": {step: float(np.median(v)) for step, v in steps[name].items()}}
    out["speedup"] = spread(ratios)
    print(f"{out['engine']}: read + scan of {out['sessions_read']:,} sessions ({a.tests_run} tests, "
          f"{out['texts']:,} transcripts), {rounds} rounds, load average {out['load_average']:.1f}")
    for name in sides:
        f = out[name]
        print(f"  {name:<18} min {f['min']:.2f} s  median {f['median']:.2f} s  max {f['max']:.2f} s  "
              f"peak RSS {f['peak_rss_mib']:.0f} MiB (process)")
        print("    median per step: " + ", ".join(f"{k} {v:.2f} s" for k, v in f["steps_median_s"].items()))
    print(f"  speedup (before / asrwatch, per round): min {out['speedup']['min']:.2f}x  "
          f"median {out['speedup']['median']:.2f}x  max {out['speedup']['max']:.2f}x")
    return out


def make_url_name(url: str) -> str:
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"


EVIDENTLY_FEATURES = {
    "num": ["confidence", "snr_db", "audio_seconds", "final_latency_ms", "first_partial_ms", "partial_rewrites"],
    "cat": ["status", "channel", "language", "hallucination"],
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


def bench_evidently(cols: dict, python: str) -> dict | None:
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
    print(f"evidently DataDriftPreset (fleet only, 1 slice, 10 columns, table in memory): {result['seconds']:.2f} s, "
          f"peak RSS {result['peak_mib']:.0f} MiB (its own process, after loading {result['before_mib']:.0f} MiB)")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per store")
    parser.add_argument("--engines", default="sqlite,postgresql", help="stores to read from (comma-separated)")
    parser.add_argument("--no-db", action="store_true", help="only the in-memory scan (no store, no read)")
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--evidently-python", default=os.environ.get("EVIDENTLY_PYTHON", sys.executable),
                        help="interpreter that has evidently installed (evidently 0.7.23 with pandas 2.3.3)")
    parser.add_argument("--json", type=Path, help="also write the figures here (for `python -m bench`)")
    args = parser.parse_args()
    print(f"{args.sessions:,} sessions, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          "(timings scale with other work on the machine)")
    cols = synthetic(args.sessions)
    scan_only = bench_scan(cols, DriftConfig(pairs=False))
    evidently = None if args.no_evidently else bench_evidently(cols, args.evidently_python)
    stores = []
    if not args.no_db:
        samples = synthetic_samples(cols, 0.05)
        for engine in args.engines.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{tmp}/bench.db" if engine == "sqlite" else _postgres_database()
                if url is None:
                    continue
                try:
                    fill_store(url, cols, samples)
                    stores.append(bench_store(url, args.rounds))
                finally:
                    if engine != "sqlite":
                        _drop_postgres_database(url)
    ours = stores[0]["asrwatch"]["median"] if stores else scan_only
    if evidently:
        print(f"ratio: Evidently fleet-only (in memory) / asrwatch 50-slice read + scan ({'from ' + stores[0]['engine'] if stores else 'in memory'}) "
              f"= {evidently['seconds'] / ours:.1f}x")
        for store in stores[1:]:
            print(f"ratio on {store['engine']}: {evidently['seconds'] / store['asrwatch']['median']:.1f}x")
    if args.json:
        args.json.write_text(json.dumps({
            "sessions": args.sessions, "asrwatch_s": ours, "scan_only_s": scan_only,
            "evidently_s": evidently["seconds"] if evidently else None,
            "evidently_peak_mib": evidently["peak_mib"] if evidently else None,
            "ratio": evidently["seconds"] / ours if evidently else None, "stores": stores,
            "load_average": os.getloadavg()[0]}))


def _postgres_database() -> str | None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    try:
        from postgres import create_database
        return create_database("asrwatch_bench_drift")
    except BaseException as exc:  # the test helper skips (raises) when no server answers
        print(f"PostgreSQL: skipped ({type(exc).__name__}: {str(exc)[:200]})")
        return None


def _drop_postgres_database(url: str) -> None:
    from postgres import drop_database
    drop_database(url)


if __name__ == "__main__":
    main()
