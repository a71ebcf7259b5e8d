"""A drift report is reused only for the same question over the same data."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from live_collector import running_collector
from polling import wait_for

from collector.store.database import make_engine, migrate
from collector.store.ingest import store_sessions
from collector.store.schemas import SessionIn
from drift.config import DriftConfig
from drift.report_cache import ReportCache
from drift.service import scan_database

AT = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)


def _sessions(prefix: str, n: int, hours_ago: float) -> list[SessionIn]:
    return [SessionIn.model_validate({
        "session_id": f"{prefix}-{i}", "ts": (AT - timedelta(hours=hours_ago, minutes=i)).isoformat(),
        "model_version": "v1", "region": "eu", "status": "ok", "confidence": 0.9, "snr_db": 20.0})
        for i in range(n)]


def test_reports_are_reused_until_the_question_or_the_data_changes(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    store_sessions(engine, _sessions("ref", 40, 48) + _sessions("cur", 40, 2), AT)
    config = DriftConfig()
    scans: list[datetime] = []

    def counted(e, c, at):
        scans.append(at)
        return scan_database(e, c, at)

    cache = ReportCache(size=4)
    first = cache.report(engine, config, AT, counted)
    assert cache.report(engine, config, AT, counted) is first
    assert len(scans) == 1

    cache.report(engine, config, AT + timedelta(minutes=1), counted)  # another `at`: another scan
    assert len(scans) == 2

    store_sessions(engine, _sessions("late", 3, 1), AT)  # new data inside the windows
    again = cache.report(engine, config, AT, counted)
    assert len(scans) == 3 and again is not first
    assert again.counts["sessions_current"] == first.counts["sessions_current"] + 3

    store_sessions(engine, _sessions("future", 3, -1), AT)  # after `at`: not part of the question
    assert cache.report(engine, config, AT, counted) is again
    assert len(scans) == 3

    cache.report(engine, DriftConfig(current_hours=12), AT, counted)  # another config
    assert len(scans) == 4
    engine.dispose()


class _Joins(dict):
    """The cache's table of scans in flight, telling the test each time an asker registers
    for one (the asker then waits for that scan, or runs it)."""

    def __init__(self) -> None:
        super().__init__()
        self.joined = threading.Semaphore(0)

    def setdefault(self, key, default=None):
        gate = super().setdefault(key, default)
        self.joined.release()
        return gate


def test_concurrent_askers_share_one_scan(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    store_sessions(engine, _sessions("cur", 30, 2), AT)
    cache, scans, results = ReportCache(), [], {}
    joins = cache._scanning = _Joins()
    scanning, finish = threading.Event(), threading.Event()

    def held(e, c, at):
        # The first scan stays running until the second asker has come for the same question.
        scans.append(at)
        scanning.set()
        assert finish.wait(60), "the test never let the scan finish"
        return scan_database(e, c, at)

    def ask(name):
        results[name] = cache.report(engine, DriftConfig(), AT, held)

    first = threading.Thread(target=ask, args=("first",), daemon=True)
    second = threading.Thread(target=ask, args=("second",), daemon=True)
    try:
        first.start()
        assert scanning.wait(60) and joins.joined.acquire(timeout=60)  # the first asker is scanning
        second.start()
        # The second asker found no report yet and registered for the running scan: it must
        # wait for that scan, not run its own.
        assert joins.joined.acquire(timeout=60)
        assert len(scans) == 1 and results == {}
    finally:
        finish.set()
    for t in (first, second):
        t.join(60)
        assert not t.is_alive()
    assert len(scans) == 1
    assert results["first"] is results["second"]
    assert results["first"].counts["sessions_current"] == 30
    engine.dispose()


def test_latest_is_the_newest_report_of_the_config(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    store_sessions(engine, _sessions("cur", 30, 2), AT)
    cache, config = ReportCache(), DriftConfig()
    assert cache.latest(config, since=AT - timedelta(days=1)) is None
    newer = cache.report(engine, config, AT, scan_database)
    cache.report(engine, config, AT - timedelta(minutes=30), scan_database)  # an older question, asked later
    assert cache.latest(config, since=AT - timedelta(hours=1)) is newer
    assert cache.latest(config, since=AT + timedelta(seconds=1)) is None  # too old for the caller
    assert cache.latest(DriftConfig(current_hours=12), since=AT - timedelta(days=1)) is None  # another config
    engine.dispose()


def test_live_drift_requests_get_the_drift_loops_last_pass(tmp_path):
    """A live console page asks without `at` every 15 s: it gets the loop's last pass (here at
    the replay's watermark, 12:03), not a new scan of its own (which would end at 12:00)."""
    config = {"evaluator_clock": "watermark", "evaluator_enabled": False, "drift": {"interval_s": 1}}
    with running_collector(tmp_path, config=config) as live:
        records = [s.model_dump(mode="json", exclude_none=True) for s in
                   _sessions("ref", 40, 48) + _sessions("cur", 40, 2)]
        records.append({**records[-1], "session_id": "newest", "ts": (AT + timedelta(minutes=2)).isoformat()})
        with live.client("ingest") as http:
            assert http.post("/api/v1/sessions", json=records).status_code == 200
        watermark = (AT + timedelta(minutes=3)).isoformat()
        with live.client("read") as http:
            wait_for(lambda: http.get("/api/v1/drift").json()["at"] == watermark, 30, "the drift loop's pass")
            explicit = http.get("/api/v1/drift", params={"at": AT.isoformat()}).json()
    assert explicit["at"] == AT.isoformat()
