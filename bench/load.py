"""Load test: a real collector on loopback fed at a fixed rate for minutes, and what it held.

The simulated fleet (`simulator.generate`, scenario `steady`) supplies realistic session
records; sender threads post them in batches at the offered rate (`--rate` sessions/s; 0 =
as fast as the collector answers) to an `asrwatch serve` subprocess on SQLite (default) or
on `--database-url` PostgreSQL, with the SLO evaluator running. Every record carries a fresh
id and an event time of "now", as a live fleet's would. Reports:

  * sessions/s acknowledged per interval (held = every interval at the offered rate),
  * p50 / p99 / max latency of POST /api/v1/sessions,
  * loss: sessions acknowledged vs sessions found in the database at the end (and the
    rollups' session count), which must be equal,
  * the collector's RSS sampled every second: first minute vs last minute.

    python bench/load.py                       # 3 minutes on SQLite
    python bench/load.py --minutes 0.5         # quick
    python bench/load.py --database-url postgresql+psycopg://user@host/db [--replicas 2]
    python bench/load.py --database-url ... --replicas 2 --rate 0 --store sample --sli-source prometheus
    python bench/load.py --database-url ... --rate 0 --senders 8 --batch-size 1000 --store sample \
        --sli-source prometheus --replica-cpus 0.1 --scale 1,2,3,4 --rounds 2 --warmup 15

Modes (the capacity model's, README "Capacity model"): `--store all` (default) stores every
session; `--store sample --sample-rate 0.01` stores the share plus the always-kept classes and
leaves the others' ids in `session_keys`, so loss is checked as stored + keys = acknowledged =
the rollups' session count. `--sli-source prometheus` has the evaluator read its SLIs from
Prometheus: `--prometheus-url`, or, without one, Debian's `prometheus` binary started here in a
temporary folder, scraping every replica's /metrics every 15 s with the rules
`asrwatch slo rules` exports, and stopped at the end. CPU seconds of the collectors, of the
PostgreSQL server processes and of this load generator are measured over the run, for
sessions/s per collector core.

Scaling (`--scale 1,2,3,4 --rounds 2`): the run repeated at each replica count, rounds
interleaved, then one row per count (sessions/s min/median/max, the median against the fewest
replicas', cores busy per part). `--replica-cpus 0.1` limits each replica to that many CPUs with a
cgroup CFS quota, as a pod's CPU limit does (`cpu_quota.py`), so that on one small machine the
replicas, not storage, set the pace; `--warmup 15` sends load first and does not count it.

`run_load(...)` returns the figures as a dict for a bench runner.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import yaml
from sqlalchemy import func, select, text
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tests/live_collector.py starts a real collector

from cpu_quota import CpuQuota  # noqa: E402
from live_collector import LiveCollector, free_port, write_config  # noqa: E402

from collector.store.database import make_engine  # noqa: E402
from collector.store.models import Rollup, Session, SessionKey  # noqa: E402
from simulator.generate import generate  # noqa: E402
from simulator.run import scenario_set  # noqa: E402

# What a deployment would run: the evaluator judges these every pass, during the load.
SLOS = [
    {"name": "availability", "sli": "availability", "objective": 0.99, "window": "30d",
     "group_by": ["model_version", "channel"]},
    {"name": "final-latency", "sli": "latency", "threshold_ms": 2000, "objective": 0.97, "window": "30d",
     "group_by": ["region"]},
]
RETRY_STATUSES = {429, 502, 503, 504}


def templates(count: int, seed: int = 1) -> list[dict]:
    """Session records from the simulated fleet; the sender gives each a fresh id and time."""
    start = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
    per_minute = 2000
    out: list[dict] = []
    for batch in generate(scenario_set("steady", start, 1), start, count / per_minute / 60 + 1 / 60,
                          per_minute, seed):
        out.extend(batch.all_records())
        if len(out) >= count:
            break
    for record in out:
        record.pop("trace_id", None)  # ids are reused across copies; traces are not what is measured
    return out[:count]


@dataclass
class Ledger:
    """What the senders saw, filled from several threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    done: list[tuple[float, int, float]] = field(default_factory=list)  # (t done, sessions acked, latency s)
    acknowledged: int = 0
    duplicates: int = 0
    sent: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    retries: int = 0

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1


