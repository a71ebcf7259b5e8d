"""kill -9 of the collector mid-ingest loses no acknowledged session (SQLite and PostgreSQL)."""

import threading
import time

import httpx
from live_collector import running_collector
from sqlalchemy import create_engine, func, select, text

from collector.store.models import Rollup, Session


def test_kill_9_mid_ingest_loses_no_acknowledged_session(tmp_path, database_url):
    acknowledged: set[str] = set()
    stop = threading.Event()

    with running_collector(tmp_path, database_url=database_url) as live:
        def sender(worker: int) -> None:
            headers = {"Authorization": f"Bearer {live.tokens['ingest']}"}
            with httpx.Client(base_url=live.url, headers=headers, timeout=10) as http:
                batch = 0
                while not stop.is_set():
                    ids = [f"w{worker}-b{batch}-{i}" for i in range(200)]
                    records = [{"session_id": sid, "ts": "2026-11-01T10:00:00Z", "model_version": "crash",
                                "status": "ok", "final_latency_ms": 100.0} for sid in ids]
                    try:
                        r = http.post("/api/v1/sessions", json=records)
                    except httpx.TransportError:
                        return  # the server died mid-request: this batch was never acknowledged
                    if r.status_code == 200 and r.json()["accepted"] + r.json()["duplicates"] == 200:
                        acknowledged.update(ids)
                    batch += 1

        threads = [threading.Thread(target=sender, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 3000 and time.monotonic() < deadline:
            time.sleep(0.05)
        live.kill()
        stop.set()
        for t in threads:
            t.join(10)
        assert len(acknowledged) >= 1000, live.log()

        live.start()  # restart on the same database: recovery, then count
        engine = create_engine(live.database_url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            stored = set(conn.execute(select(Session.session_id).where(Session.model_version == "crash")).scalars())
            rolled = conn.execute(select(func.sum(Rollup.sessions)).where(Rollup.model_version == "crash")).scalar()
            if engine.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        engine.dispose()
    assert acknowledged <= stored
    assert rolled == len(stored)  # rollups committed atomically with their sessions
