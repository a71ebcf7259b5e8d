"""The drift loop's passes are kept in the store: a restarted collector answers a live request
from the last one without scanning, a stale one is scanned again, and the stored answer is the
answer a scan gives. On SQLite and PostgreSQL."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from asrwatch.server import create_app
from asrwatch.settings import load_settings
from collector.store.database import make_engine, migrate
from collector.store.ingest import store_sessions
from collector.store.schemas import SessionIn
from drift.config import DriftConfig
from drift.models import DriftReportRecord
from drift.routes import _first_wait
from drift.scan import ScanReport
from drift.service import scan_database
from drift.stored_reports import latest_report, save_report, stored_at

AT = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
WATERMARK = AT + timedelta(minutes=1)  # the newest session's minute, plus one
READ = {"Authorization": "Bearer read-token"}


def _fill(engine) -> None:
    """Two windows; region b loses SNR in the current one (so the report has findings)."""
    rows = []
    for i in range(600):
        current = i % 2 == 1
        region = "ab"[i % 4 // 2]
        rows.append(SessionIn.model_validate({
            "session_id": f"s{i}", "ts": (AT - timedelta(hours=(i % 20) + 1 if current else 30 + i % 100)).isoformat(),
            "model_version": "v1", "region": region, "status": "ok", "confidence": 0.5 + (i % 7) / 20,
            "snr_db": 12.0 + i % 5 if current and region == "b" else 25.0 + i % 5,
            "hypothesis": "hello world" if i % 3 else None}))
    rows.append(rows[-1].model_copy(update={"session_id": "newest", "ts": AT}))
    store_sessions(engine, rows, AT)


def _app(url: str):
    settings = load_settings(None, database_url=url, auth={"read": ["read-token"]}, evaluator_enabled=False,
                             evaluator_clock="watermark", drift={"interval_s": 3600, "min_reference": 20,
                                                                 "min_current": 20})
    return create_app(settings, run_background=False)


def _refuse(*_):
    raise AssertionError("scanned although a fresh pass is stored")


def _wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_restarted_collector_answers_from_the_stored_pass(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    _fill(engine)
    config = DriftConfig(interval_s=3600, min_reference=20, min_current=20)
    with TestClient(_app(database_url)) as client:  # the first pass runs at start and is stored
        _wait_for(lambda: stored_at(engine, config) is not None)
        first = client.get("/api/v1/drift", headers=READ).json()
    assert first["at"] == WATERMARK.isoformat() and first["findings"]

    app = _app(database_url)
    app.state.services.drift_scan = _refuse  # a scan anywhere in the restarted app fails the request (or logs)
    with TestClient(app) as client:
        again = client.get("/api/v1/drift", headers=READ).json()
        tickets = client.get("/api/v1/drift", params={"severity": "ticket"}, headers=READ).json()
        app.state.services.drift_scan = scan_database
        fresh = client.get("/api/v1/drift", params={"at": WATERMARK.isoformat()}, headers=READ).json()
    assert again == first  # from the store, not scanned
    assert fresh == again  # ... and what a scan as of the same `at` answers
    assert tickets["findings"] == [f for f in again["findings"] if f["severity"] in ("ticket", "page")]
    engine.dispose()


def test_a_stale_stored_pass_is_scanned_again(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    _fill(engine)
    config = DriftConfig(interval_s=3600, min_reference=20, min_current=20)
    save_report(engine, config, scan_database(engine, config, AT - timedelta(hours=2)), AT)
    assert _first_wait(engine, config, "watermark") == 0  # older than an interval: a pass at start
    scanned: list[datetime] = []

    def counted(e, c, at):
        scanned.append(at)
        return scan_database(e, c, at)

    app = _app(database_url)
    app.state.services.drift_scan = counted
    with TestClient(app) as client:
        body = client.get("/api/v1/drift", headers=READ).json()
    # Either the request's own scan (now rounded down to 5 min) or the start-up pass (at the watermark).
    assert body["at"] in (AT.isoformat(), WATERMARK.isoformat())
    assert datetime.fromisoformat(body["at"]) in scanned
    engine.dispose()


def test_store_keeps_the_last_pass_per_config(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    _fill(engine)
    config, other = DriftConfig(), DriftConfig(current_hours=12)
    assert stored_at(engine, config) is None and _first_wait(engine, config, "watermark") == 0
    # The last written wins, even with an earlier `at` (a replay's watermark after the wall clock).
    save_report(engine, config, scan_database(engine, config, AT + timedelta(days=200)), AT)
    last = scan_database(engine, config, AT)
    save_report(engine, config, last, AT)
    assert stored_at(engine, config) == AT and stored_at(engine, other) is None
    assert latest_report(engine, config, since=AT, until=AT).report == last.to_dict()
    assert latest_report(engine, config, since=AT + timedelta(seconds=1), until=AT + timedelta(days=1)) is None
    assert latest_report(engine, config, since=AT - timedelta(days=1), until=AT - timedelta(seconds=1)) is None
    # Fresh: the first pass waits out the rest of the stored pass's interval (watermark one minute on).
    assert math.isclose(_first_wait(engine, config, "watermark"), config.interval_s - 60)
    # A pass after this clock's now (the wall clock's, before a replay's data): a pass at start.
    save_report(engine, config, scan_database(engine, config, AT + timedelta(days=200)), AT)
    assert _first_wait(engine, config, "watermark") == 0
    engine.dispose()


def test_stored_report_keeps_nan_and_float_bits(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    config = DriftConfig()
    report = scan_database(engine, config, AT)
    report = ScanReport(**{**report.__dict__, "vocabulary": {"oov_z": math.nan, "rate": 0.1 + 0.2,
                                                             "tiny": 5e-324}})
    save_report(engine, config, report, AT)
    got = latest_report(engine, config, since=AT, until=AT).report["vocabulary"]
    assert math.isnan(got["oov_z"]) and got["rate"] == 0.1 + 0.2 and got["tiny"] == 5e-324
    with engine.begin() as conn:  # a row written by an older pass is replaced, not duplicated
        conn.execute(update(DriftReportRecord).values(at=AT - timedelta(days=1)))
    save_report(engine, config, scan_database(engine, config, AT), AT)
    assert stored_at(engine, config) == AT
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DriftReportRecord)).scalar() == 1
    engine.dispose()
