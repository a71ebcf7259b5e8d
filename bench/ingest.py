"""Ingest throughput: POST /api/v1/sessions in batches of 1000 vs a raw SQLite executemany.

Both sides store the same rows into the same schema on the same disk in the same run, with
the same durability (WAL, synchronous=NORMAL). Prints sessions/s for each, their ratio
(goal >= 0.25) and the collector's peak RSS (goal < 300 MB).

    python bench/ingest.py [--batches 30] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from collector.database import make_engine, migrate  # noqa: E402
from live_collector import running_collector  # noqa: E402

START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def make_rows(n: int, seed: int = 7, per_minute: int = 1000) -> list[dict]:
    """A busy fleet: `per_minute` sessions a minute, traffic skewed to big tenants and stable."""
    rng = random.Random(seed)
    tenants = [f"t{i}" for i in range(12)]
    tenant_weights = [1 / (i + 1) for i in range(12)]
    rows = []
    for i in range(n):
        rows.append({
            "session_id": f"bench-{i}", "ts": (START + timedelta(seconds=i * 60 / per_minute)).isoformat(),
            "model_version": rng.choices(["stable-1", "canary-2"], [0.9, 0.1])[0],
            "region": rng.choices(["us", "eu", "ap"], [0.5, 0.3, 0.2])[0],
            "tenant": rng.choices(tenants, tenant_weights)[0],
            "channel": rng.choice(["web", "mobile", "telephony", "far_field"]),
            "language": "en", "pool": rng.choice(["a100", "l4"]), "status": "ok",
            "audio_seconds": rng.uniform(1, 20), "first_partial_ms": rng.lognormvariate(5.3, 0.4),
            "final_latency_ms": rng.lognormvariate(6.5, 0.5), "queue_ms": rng.expovariate(0.1),
            "partial_rewrites": rng.randrange(5), "confidence": rng.random(), "snr_db": rng.gauss(20, 6),
            "gpu_seconds": rng.uniform(0.05, 2), "turn_success": True, "shadow": False, "retries": 0,
            "hypothesis": "turn on the lights in the kitchen please",
        })
    return rows


def raw_insert_rate(rows: list[dict], batch_size: int, workdir: Path) -> float:
    db = workdir / "raw.db"
    migrate(make_engine(f"sqlite:///{db}"))  # the same table definition the collector uses
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    cols = list(rows[0]) + ["received_at"]
    sql = f"INSERT INTO sessions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    now = datetime.now(timezone.utc).isoformat()
    start = time.perf_counter()
    for i in range(0, len(rows), batch_size):
        batch = [tuple(r[c] for c in cols[:-1]) + (now,) for r in rows[i:i + batch_size]]
        conn.executemany(sql, batch)
        conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows) / elapsed


def collector_rate(rows: list[dict], batch_size: int, workdir: Path, senders: int = 1) -> tuple[float, float]:
    """Sessions/s acknowledged by a real collector, `senders` clients posting side by side
    (a fleet has many; with one, each batch waits for the previous answer)."""
    import threading

    import httpx
    import psutil

    with running_collector(workdir / "collector") as live:
        proc = psutil.Process(live.process.pid)
        bodies = [orjson.dumps(rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)]
        headers = {"Authorization": f"Bearer {live.tokens['ingest']}", "content-type": "application/json"}
        peak = [0]
        with httpx.Client(base_url=live.url, headers=headers, timeout=120) as http:
            warm = [dict(r, session_id=f"warm-{i}") for i, r in enumerate(make_rows(10, seed=1))]
            http.post("/api/v1/sessions", content=orjson.dumps(warm))

        def send(share: list[bytes]) -> None:
            with httpx.Client(base_url=live.url, headers=headers, timeout=120) as client:
                for body in share:
                    r = client.post("/api/v1/sessions", content=body)
                    assert r.status_code == 200 and r.json()["accepted"] == batch_size, r.text[:300]
                    peak[0] = max(peak[0], proc.memory_info().rss)

        threads = [threading.Thread(target=send, args=(bodies[i::senders],)) for i in range(senders)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        return len(rows) / elapsed, peak[0] / 2**20


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=1, help="clients posting side by side (default 1)")
    parser.add_argument("--json", type=Path, help="also write the figures here (for `python -m bench`)")
    args = parser.parse_args()
    rows = make_rows(args.batches * args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        raw = raw_insert_rate(rows, args.batch_size, Path(tmp))
        api, rss = collector_rate(rows, args.batch_size, Path(tmp), args.senders)
    ratio = api / raw
    print(f"raw sqlite executemany : {raw:10.0f} sessions/s")
    print(f"POST /api/v1/sessions  : {api:10.0f} sessions/s  (batches of {args.batch_size}, {args.senders} sender(s))")
    print(f"ratio                  : {ratio:10.3f}  (goal >= 0.25)")
    print(f"collector peak RSS     : {rss:10.1f} MB (goal < 300)")
    figures = {"raw_per_s": raw, "api_per_s": api, "ratio": ratio, "peak_rss_mb": rss}
    if args.json:
        args.json.write_text(orjson.dumps(figures).decode())
    return figures


if __name__ == "__main__":
    main()
