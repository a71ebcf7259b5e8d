"""An ingesting collector checkpoints SQLite's write-ahead log from a background thread, so its
commits do not (collector.wal_checkpoint); the automatic checkpoint stays only as a backstop."""

from __future__ import annotations

import gc
import random
import time
from datetime import datetime, timedelta, timezone

from collector.database import ingest_turn, make_engine, migrate
from collector.ingest import store_sessions
from collector.schemas import SessionIn
from collector.wal_checkpoint import BACKSTOP_PAGES, _RUNNING

AT = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def _sessions(n: int, start: int) -> list[SessionIn]:
    rng = random.Random(start)
    return [SessionIn(session_id=f"c-{start + i}", ts=AT + timedelta(seconds=i), model_version="v1",
                      status="ok", region=rng.choice(["eu", "us"]), hypothesis="x" * 200,
                      final_latency_ms=rng.uniform(10, 5000)) for i in range(n)]


def _wait_for(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _autocheckpoint(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()


def test_ingest_leaves_checkpoints_to_the_background_thread(tmp_path):
    path = tmp_path / "wal.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    assert _autocheckpoint(engine) == BACKSTOP_PAGES
    with ingest_turn(engine):
        pass  # the first ingest starts the checkpointer
    assert _RUNNING[path.resolve()].is_alive()
    size_before = path.stat().st_size
    for start in range(0, 4000, 500):  # a few MB of log, far below the backstop
        with ingest_turn(engine):
            assert len(store_sessions(engine, _sessions(500, start), AT).accepted) == 500
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 1_000_000
    # The thread copies the log into the database file; commits alone would not (backstop).
    assert _wait_for(lambda: path.stat().st_size > size_before + 1_000_000)
    engine.dispose()
    del engine
    # Gone with its engine. Collect on every look: the thread may have held the engine (an
    # SQLAlchemy engine sits in reference cycles) at the moment of any one collection.
    assert _wait_for(lambda: gc.collect() >= 0 and path.resolve() not in _RUNNING)