class Sender:
    """Posts batches on a shared schedule: batch i is due at start + i * batch_size / rate."""

    def __init__(self, targets: list[tuple[str, str]], pool: list[dict], run_id: str, rate: float,
                 batch_size: int, start: float, deadline: float, ledger: Ledger) -> None:
        self.targets, self.pool, self.run_id = targets, pool, run_id  # targets: (url, ingest token) per replica
        self.rate, self.batch_size, self.deadline, self.ledger = rate, batch_size, deadline, ledger
        self._next = 0
        self._lock = threading.Lock()
        self.start = start

    def _claim(self) -> int | None:
        with self._lock:
            index = self._next
            due = self.start + index * self.batch_size / self.rate if self.rate else time.monotonic()
            if due >= self.deadline:
                return None
            self._next += 1
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return index

    def _body(self, index: int) -> bytes:
        ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        first = index * self.batch_size
        records = []
        for n in range(first, first + self.batch_size):
            record = dict(self.pool[n % len(self.pool)])
            record["session_id"] = f"{self.run_id}-{n}"
            record["ts"] = ts
            records.append(record)
        return orjson.dumps(records)

    def run(self, worker: int) -> None:
        clients = [httpx.Client(base_url=url, timeout=120, headers={
            "Authorization": f"Bearer {token}", "content-type": "application/json"}) for url, token in self.targets]
        try:
            while (index := self._claim()) is not None:
                body = self._body(index)
                with self.ledger.lock:
                    self.ledger.sent += self.batch_size
                self._post(clients[index % len(clients)], body)
        finally:
            for client in clients:
                client.close()

    def _post(self, client: httpx.Client, body: bytes) -> None:
        """Post until acknowledged, as a real sender would (the client library retries too)."""
        for attempt in range(20):
            t0 = time.monotonic()
            try:
                response = client.post("/api/v1/sessions", content=body)
            except httpx.TransportError as exc:
                self.ledger.error(type(exc).__name__)
                self._backoff(attempt, None)
                continue
            latency = time.monotonic() - t0
            if response.status_code == 200:
                result = response.json()
                with self.ledger.lock:
                    self.ledger.done.append((time.monotonic(), result["accepted"] + result["duplicates"], latency))
                    self.ledger.acknowledged += result["accepted"] + result["duplicates"]
                    self.ledger.duplicates += result["duplicates"]
                    if result["rejected"]:
                        self.ledger.errors["rejected records"] = (self.ledger.errors.get("rejected records", 0)
                                                                  + len(result["rejected"]))
                return
            self.ledger.error(f"HTTP {response.status_code}")
            if response.status_code not in RETRY_STATUSES:
                return
            self._backoff(attempt, response.headers.get("retry-after"))
        self.ledger.error("gave up after 20 attempts")

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        with self.ledger.lock:
            self.ledger.retries += 1
        time.sleep(float(retry_after) if retry_after else min(5.0, 0.2 * 2 ** attempt))


