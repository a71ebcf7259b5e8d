"""Several collector replicas (real `asrwatch serve` subprocesses) on one database, and the
checks the scale-out tests share: a recomputation of every rollup from the stored raw rows."""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from collector.histogram import bucket_code
from collector.models import ROLLUP_DIMENSIONS, Rollup, Sample, Session
from collector.rollups import COUNTERS, HISTOGRAMS, SUMS, confidence_code, rollup_key, snr_code
from live_collector import LiveCollector, free_port, write_config
from rollup_compare import normalized


@contextlib.contextmanager
def replicas(tmp_path: Path, database_url: str, count: int = 2,
             config: dict[str, Any] | None = None) -> Iterator[list[LiveCollector]]:
    """`count` collectors on one database, started at once (so their migrations race too)."""
    live: list[LiveCollector] = []
    for i in range(count):
        workdir = tmp_path / f"replica-{i}"
        workdir.mkdir(parents=True, exist_ok=True)
        tokens = {scope: f"{scope}-{secrets.token_hex(12)}" for scope in ("ingest", "read", "admin")}
        config_path = workdir / "asrwatch.yaml"
        write_config(config_path, database_url, tokens, config)
        live.append(LiveCollector(f"http://127.0.0.1:{free_port()}", database_url, tokens, config_path, workdir))
    errors: list[BaseException] = []

    def start(replica: LiveCollector) -> None:
        try:
            replica.start(timeout_s=90)
        except BaseException as exc:  # reported below, after every replica was tried
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(r,)) for r in live]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        if errors:
            raise errors[0]
        yield live
    finally:
        for replica in live:
            replica.stop()


def recomputed_rollups(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every rollup as it must be, counted afresh from the stored sessions and samples.

    Written out plainly here rather than through `collector.rollups.accumulate_*`, so that a
    slip in the ingest fold shows up too; only the bucket definitions are shared."""
    sessions = {r["session_id"]: dict(r) for r in conn.execute(select(Session.__table__)).mappings()}
    out: dict[str, dict[str, Any]] = {}

    def entry(row: dict[str, Any]) -> dict[str, Any]:
        key = rollup_key(row["ts"].replace(second=0, microsecond=0), {d: row[d] for d in ROLLUP_DIMENSIONS})
        if key not in out:
            out[key] = {**{c: 0 for c in COUNTERS}, **{s: 0.0 for s in SUMS}, **{h: Counter() for h in HISTOGRAMS}}
        return out[key]

    for row in sessions.values():
        e = entry(row)
        ok = row["status"] == "ok"
        e["sessions"] += 1
        e[f"status_{row['status']}"] += 1
        e["successful_turns"] += ok and row["turn_success"] is not False and not row["shadow"]
        e["shadow_sessions"] += bool(row["shadow"])
        e["retries"] += row["retries"] or 0
        e["empty_hypotheses"] += ok and row["hypothesis"] is not None and row["hypothesis"].strip() == ""
        e["partial_rewrites"] += row["partial_rewrites"] or 0
        e["audio_seconds"] += row["audio_seconds"] or 0.0
        e["gpu_seconds"] += row["gpu_seconds"] or 0.0
        for column, hist in (("final_latency_ms", "latency_hist"), ("first_partial_ms", "first_partial_hist"),
                             ("queue_ms", "queue_hist")):
            if row[column] is not None:
                e[hist][bucket_code(row[column])] += 1
        if row["confidence"] is not None:
            e["confidence_sum"] += row["confidence"]
            e["confidence_count"] += 1
            e["confidence_hist"][confidence_code(row["confidence"])] += 1
        if row["snr_db"] is not None:
            e["snr_sum"] += row["snr_db"]
            e["snr_count"] += 1
            e["snr_hist"][snr_code(row["snr_db"])] += 1
    for sample in conn.execute(select(Sample.__table__)).mappings():
        e = entry(sessions[sample["session_id"]])
        errors = sample["substitutions"] + sample["deletions"] + sample["insertions"]
        e["wer_utterances"] += 1
        e["wer_substitutions"] += sample["substitutions"]
        e["wer_deletions"] += sample["deletions"]
        e["wer_insertions"] += sample["insertions"]
        e["wer_words"] += sample["ref_words"]
        e["wer_pairs"][f"{errors}:{sample['ref_words']}"] += 1
    return {key: normalized(values) for key, values in out.items()}


def stored_rollups(conn: Connection) -> dict[str, dict[str, Any]]:
    rows = conn.execute(select(Rollup.__table__)).mappings()
    out = {}
    for row in rows:
        assert row["rollup_key"] == rollup_key(row["minute"], {d: row[d] for d in ROLLUP_DIMENSIONS}), row["rollup_key"]
        out[row["rollup_key"]] = normalized(row)
    return out
