"""The batch writers (PostgreSQL: one unnest statement per table; SQLite: one upsert per rollup
table) against the row-by-row reference (`row_by_row_ingest`), on both engines: the same batches,
with repeats within and across batches and late data for compacted hours, must leave exactly the
same sessions, minute rollups, hourly rollups and hour revisions, and the same answers."""

from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from collector.compaction import compact
from collector.database import make_engine, migrate, read_connection
from collector.ingest import store_sessions
from collector.models import HourlyRollup, Rollup, RollupHour, Session
from collector.rollups import COUNTERS, HISTOGRAMS, SUMS
from collector.schemas import SessionIn
from postgres import create_database, drop_database

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
from row_by_row_ingest import store_sessions_row_by_row  # noqa: E402

AT = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_engines(request, tmp_path):
    """Two fresh, empty databases on one engine: one per path."""
    if request.param == "sqlite":
        urls = [f"sqlite:///{tmp_path / name}" for name in ("batch.db", "rows.db")]
    else:
        urls = [create_database(), create_database()]
    engines = [make_engine(url) for url in urls]
    for engine in engines:
        migrate(engine)
    yield engines
    for engine in engines:
        engine.dispose()
    if request.param == "postgresql":
        for url in urls:
            drop_database(url)


def _record(rng: random.Random, session_id: str, hours_back: int) -> dict:
    ts = AT - timedelta(hours=hours_back) + timedelta(seconds=rng.uniform(0, 240))
    if rng.random() < 0.3:  # another offset: stored as the same instant
        ts = ts.astimezone(timezone(timedelta(hours=5, minutes=30)))
    record = {"session_id": session_id, "ts": ts.isoformat(), "model_version": rng.choice(["v1", "v2"]),
              "status": rng.choice(["ok", "ok", "ok", "partial", "decode_error", "dropped", "timeout"])}
    optional = {
        "region": rng.choice(["eu", "us"]), "channel": rng.choice(["web", "telephony"]),
        "tenant": rng.choice(["a", "b", "ä"]), "pool": "l4", "language": rng.choice(["en", "de"]),
        "final_latency_ms": rng.choice([0.0, 300.0, rng.lognormvariate(6.5, 0.6)]),
        "first_partial_ms": rng.lognormvariate(5, 0.5), "queue_ms": rng.expovariate(0.1),
        "confidence": rng.choice([0.0, 0.29, 1.0, rng.random()]), "snr_db": rng.uniform(-100, 200),
        "audio_seconds": rng.uniform(0, 20), "gpu_seconds": rng.uniform(0, 2), "partial_rewrites": rng.randrange(4),
        "turn_success": rng.choice([True, False]), "shadow": rng.random() < 0.2, "retries": rng.randrange(3),
        "hypothesis": rng.choice(["", "  ", "turn it up", "call 415 555 0199 now"]),
        "trace_id": f"{rng.getrandbits(128):032x}", "attributes": {"team": rng.choice(["x", "y"]), "n": [1, 2.5]},
    }
    for name, value in optional.items():
        if rng.random() < 0.8:
            record[name] = value
    return record


def _rows(engine, table, key: str) -> dict:
    with read_connection(engine) as conn:
        return {row[key]: dict(row) for row in conn.execute(select(table)).mappings()}


def test_batch_writes_equal_row_by_row_writes(two_engines):
    batched, reference = two_engines
    rng = random.Random(17)
    sent: list[dict] = []
    for batch_no in range(8):
        if batch_no == 4:  # close the older hours on both sides: what comes for them now is late data
            assert compact(batched, AT) == compact(reference, AT) > 0
        records = [_record(rng, f"s{batch_no}-{i}", hours_back=rng.choice([0, 1, 2])) for i in range(120)]
        records += rng.sample(sent, min(len(sent), 9))  # stored already
        records.append(records[3])  # repeated within the batch
        if batch_no == 6:
            records = rng.sample(sent, 30)  # nothing new at all
        stored = store_sessions(batched, [SessionIn.model_validate(r) for r in records], AT)
        ids, duplicates = store_sessions_row_by_row(
            reference, [SessionIn.model_validate(r).__dict__ for r in records], AT)
        assert stored.accepted.columns["session_id"] == ids and stored.duplicates == duplicates
        assert len(ids) == (0 if batch_no == 6 else 120)
        sent += records[:len(ids)]

    assert _rows(batched, Session.__table__, "session_id") == _rows(reference, Session.__table__, "session_id")
    assert len(_rows(batched, Session.__table__, "session_id")) == 7 * 120
    for table in (Rollup.__table__, HourlyRollup.__table__):
        got, want = _rows(batched, table, "rollup_key"), _rows(reference, table, "rollup_key")
        assert got.keys() == want.keys() and len(got) > 20, table.name
        for key, row in want.items():
            for name in row:  # exactly: the same float additions in the same order
                value = got[key][name]
                if name in HISTOGRAMS:
                    value, row[name] = ({str(k): int(v) for k, v in h.items()} for h in (value, row[name]))
                assert value == row[name], (table.name, key, name)
    hours = _rows(batched, RollupHour.__table__, "hour")
    assert hours == _rows(reference, RollupHour.__table__, "hour")
    assert any(h["revision"] > 1 for h in hours.values())  # late data did reach compacted hours


def test_upsert_adds_every_value_column():
    """A column left out of the upsert's SET would keep its first batch's value unnoticed."""
    from collector import pg_batch

    sql = pg_batch._rollup_upsert("rollups", "minute")
    for name in COUNTERS + SUMS + HISTOGRAMS:
        assert f" {name} = rollups.{name} + excluded.{name}" in sql or f" {name} = CASE" in sql, name
