"""A drift report is reused only for the same question over the same data."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from collector.database import make_engine, migrate
from collector.ingest import store_sessions
from collector.schemas import SessionIn
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


def test_concurrent_askers_share_one_scan(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    store_sessions(engine, _sessions("cur", 30, 2), AT)
    cache, scans, results = ReportCache(), [], []

    def slow(e, c, at):
        scans.append(at)
        return scan_database(e, c, at)

    threads = [threading.Thread(target=lambda: results.append(cache.report(engine, DriftConfig(), AT, slow)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(scans) == 1 and len(results) == 4 and all(r is results[0] for r in results)
    engine.dispose()
