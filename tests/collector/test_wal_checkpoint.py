"""SQLite WAL checkpoints run by the server's background job (`collector.store.wal_checkpoint`),
not by the ingest commit that crosses SQLite's default 1,000 pages."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timezone

from collector.store import SessionIn, WalCheckpointer, checkpointed_file, make_engine, migrate, store_sessions
from collector.store.database import WAL_AUTOCHECKPOINT_PAGES


def _store(engine, first: int, n: int) -> None:
    records = [SessionIn.model_validate({"session_id": f"w-{first + i}", "ts": "2026-11-02T10:00:00Z",
                                         "model_version": "m", "status": "ok", "hypothesis": "x " * 200})
               for i in range(n)]
    store_sessions(engine, records, datetime(2026, 11, 2, 11, tzinfo=timezone.utc))


def test_ingest_leaves_the_wal_to_the_checkpoint_job(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == WAL_AUTOCHECKPOINT_PAGES
    checkpointer = WalCheckpointer(checkpointed_file(engine))
    for i in range(12):  # past SQLite's default 1,000 pages: no commit copied the WAL back
        _store(engine, i * 500, 500)
    wal = tmp_path / "a.db-wal"
    frames, done = checkpointer.run()
    assert frames > 1000 and done == frames  # everything committed is now in the database file
    assert wal.stat().st_size >= frames * 4096
    _store(engine, 10_000, 10)  # the next commit starts the WAL over, cut back to 4 MiB
    assert checkpointer.run()[0] < frames and wal.stat().st_size <= 4 * 2**20
    # Nothing was lost on the way: another connection reads every session from the file.
    conn = sqlite3.connect(tmp_path / "a.db")
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 12 * 500 + 10
    conn.close()
    checkpointer.close()
    engine.dispose()


def test_a_failing_pass_is_logged_once_per_reason(tmp_path, caplog):
    (tmp_path / "bad.db").write_bytes(b"not a database" * 100)
    checkpointer = WalCheckpointer(tmp_path / "bad.db")
    with caplog.at_level(logging.WARNING, logger="collector.store"):
        assert checkpointer.run() is None and checkpointer.run() is None
    assert len([r for r in caplog.records if "WAL checkpoint" in r.getMessage()]) == 1
    checkpointer.close()


def test_nothing_to_checkpoint_outside_a_writable_sqlite_file(postgres_url, tmp_path):
    assert checkpointed_file(make_engine(postgres_url)) is None
    for query in ("mode=ro&uri=true", "immutable=1&uri=true"):  # opened read-only: never written
        assert checkpointed_file(make_engine(f"sqlite:///file:{tmp_path / 'a.db'}?{query}")) is None
    assert WalCheckpointer(tmp_path / "not-yet.db").run() is None
    assert not (tmp_path / "not-yet.db").exists()


def test_the_server_runs_the_checkpoint_job_on_sqlite_only(tmp_path, postgres_url):
    from asrwatch.server import build_services, jobs
    from asrwatch.settings import Settings

    def names(url: str) -> list[str]:
        services = build_services(Settings(database_url=url, evaluator_enabled=False))
        try:
            return [job.name for job in jobs(services)]
        finally:
            services.engine.dispose()

    assert "WAL checkpoint" in names(f"sqlite:///{tmp_path / 'a.db'}")
    assert "WAL checkpoint" not in names(postgres_url)
