"""A full disk or a read-only database: ingest answers a clear 507 / 503 naming the cause
(not a 500, not a silent 200), senders keep their records, nothing stored is lost or
corrupted, and ingest works again once the condition is fixed.

The full disk is real: a small tmpfs mounted for the test (needs root or passwordless sudo)
that runs out of space under ingest, then grows. Read-only is real too: SQLite opened through
its read-only URI, and PostgreSQL switched to read-only transactions (as after a failover to
a standby) on the test's own throwaway database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from live_collector import running_collector
from postgres import ADMIN_URL
from prerequisites import missing
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from collector.client import CollectorClient
from collector.store.database import DISK_FULL, READ_ONLY, make_engine, migrate, storage_problem
from collector.store.ingest import store_sessions
from collector.store.models import Rollup, Session
from collector.store.schemas import SessionIn

TS = "2026-11-01T10:00:00Z"
TRANSCRIPT = "please transfer me to the billing department about my last invoice " * 20


def _records(prefix: str, n: int) -> list[dict]:
    return [{"session_id": f"{prefix}-{i}", "ts": TS, "model_version": "mv-storage", "status": "ok",
             "region": f"r{i % 40}", "final_latency_ms": 300.0 + i, "hypothesis": TRANSCRIPT} for i in range(n)]


def _privileged(*args: str) -> list[str]:
    if os.geteuid() == 0:
        return list(args)
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n", *args]
    missing("mounting a small tmpfs needs root or passwordless sudo")
    raise AssertionError("unreachable")


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size},uid={os.getuid()},gid={os.getgid()},mode=0700"
    done = subprocess.run(_privileged("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)),
                          capture_output=True, text=True)
    if done.returncode != 0:
        missing(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(_privileged("umount", "-l", str(path)), capture_output=True)


def _check_sqlite(path: Path) -> dict:
    conn = sqlite3.connect(path)
    try:
        return {"integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
                "ids": {r[0] for r in conn.execute("SELECT session_id FROM sessions")},
                "rolled": conn.execute("SELECT coalesce(sum(sessions), 0) FROM rollups").fetchone()[0]}
    finally:
        conn.close()


def _spooling_client(live, spool: Path) -> CollectorClient:
    return CollectorClient(live.url, live.tokens["ingest"], spool_dir=spool, max_retries=1, backoff_s=0.01,
                           max_backoff_s=0.05)


def test_full_disk_answers_507_keeps_stored_data_and_recovers(tmp_path):
    volume = tmp_path / "volume"
    with small_tmpfs(volume, "3m"):
        db = volume / "asrwatch.db"
        with running_collector(tmp_path / "work", database_url=f"sqlite:///{db}") as live:
            acknowledged: set[str] = set()
            with live.client("ingest") as http:
                # ~0.1 MB of transcripts per batch fills 3 MB quickly; then smaller batches use up
                # what a refused big one leaves, so the client's batch below is refused as well.
                for size in (100, 20):
                    for batch in range(200):
                        records = _records(f"fill{size}-{batch}", size)
                        full = http.post("/api/v1/sessions", json=records)
                        if full.status_code != 200:
                            break
                        acknowledged.update(r["session_id"] for r in records)
                spooled = _spooling_client(live, tmp_path / "spool").post_sessions(_records("while-full", 20))
                while_full = _check_sqlite(db)

                subprocess.run(_privileged("mount", "-o", "remount,size=64m", str(volume)), check=True)
                retried = http.post("/api/v1/sessions", json=records)
                replayed = _spooling_client(live, tmp_path / "spool").replay_spool()
            log = live.log()
        after = _check_sqlite(db)

    assert acknowledged, "the disk filled before anything was stored: make the tmpfs larger"
    # A clear answer naming the cause, which senders treat like an outage (retry, then spool).
    assert full.status_code == 507, full.text
    assert "storage full" in full.json()["detail"] and full.headers["retry-after"].isdigit()
    assert "storage full" in log
    assert spooled == {"spooled": 20}
    # Nothing acknowledged was lost, the refused batch left no trace, and the file is sound.
    assert while_full["integrity"] == "ok" and while_full["ids"] == acknowledged
    assert while_full["rolled"] == len(acknowledged)
    # Space freed: the same collector takes the refused batch and the client's spool.
    assert retried.status_code == 200 and retried.json()["accepted"] == 20
    assert replayed == 20
    assert after["integrity"] == "ok"
    assert after["ids"] == acknowledged | {r["session_id"] for r in records + _records("while-full", 20)}
    assert after["rolled"] == len(after["ids"])


def _stored_count(live, model_version: str = "mv-storage") -> int:
    """Sessions stored, read through the API's aggregates (reading transcripts is audited, i.e.
    a write, and is refused on a read-only database by design)."""
    with live.client("read") as http:
        answer = http.get("/api/v1/cost", params={"group_by": "model_version", "model_version": model_version,
                                                  "since": "2026-11-01T00:00:00Z", "until": "2026-11-02T00:00:00Z"})
    assert answer.status_code == 200, answer.text
    return sum(row["sessions"] for row in answer.json())


def test_read_only_sqlite_answers_503_serves_reads_and_recovers(tmp_path):
    db = tmp_path / "data" / "asrwatch.db"
    engine = make_engine(f"sqlite:///{db}")  # stored through the ingest code, in-process
    migrate(engine)
    stored = store_sessions(engine, [SessionIn.model_validate(r) for r in _records("before", 50)],
                            datetime.now(timezone.utc))
    engine.dispose()
    assert len(stored.accepted) == 50
    before = _check_sqlite(db)

    # The same database, now read-only (as a restored snapshot or a read-only volume would be).
    with running_collector(tmp_path / "ro", database_url=f"sqlite:///file:{db}?mode=ro&uri=true") as live:
        with live.client("ingest") as http:
            refused = http.post("/api/v1/sessions", json=_records("while-ro", 10))
        readable = _stored_count(live)
        spooled = _spooling_client(live, tmp_path / "spool").post_sessions(_records("spooled", 20))
        log = live.log()
    while_ro = _check_sqlite(db)

    with running_collector(tmp_path / "rw-again", database_url=f"sqlite:///{db}") as live:
        replayed = _spooling_client(live, tmp_path / "spool").replay_spool()
        with live.client("ingest") as http:
            again = http.post("/api/v1/sessions", json=_records("while-ro", 10))
    after = _check_sqlite(db)

    assert refused.status_code == 503 and refused.headers["retry-after"].isdigit(), refused.text
    assert "read-only" in refused.json()["detail"] and "read-only" in log
    assert readable == 50  # reads still served
    assert spooled == {"spooled": 20}
    assert while_ro == before and before["integrity"] == "ok" and before["rolled"] == 50
    assert replayed == 20 and again.json()["accepted"] == 10
    assert after["integrity"] == "ok" and len(after["ids"]) == after["rolled"] == 80


def _set_read_only(postgres_url: str, read_only: bool) -> None:
    """Flip the test's own database to read-only transactions and drop its connections (as a
    failover to a standby would): the collector reconnects into the new mode."""
    name = make_url(postgres_url).database
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        mode = "on" if read_only else "off"
        conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {mode}'))
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
    admin.dispose()


@pytest.mark.postgres
def test_read_only_postgres_answers_503_then_recovers_without_restart(tmp_path, postgres_url):
    with running_collector(tmp_path, database_url=postgres_url) as live:
        with live.client("ingest") as http:
            assert http.post("/api/v1/sessions", json=_records("before", 50)).json()["accepted"] == 50
            _set_read_only(postgres_url, True)
            refused = http.post("/api/v1/sessions", json=_records("while-ro", 10))
            readable = _stored_count(live)
            spooled = _spooling_client(live, tmp_path / "spool").post_sessions(_records("spooled", 20))
            _set_read_only(postgres_url, False)
            again = http.post("/api/v1/sessions", json=_records("while-ro", 10))
            replayed = _spooling_client(live, tmp_path / "spool").replay_spool()
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(Session)).scalar()
        rolled = conn.execute(select(func.sum(Rollup.sessions))).scalar()
    engine.dispose()

    assert refused.status_code == 503 and "read-only" in refused.json()["detail"], refused.text
    assert readable == 50 and spooled == {"spooled": 20}
    assert again.status_code == 200 and again.json()["accepted"] == 10 and replayed == 20
    assert stored == rolled == 80


def test_storage_problem_names_the_cause_from_driver_error_codes(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'unused.db'}")
    disk_full = OperationalError("INSERT", {}, psycopg.errors.DiskFull("could not extend file"))
    read_only = OperationalError("INSERT", {}, psycopg.errors.ReadOnlySqlTransaction("read-only transaction"))
    outage = OperationalError("connect", {}, psycopg.OperationalError("connection refused"))
    assert storage_problem(disk_full, engine) is DISK_FULL and DISK_FULL.status == 507
    assert storage_problem(read_only, engine) is READ_ONLY and READ_ONLY.status == 503
    assert storage_problem(outage, engine) is None  # an outage: the plain 503 of the app
    engine.dispose()


def test_sqlite_on_a_read_only_mount_is_named_read_only(tmp_path):
    """SQLite cannot even open a WAL database on a read-only file system; its generic
    "unable to open" is named read-only by looking at the mount."""
    volume = tmp_path / "volume"
    with small_tmpfs(volume, "1m"):
        conn = sqlite3.connect(volume / "a.db")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (a)")
        conn.close()
        subprocess.run(_privileged("mount", "-o", "remount,ro", str(volume)), check=True)
        engine = make_engine(f"sqlite:///{volume / 'a.db'}")
        with pytest.raises(OperationalError) as raised:
            with engine.connect() as c:
                c.execute(text("INSERT INTO t VALUES (1)"))
        named = storage_problem(raised.value, engine)  # while the volume is still mounted read-only
        engine.dispose()
    assert "unable to open" in str(raised.value)
    assert named is READ_ONLY