class RssSampler(threading.Thread):
    """Collector RSS (sum over replicas) once a second."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.procs = [psutil.Process(pid) for pid in pids]
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.samples.append((time.monotonic(), sum(p.memory_info().rss for p in self.procs)))
            self.stop.wait(1.0)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass(frozen=True)
class Mode:
    """What the collectors run as: session storage and where the evaluator reads its SLIs."""

    store: str = "all"  # all | sample
    sample_rate: float = 1.0
    sli_source: str = "local"  # local | prometheus
    prometheus_url: str | None = None  # None with sli_source prometheus: start one here

    def config(self, prometheus_url: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.store == "sample":
            out["store"] = {"sessions": "sample", "sample_rate": self.sample_rate}
        if self.sli_source == "prometheus":
            out["sli_source"] = "prometheus"
            out["prometheus"] = {"url": prometheus_url}
        return out

    def describe(self) -> str:
        store = f"sample {self.sample_rate:g}" if self.store == "sample" else "all"
        source = "local rollups" if self.sli_source == "local" else f"prometheus {self.prometheus_url or '(started here)'}"
        return f"store {store}, SLIs from {source}"


class LocalPrometheus:
    """Debian's `prometheus` (2.42) in a temporary folder: scrapes the replicas, loads the rules."""

    def __init__(self, workdir: Path, targets: list[tuple[str, str]], config_path: Path) -> None:
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not Path(binary).exists():
            raise RuntimeError("--sli-source prometheus without --prometheus-url needs the `prometheus` binary "
                               "(Debian package prometheus)")
        self.binary, self.workdir, self.targets, self.config_path = binary, workdir, targets, config_path
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        rules = subprocess.run([sys.executable, "-m", "asrwatch", "slo", "rules", "--config", str(self.config_path)],
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout
        (self.workdir / "rules.yaml").write_text(rules)
        # /metrics takes a read token: one job per replica, each with its own (the rules sum
        # across jobs and instances, as across a real fleet's replicas).
        config = {
            "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
            "rule_files": [str(self.workdir / "rules.yaml")],
            "scrape_configs": [{"job_name": f"asrwatch-{i}", "authorization": {"type": "Bearer", "credentials": token},
                                "static_configs": [{"targets": [url.split("://", 1)[1]]}]}
                               for i, (url, token) in enumerate(self.targets)],
        }
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={self.workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.workdir / 'data'}", f"--web.listen-address={self.url.split('://', 1)[1]}"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited {self.process.returncode}: "
                                   f"{(self.workdir / 'prometheus.log').read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/-/ready", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("prometheus not ready")

    def series(self) -> int:
        """Head series Prometheus holds (scraped + recorded)."""
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            body = httpx.get(self.url + "/api/v1/status/tsdb", timeout=10).json()
            return int(body["data"]["headStats"]["numSeries"])
        return -1

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@contextlib.contextmanager
def collectors(workdir: Path, database_url: str | None, replicas: int, evaluator: bool = True,
               mode: Mode = Mode(), replica_cpus: float | None = None,
               ) -> Iterator[tuple[list[LiveCollector], LocalPrometheus | None, list[CpuQuota]]]:
    """`asrwatch serve` subprocesses on one database, each with its own tokens (and a Prometheus
    scraping them when the mode needs one started here); stopped on the way out even when one
    fails to start (a busy machine can take a minute to import). With `replica_cpus`, each
    replica is moved, once ready, into a cgroup of its own limited to that many CPUs."""
    database_url = database_url or f"sqlite:///{workdir / 'asrwatch.db'}"
    planned = []
    for i in range(replicas):
        replica_dir = workdir / f"replica-{i}"
        replica_dir.mkdir(parents=True)
        tokens = {scope: f"{scope}-{secrets.token_hex(12)}" for scope in ("ingest", "read", "admin")}
        planned.append((f"http://127.0.0.1:{free_port()}", tokens, replica_dir))
    prometheus = None
    prometheus_url = mode.prometheus_url
    if mode.sli_source == "prometheus" and not prometheus_url:
        (workdir / "prometheus").mkdir()
        prometheus = LocalPrometheus(workdir / "prometheus", [(url, tokens["read"]) for url, tokens, _ in planned],
                                     planned[0][2] / "asrwatch.yaml")
        prometheus_url = prometheus.url
    config = {"slos": SLOS, "evaluator_interval_s": 15.0, "evaluator_enabled": evaluator, **mode.config(prometheus_url)}
    live: list[LiveCollector] = []
    quotas: list[CpuQuota] = []
    with contextlib.ExitStack() as cleanup:
        try:
            for url, tokens, replica_dir in planned:
                write_config(replica_dir / "asrwatch.yaml", database_url, tokens, config)
            if prometheus:
                prometheus.start()
            for url, tokens, replica_dir in planned:
                live.append(LiveCollector(url, database_url, tokens, replica_dir / "asrwatch.yaml", replica_dir))
                live[-1].start(timeout_s=180)
                if replica_cpus:
                    # Limited once started: importing under a small quota would take minutes, and
                    # only the load is measured.
                    quotas.append(cleanup.enter_context(CpuQuota(replica_cpus)))
                    quotas[-1].add(live[-1].process.pid)
            yield live, prometheus, quotas
        finally:
            for replica in live:
                replica.stop()
            if prometheus:
                prometheus.stop()


class CpuMeter:
    """CPU seconds (user + system) of the collectors, the PostgreSQL server and this process."""

    def __init__(self, collector_pids: list[int], database_url: str) -> None:
        self.collectors = [psutil.Process(pid) for pid in collector_pids]
        self.postgres = database_url.startswith("postgresql")

    @staticmethod
    def _seconds(procs: list[psutil.Process]) -> float:
        total = 0.0
        for proc in list(procs):
            with contextlib.suppress(psutil.Error):
                procs = procs + proc.children(recursive=True)  # workers, if serve ever forks any
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def _postgres_seconds(self) -> float:
        # Backends come and go with connections: the sum over live ones plus the server's
        # children-of-exited count (cpu_times children_*) of the postmaster.
        total = 0.0
        for proc in psutil.process_iter(["name"]):
            if proc.info["name"] and proc.info["name"].startswith("postgres"):
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system
                    if proc.ppid() == 1 or proc.parent().name() != "postgres":
                        total += times.children_user + times.children_system
        return total if self.postgres else float("nan")

    def read(self) -> dict[str, float]:
        me = psutil.Process().cpu_times()
        machine = psutil.cpu_times()
        return {"collectors": self._seconds(self.collectors), "postgres": self._postgres_seconds(),
                "load_generator": me.user + me.system, "machine": sum(machine) - machine.idle - machine.iowait,
                "wall": time.monotonic()}


def _cpu_figures(before: dict[str, float], after: dict[str, float], acknowledged: int) -> dict[str, float]:
    """Pure: CPU seconds over the run and what they imply per session and per core."""
    wall = after["wall"] - before["wall"]
    out: dict[str, float] = {}
    for part in ("collectors", "postgres", "load_generator", "machine"):
        seconds = after[part] - before[part]
        out[f"cpu_s_{part}"] = seconds
        out[f"cores_busy_{part}"] = seconds / wall if wall else float("nan")
    collector_s = out["cpu_s_collectors"]
    out["collector_cpu_ms_per_1k_sessions"] = 1e6 * collector_s / acknowledged if acknowledged else float("nan")
    out["sessions_per_s_per_collector_core"] = acknowledged / collector_s if collector_s else float("nan")
    out["sessions_per_s_per_postgres_core"] = (acknowledged / out["cpu_s_postgres"]
                                               if out["cpu_s_postgres"] else float("nan"))
    return out


def _count_stored(database_url: str, run_id: str) -> tuple[int, int, int]:
    """(sessions stored, session_keys held, rollup sessions) for this run's ids."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(Session)
                                  .where(Session.session_id.like(f"{run_id}-%"))).scalar()
            keys = conn.execute(select(func.count()).select_from(SessionKey)
                                .where(SessionKey.session_id.like(f"{run_id}-%"))).scalar()
            rolled = conn.execute(select(func.coalesce(func.sum(Rollup.sessions), 0))).scalar()
    finally:
        engine.dispose()
    return int(stored), int(keys), int(rolled)


# Bytes on disk per table (a partitioned table's partitions summed, indexes and TOAST included).
_PG_SIZES = text("""
    SELECT c.relname, COALESCE((SELECT sum(pg_total_relation_size(t.relid)) FROM pg_partition_tree(c.oid) t),
                               pg_total_relation_size(c.oid))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
""")


def _table_sizes(database_url: str) -> dict[str, dict[str, int]]:
    """PostgreSQL only: bytes and rows of the tables ingest writes, for bytes per row."""
    if not database_url.startswith("postgresql"):
        return {}
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            sizes = {name: int(size) for name, size in conn.execute(_PG_SIZES)}
            out = {}
            for name in ("sessions", "session_keys", "stages", "samples", "rollups", "node_rollups"):
                if name in sizes:
                    rows = conn.execute(text(f"SELECT count(*) FROM {name}")).scalar()
                    out[name] = {"bytes": sizes[name], "rows": int(rows)}
    finally:
        engine.dispose()
    return out


def run_load(minutes: float = 3.0, rate: float = 1000.0, batch_size: int = 100, senders: int = 4,
             database_url: str | None = None, replicas: int = 1, interval_s: float = 10.0,
             progress: bool = True, evaluator: bool = True, mode: Mode = Mode(),
             replica_cpus: float | None = None, warmup_s: float = 0.0) -> dict[str, Any]:
    """Run the load test and return its figures (see the module docstring). `warmup_s`: load
    sent first and not measured (a fresh replica's first batches fill its caches and pools)."""
    if replicas > 1 and not (database_url or "").startswith("postgresql"):
        raise ValueError("replicas: more than one replica needs a PostgreSQL --database-url")
    pool = templates(20_000)
    run_id = f"load-{uuid.uuid4().hex[:10]}"
    duration = minutes * 60.0
    with tempfile.TemporaryDirectory(prefix="asrwatch-load-") as tmp, \
            collectors(Path(tmp), database_url, replicas, evaluator, mode, replica_cpus) as (live, prometheus, quotas):
        database_url = live[0].database_url
        targets = [(r.url, r.tokens["ingest"]) for r in live]
        if warmup_s > 0:
            _warm_up(targets, pool, rate, batch_size, senders, warmup_s)
        _, _, rolled_before = _count_stored(database_url, run_id)
        ledger = Ledger()
        sampler = RssSampler([r.process.pid for r in live])
        sampler.start()
        meter = CpuMeter([r.process.pid for r in live], database_url)
        load_before = psutil.getloadavg()
        cpu_before = meter.read()
        throttled_before = [q.throttled() for q in quotas]
        start = time.monotonic()
        threads = _started(Sender(targets, pool, run_id, rate, batch_size, start, start + duration, ledger), senders)
        _show_progress(threads, ledger, sampler, start, duration, progress)
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        cpu_after = meter.read()
        throttled = _throttled_share(throttled_before, [q.throttled() for q in quotas])
        load_after = psutil.getloadavg()
        sampler.stop.set()
        sampler.join()
        stored, keys, rolled_after = _count_stored(database_url, run_id)
        sizes = _table_sizes(database_url)
        prometheus_series = prometheus.series() if prometheus else None
        alive = all(r.process.poll() is None for r in live)
    figures = _figures(ledger, sampler.samples, start, elapsed, interval_s, stored, rolled_after - rolled_before,
                       dict(minutes=minutes, offered_per_s=rate, batch_size=batch_size, senders=senders,
                            replicas=replicas, evaluator=evaluator, store=mode.store,
                            sample_rate=mode.sample_rate, sli_source=mode.sli_source, mode=mode.describe(),
                            replica_cpus=replica_cpus, throttled_share=throttled, warmup_s=warmup_s,
                            database=database_url.split(":", 1)[0].split("+", 1)[0],
                            collector_alive_at_end=alive),
                       keys=keys)
    figures.update(_cpu_figures(cpu_before, cpu_after, ledger.acknowledged))
    figures.update(load_before=list(load_before), load_after=list(load_after), table_sizes=sizes,
                   prometheus_series=prometheus_series)
    return figures


def _warm_up(targets: list[tuple[str, str]], pool: list[dict], rate: float, batch_size: int, senders: int,
             seconds: float) -> None:
    """The same load for `seconds`, under ids of its own, so the measured run's counts exclude it."""
    print(f"warming up for {seconds:g} s (not measured)", flush=True)
    start = time.monotonic()
    for t in _started(Sender(targets, pool, f"warmup-{uuid.uuid4().hex[:10]}", rate, batch_size, start,
                             start + seconds, Ledger()), senders):
        t.join()


def _started(sender: Sender, senders: int) -> list[threading.Thread]:
    """`senders` threads posting `sender`'s batches, started."""
    threads = [threading.Thread(target=sender.run, args=(w,), daemon=True) for w in range(senders)]
    for t in threads:
        t.start()
    return threads


def _throttled_share(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> float | None:
    """Share of the replicas' CFS periods in which they hit their quota: near 1 means the
    replicas, not storage, set the pace."""
    if not before:
        return None
    periods = sum(a[0] - b[0] for a, b in zip(after, before))
    throttled = sum(a[1] - b[1] for a, b in zip(after, before))
    return throttled / periods if periods else 0.0


def _show_progress(threads, ledger: Ledger, sampler: RssSampler, start: float, duration: float,
                   progress: bool) -> None:
    bar = tqdm(total=round(duration), desc="load", disable=not progress, dynamic_ncols=True,
               bar_format="{desc} {bar} {n_fmt}/{total_fmt} s{postfix}")
    shown = 0
    while any(t.is_alive() for t in threads):
        time.sleep(1.0)
        now = time.monotonic()
        with ledger.lock:
            recent = [(n, lat) for t, n, lat in ledger.done if t > now - 10]
        rss = sampler.samples[-1][1] / 2**20 if sampler.samples else float("nan")
        bar.set_postfix_str(f"{sum(n for n, _ in recent) / 10:,.0f} sessions/s  "
                            f"p99 {percentile([lat for _, lat in recent], 0.99) * 1000:,.0f} ms  RSS {rss:,.0f} MB  "
                            f"errors {sum(ledger.errors.values())}")
        step = min(round(duration), round(now - start)) - shown
        if step > 0:
            bar.update(step)
            shown += step
    bar.close()


def _figures(ledger: Ledger, rss: list[tuple[float, int]], start: float, elapsed: float, interval_s: float,
             stored: int, rolled: int, run: dict[str, Any], keys: int = 0) -> dict[str, Any]:
    latencies = [lat for _, _, lat in ledger.done]
    intervals = []
    whole = int(elapsed // interval_s)  # only complete intervals: the tail is a partial one
    for i in range(whole):
        lo, hi = start + i * interval_s, start + (i + 1) * interval_s
        inside = [(n, lat) for t, n, lat in ledger.done if lo <= t < hi]
        memory = [r for t, r in rss if lo <= t < hi]
        intervals.append({"t_s": round((i + 1) * interval_s), "sessions_per_s": sum(n for n, _ in inside) / interval_s,
                          "p99_ms": percentile([lat for _, lat in inside], 0.99) * 1000,
                          "rss_mb": max(memory) / 2**20 if memory else float("nan")})
    window = min(60.0, elapsed / 3)  # "first minute" vs "last minute" (a third each on short runs)
    first = [r for t, r in rss if t < start + window]
    last = [r for t, r in rss if t >= start + elapsed - window]
    rates = [i["sessions_per_s"] for i in intervals]
    figures = {
        **run,
        "elapsed_s": elapsed,
        "sent": ledger.sent,
        "acknowledged": ledger.acknowledged,
        "duplicates": ledger.duplicates,
        "stored": stored,
        "session_keys": keys,
        "rollup_sessions": rolled,
        # Every acknowledged session is either stored or (sampled out) held as a key.
        "lost": ledger.acknowledged - stored - keys,
        "requests": len(latencies),
        "errors": dict(ledger.errors),
        "retries": ledger.retries,
        "sessions_per_s": ledger.acknowledged / elapsed if elapsed else 0.0,
        "min_interval_sessions_per_s": min(rates) if rates else float("nan"),
        "median_interval_sessions_per_s": statistics.median(rates) if rates else float("nan"),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000 if latencies else float("nan"),
        "rss_window_s": window,
        "rss_first_mb": statistics.mean(first) / 2**20 if first else float("nan"),
        "rss_last_mb": statistics.mean(last) / 2**20 if last else float("nan"),
        "rss_peak_mb": max(r for _, r in rss) / 2**20 if rss else float("nan"),
        "intervals": intervals,
    }
    figures["rss_growth_pct"] = 100 * (figures["rss_last_mb"] / figures["rss_first_mb"] - 1)
    return figures


def report(f: dict[str, Any]) -> str:
    held = "held" if f["min_interval_sessions_per_s"] >= 0.95 * f["offered_per_s"] > 0 else "not held"
    every = f["intervals"][0]["t_s"] if f["intervals"] else "-"
    offered = (f"{f['offered_per_s']:,.0f}/s ({held}: every {every} s interval at >= 95% of it)"
               if f["offered_per_s"] else "as fast as acknowledged")
    rows = [
        ("database", f"{f['database']}, {f['replicas']} replica(s), SLO evaluator {'on' if f['evaluator'] else 'off'}"),
        ("mode", f.get("mode", "store all, SLIs from local rollups")),
        ("duration", f"{f['elapsed_s']:.0f} s"),
        ("offered", offered),
        ("acknowledged", f"{f['sessions_per_s']:,.0f} sessions/s overall; per interval min "
                         f"{f['min_interval_sessions_per_s']:,.0f}, median {f['median_interval_sessions_per_s']:,.0f}"),
        ("batch", f"{f['batch_size']} sessions, {f['senders']} senders, {f['requests']:,} requests"),
        ("ingest latency", f"p50 {f['p50_ms']:,.1f} ms, p99 {f['p99_ms']:,.1f} ms, max {f['max_ms']:,.0f} ms"),
        ("loss", (f"acknowledged {f['acknowledged']:,}, stored {f['stored']:,}"
                  + (f" + session_keys {f['session_keys']:,}" if f.get("session_keys") else "")
                  + f", rollups {f['rollup_sessions']:,} -> lost {f['lost']}")),
        ("errors", (", ".join(f"{k}: {v}" for k, v in f["errors"].items()) or "none")
                   + (f" ({f['retries']} retries)" if f["retries"] else "")),
        ("collector RSS", f"first {f['rss_window_s']:.0f} s {f['rss_first_mb']:,.0f} MB, last {f['rss_window_s']:.0f} s "
                          f"{f['rss_last_mb']:,.0f} MB ({f['rss_growth_pct']:+.1f}%), peak {f['rss_peak_mb']:,.0f} MB"),
        ("machine", f"{psutil.cpu_count()} CPUs, load average before "
                    f"{' '.join(f'{x:.2f}' for x in f.get('load_before') or psutil.getloadavg())}, after "
                    f"{' '.join(f'{x:.2f}' for x in f.get('load_after') or psutil.getloadavg())}"),
    ]
    if "cpu_s_collectors" in f:
        postgres = (f"postgres {f['cpu_s_postgres']:.1f} s ({f['cores_busy_postgres']:.2f} cores), "
                    if f["database"] == "postgresql" else "")
        rows.append(("CPU", f"collectors {f['cpu_s_collectors']:.1f} s ({f['cores_busy_collectors']:.2f} cores), "
                            f"{postgres}load generator {f['cpu_s_load_generator']:.1f} s "
                            f"({f['cores_busy_load_generator']:.2f} cores); whole machine "
                            f"{f['cores_busy_machine']:.2f} of {psutil.cpu_count()} cores busy"))
        rows.append(("per core", f"{f['sessions_per_s_per_collector_core']:,.0f} sessions/s per collector core "
                                 f"({f['collector_cpu_ms_per_1k_sessions']:.0f} CPU ms per 1,000)"
                                 + (f", {f['sessions_per_s_per_postgres_core']:,.0f} sessions/s per PostgreSQL core"
                                    if postgres else "")))
    for name, size in (f.get("table_sizes") or {}).items():
        if size["rows"]:
            rows.append((f"table {name}", f"{size['rows']:,} rows, {size['bytes'] / 2**20:,.1f} MiB, "
                                          f"{size['bytes'] / size['rows']:,.0f} bytes/row"))
    if f.get("prometheus_series") is not None:
        rows.append(("prometheus", f"{f['prometheus_series']:,} head series"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    lines.append("")
    lines.append(f"{'interval end':>12}  {'sessions/s':>10}  {'p99 ms':>8}  {'RSS MB':>7}")
    lines += [f"{i['t_s']:>12}  {i['sessions_per_s']:>10,.0f}  {i['p99_ms']:>8,.0f}  {i['rss_mb']:>7,.0f}"
              for i in f["intervals"]]
    return "\n".join(lines)


def scaling(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pure: runs at several replica counts (rounds interleaved) -> one row per count, with
    sessions/s min/median/max over rounds and the median's ratio to the fewest replicas'."""
    by_count: dict[int, list[dict[str, Any]]] = {}
    for run in runs:
        by_count.setdefault(run["replicas"], []).append(run)
    rows = []
    for count in sorted(by_count):
        group = by_count[count]
        rates = [r["sessions_per_s"] for r in group]
        rows.append({
            "replicas": count, "rounds": len(group), "sessions_per_s_min": min(rates),
            "sessions_per_s_median": statistics.median(rates), "sessions_per_s_max": max(rates),
            **{key: statistics.median(r[key] for r in group)
               for key in ("cores_busy_collectors", "cores_busy_postgres", "cores_busy_load_generator",
                           "cores_busy_machine", "p99_ms")},
            "throttled_share": (statistics.median(r["throttled_share"] for r in group)
                                if group[0].get("throttled_share") is not None else None),
            "lost": sum(r["lost"] for r in group),
        })
    base = rows[0]["sessions_per_s_median"] if rows else 0.0
    for row in rows:
        row["speedup"] = row["sessions_per_s_median"] / base if base else float("nan")
        row["speedup_per_replica"] = row["speedup"] * rows[0]["replicas"] / row["replicas"]
    return rows


def scaling_report(rows: list[dict[str, Any]], header: str) -> str:
    lines = [header, "",
             f"{'replicas':>8}  {'sessions/s min / median / max':>30}  {'speedup':>7}  {'per replica':>11}  "
             f"{'collectors':>10}  {'postgres':>8}  {'machine':>7}  {'throttled':>9}  {'p99 ms':>7}  lost"]
    for r in rows:
        throttled = f"{r['throttled_share']:.0%}" if r["throttled_share"] is not None else "-"
        lines.append(
            f"{r['replicas']:>8}  {r['sessions_per_s_min']:>9,.0f} / {r['sessions_per_s_median']:>6,.0f} / "
            f"{r['sessions_per_s_max']:>7,.0f}  {r['speedup']:>6.2f}x  {r['speedup_per_replica']:>10.2f}x  "
            f"{r['cores_busy_collectors']:>10.2f}  {r['cores_busy_postgres']:>8.2f}  {r['cores_busy_machine']:>7.2f}  "
            f"{throttled:>9}  {r['p99_ms']:>7,.0f}  {r['lost']}")
    lines.append("(cores busy, medians over rounds; throttled = share of the replicas' CFS periods spent at "
                 "their CPU limit)")
    return "\n".join(lines)


def _lost(figures: dict[str, Any], mode: Mode) -> str | None:
    if figures["lost"] or figures["stored"] + figures["session_keys"] != figures["acknowledged"]:
        return "LOSS: acknowledged sessions missing from the database"
    if mode.store == "sample" and figures["rollup_sessions"] != figures["acknowledged"]:
        return "LOSS: acknowledged sessions missing from the rollups"
    return None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="how long to offer load (0.5 for a quick run)")
    parser.add_argument("--rate", type=float, default=1000.0, help="offered sessions/s; 0 = as fast as acknowledged")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a fresh SQLite file)")
    parser.add_argument("--replicas", type=int, default=1, help="collectors on the same PostgreSQL, load spread")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds per reported interval")
    parser.add_argument("--no-evaluator", action="store_true", help="ingest only (to tell its memory apart)")
    parser.add_argument("--store", choices=["all", "sample"], default="all",
                        help="store every session (default) or a sample (store.sessions: sample)")
    parser.add_argument("--sample-rate", type=float, help="stored share with --store sample (default 0.01)")
    parser.add_argument("--sli-source", choices=["local", "prometheus"], default="local",
                        help="where the evaluator reads SLIs (default: the local rollups)")
    parser.add_argument("--prometheus-url", help="with --sli-source prometheus: a Prometheus that scrapes the "
                                                  "replicas (default: start /usr/bin/prometheus here)")
    parser.add_argument("--replica-cpus", type=float,
                        help="limit each replica to this many CPUs (a cgroup CFS quota, as a pod's "
                             "resources.limits.cpu; needs root), so the replicas rather than storage set the pace")
    parser.add_argument("--scale", help="replica counts to run in turn, e.g. 1,2,3: throughput against replicas "
                                        "(with --replica-cpus: collectors limited, storage not the bottleneck)")
    parser.add_argument("--rounds", type=int, default=1, help="with --scale: rounds, each over every count")
    parser.add_argument("--warmup", type=float, default=0.0,
                        help="seconds of load sent first and not measured (default 0)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.replica_cpus is not None:
        if not 0 < args.replica_cpus <= (psutil.cpu_count() or 1):
            parser.error(f"--replica-cpus: a share of this machine's {psutil.cpu_count()} CPUs (> 0), "
                         f"got {args.replica_cpus:g}")
        if problem := CpuQuota.available():
            parser.error(f"--replica-cpus: {problem}")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0 seconds")
    counts = [args.replicas]
    if args.scale:
        try:
            counts = [int(c) for c in args.scale.split(",")]
        except ValueError:
            parser.error(f"--scale: replica counts separated by commas, got {args.scale!r}")
        if not counts or min(counts) < 1:
            parser.error("--scale: every replica count must be >= 1")
        if args.replicas != 1:
            parser.error("--scale gives the replica counts: leave out --replicas")
    if max(counts) > 1 and not (args.database_url or "").startswith("postgresql"):
        parser.error("more than one replica needs a PostgreSQL --database-url")
    if args.store == "all" and args.sample_rate not in (None, 1.0):
        parser.error("--sample-rate needs --store sample")
    if args.prometheus_url and args.sli_source != "prometheus":
        parser.error("--prometheus-url needs --sli-source prometheus")
    mode = Mode(store=args.store, sample_rate=(args.sample_rate or 0.01) if args.store == "sample" else 1.0,
                sli_source=args.sli_source, prometheus_url=args.prometheus_url)
    print(f"mode: {mode.describe()}", flush=True)
    runs = []
    for round_ in range(args.rounds if args.scale else 1):
        for count in counts:
            if args.scale:
                print(f"round {round_ + 1}/{args.rounds}: {count} replica(s)", flush=True)
            runs.append(run_load(args.minutes, args.rate, args.batch_size, args.senders, args.database_url, count,
                                 args.interval, evaluator=not args.no_evaluator, mode=mode,
                                 replica_cpus=args.replica_cpus, warmup_s=args.warmup))
            print(report(runs[-1]), flush=True)
            if problem := _lost(runs[-1], mode):
                _write_json(args.json, runs[0] if not args.scale else {"runs": runs})  # what was measured
                print(problem, file=sys.stderr)
                raise SystemExit(1)
    figures: dict[str, Any] = runs[0]
    if args.scale:
        limit = f"each limited to {args.replica_cpus:g} CPUs" if args.replica_cpus else "no CPU limit"
        rows = scaling(runs)
        print(scaling_report(rows, f"Throughput against replicas ({mode.describe()}; replicas {limit}; batches of "
                                   f"{args.batch_size}; {args.senders} senders; {args.minutes:g} min each; "
                                   f"{psutil.cpu_count()} CPUs)"))
        figures = {"scaling": rows, "runs": runs}
    _write_json(args.json, figures)
    return figures


def _write_json(path: str | None, figures: dict[str, Any]) -> None:
    if path:
        Path(path).write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
