"""The batch writers (PostgreSQL: one `json_to_recordset` statement per table; SQLite: one upsert
per rollup table) against the row-by-row reference (`row_by_row_ingest`), on both engines: the
same batches, with repeats within and across batches and late data for compacted hours, must
leave exactly the same sessions, minute rollups, hourly rollups and hour revisions, histograms
down to their stored text. Also: times stored as UTC whatever the PostgreSQL session's TimeZone,
NaN and infinities refused by name, and two replicas writing overlapping batches at once while a
compaction runs, checked against a recount."""

from __future__ import annotations

import math
import random
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from postgres import create_database, drop_database
from rollup_compare import hourly_rollups, recomputed_rollups, rollup_differences, stored_rollups
from sqlalchemy import Text, cast, event, select, text
from sqlalchemy.engine import Engine

from collector.store.compaction import compact
from collector.store.database import make_engine, migrate, read_connection, write_transaction
from collector.store.ingest import store_sessions
from collector.store.models import HourlyRollup, Rollup, RollupHour, Session
from collector.store.pg_batch import insert_new_sessions
from collector.store.rollups import COUNTERS, HISTOGRAMS, SUMS, apply_deltas, empty_delta, rollup_key
from collector.store.schemas import SessionIn
from collector.store.session_batch import SessionBatch
from collector.store.session_fold import fold_sessions

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
from row_by_row_ingest import store_sessions_row_by_row  # noqa: E402

AT = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
NEW_YORK = "America/New_York"  # 4 hours behind UTC in June: a time read in it is 4 hours off


def _in_time_zone(engine: Engine, zone: str) -> Engine:
    """Every PostgreSQL session of `engine` runs with TimeZone `zone` (SET is transactional:
    committed, so the pool's reset does not undo it)."""
    @event.listens_for(engine, "connect")
    def _set_time_zone(dbapi_conn, _record):
        with dbapi_conn.cursor() as cursor:
            cursor.execute(f"SET TimeZone = '{zone}'")
        dbapi_conn.commit()
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_engines(request, tmp_path):
    """Two fresh, empty databases on one engine: one per path. On PostgreSQL the batch writer's
    sessions run in New York time, the reference's in UTC."""
    if request.param == "sqlite":
        urls = [f"sqlite:///{tmp_path / name}" for name in ("batch.db", "rows.db")]
    else:
        urls = [create_database(), create_database()]
    engines = [make_engine(url) for url in urls]
    if request.param == "postgresql":
        _in_time_zone(engines[0], NEW_YORK)
        with engines[0].connect() as conn:
            assert conn.exec_driver_sql("SHOW TimeZone").scalar() == NEW_YORK
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
    """Stored rows; histograms as their stored text (attributes parsed: see `collector.store.pg_batch`)."""
    columns = [cast(c, Text).label(c.name) if c.name in HISTOGRAMS else c for c in table.columns]
    with read_connection(engine) as conn:
        return {row[key]: dict(row) for row in conn.execute(select(*columns)).mappings()}


def test_batch_writes_equal_row_by_row_writes(two_engines):
    batched, reference = two_engines
    rng = random.Random(17)
    sent: list[dict] = []
    batches_of_key: dict[str, int] = {}
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
        for key in fold_sessions(stored.accepted):
            batches_of_key[key] = batches_of_key.get(key, 0) + 1

    sessions = _rows(batched, Session.__table__, "session_id")
    assert sessions == _rows(reference, Session.__table__, "session_id")
    assert len(sessions) == 7 * 120
    assert {s["received_at"] for s in sessions.values()} == {AT}
    for table in (Rollup.__table__, HourlyRollup.__table__):
        got, want = _rows(batched, table, "rollup_key"), _rows(reference, table, "rollup_key")
        assert got.keys() == want.keys() and len(got) > 20, table.name
        for key, row in want.items():
            for name in row:  # exactly: the same float additions in the same order, the same text
                assert got[key][name] == row[name], (table.name, key, name)
    assert sum(n > 1 for n in batches_of_key.values()) > 20  # many rows were added to, not only written new
    hours = _rows(batched, RollupHour.__table__, "hour")
    assert hours == _rows(reference, RollupHour.__table__, "hour")
    assert any(h["revision"] > 1 for h in hours.values())  # late data did reach compacted hours


def _full_delta(minute: datetime, seed: int, histogram: dict[str, int]) -> dict:
    """A delta with every value column non-zero (a column the upsert left out would show)."""
    delta = empty_delta(minute, {"model_version": "m", "region": "r", "channel": "c", "tenant": "t",
                                 "language": "l", "pool": "p"})
    delta.update({c: seed + i for i, c in enumerate(COUNTERS)})
    delta.update({s: seed + i + 0.25 for i, s in enumerate(SUMS)})
    delta.update({h: histogram for h in HISTOGRAMS})
    return delta


def test_an_upsert_adds_every_value_column_and_keeps_the_stored_order(two_engines):
    engine = two_engines[0]
    minute = AT - timedelta(minutes=5)
    first, second = _full_delta(minute, 1, {"9": 1, "10": 2}), _full_delta(minute, 100, {"3": 4, "10": 1})
    key = rollup_key(minute, first)
    for delta in (first, second):
        with write_transaction(engine) as conn:
            apply_deltas(conn, {key: delta})
    row = _rows(engine, Rollup.__table__, "rollup_key")[key]
    for name in COUNTERS + SUMS:
        assert row[name] == first[name] + second[name], name
    # Stored codes first, in their order, then the new ones: as the row-by-row write stored it.
    expected = '{"9":1,"10":3,"3":4}' if engine.dialect.name == "sqlite" else '{"9": 1, "10": 3, "3": 4}'
    assert {row[h] for h in HISTOGRAMS} == {expected}
    assert row["minute"] == minute


@pytest.mark.postgres
def test_times_are_utc_whatever_the_sessions_time_zone(postgres_url):
    """Times go to PostgreSQL as UTC text read `AT TIME ZONE 'UTC'`: a session in New York time
    stores the same instants as one in UTC, a non-UTC offset is converted, a naive time refused."""
    engine = _in_time_zone(make_engine(postgres_url), NEW_YORK)
    utc = make_engine(postgres_url)
    try:
        migrate(engine)
        ts = datetime(2026, 6, 1, 17, 31, 5, 250_000, tzinfo=timezone(timedelta(hours=5, minutes=30)))  # 12:01:05.25Z
        received = datetime(2026, 6, 1, 8, 2, tzinfo=timezone(timedelta(hours=-4)))  # 12:02Z
        record = {"session_id": "tz-1", "ts": ts.isoformat(), "model_version": "m", "status": "ok"}
        assert len(store_sessions(engine, [SessionIn.model_validate(record)], received).accepted) == 1
        late = datetime(2026, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5)))  # 14:00Z, another zone still
        with write_transaction(engine) as conn:
            apply_deltas(conn, {"k": _full_delta(late, 1, {})})
        with utc.connect() as conn:  # read as UTC text, independent of any session zone
            assert conn.execute(text(
                "SELECT to_char(ts AT TIME ZONE 'UTC', 'HH24:MI:SS.US'), to_char(received_at AT TIME ZONE 'UTC', "
                "'HH24:MI') FROM sessions")).one() == ("12:01:05.250000", "12:02")
            minutes = conn.execute(text("SELECT to_char(minute AT TIME ZONE 'UTC', 'HH24:MI') FROM rollups "
                                        "ORDER BY minute")).scalars().all()
            assert minutes == ["12:01", "14:00"]
        naive = datetime(2026, 6, 1, 12, 0)
        for write in (lambda conn: apply_deltas(conn, {"n": _full_delta(naive, 1, {})}),
                      lambda conn: insert_new_sessions(conn, SessionBatch.of(
                          [SessionIn.model_validate({**record, "session_id": "tz-2"}).__dict__], naive))):
            with pytest.raises(ValueError, match="naive datetime"), write_transaction(engine) as conn:
                write(conn)
    finally:
        engine.dispose()
        utc.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("field, value", [("final_latency_ms", math.nan), ("audio_seconds", math.inf),
                                          ("snr_db", -math.inf)])
def test_nonfinite_values_are_refused_by_name(postgres_url, field, value):
    """orjson writes NaN and infinities as null: they are refused before the statement, named."""
    engine = make_engine(postgres_url)
    try:
        migrate(engine)
        good = SessionIn.model_validate({"session_id": "ok-1", "ts": AT.isoformat(), "model_version": "m",
                                         "status": "ok", "final_latency_ms": 300.0}).__dict__
        bad = {**good, "session_id": "bad-1", field: value}
        with pytest.raises(ValueError, match=f"{field}: .* in session 'bad-1' is not a finite number"):
            with write_transaction(engine) as conn:
                insert_new_sessions(conn, SessionBatch.of([good, bad], AT))
        delta = _full_delta(AT, 1, {})
        delta["audio_seconds"] = value
        with pytest.raises(ValueError, match=f"audio_seconds = {value!r} is not a finite number"):
            with write_transaction(engine) as conn:
                apply_deltas(conn, {"k": delta})
        with engine.connect() as conn:  # nothing of either was stored
            assert conn.execute(text("SELECT count(*) FROM sessions")).scalar() == 0
            assert conn.execute(text("SELECT count(*) FROM rollups")).scalar() == 0
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_two_replicas_writing_overlapping_batches_during_compaction_match_a_recount(postgres_url):
    """Two engines (as two replicas) ingest batches of the same minutes and slices, some session
    ids sent to both, at the same time, while a third compacts hours: every rollup, minute and
    hourly, must equal a recount of the stored sessions, and nothing may deadlock."""
    engines = [make_engine(postgres_url) for _ in range(3)]
    migrate(engines[0])
    shared = [f"shared-{i}" for i in range(200)]
    plans = []
    for replica in range(2):
        rng = random.Random(replica)
        batches = []
        for b in range(10):
            ids = [f"r{replica}-{b}-{i}" for i in range(80)] + rng.sample(shared, 40)
            batches.append([_record(random.Random(sid), sid, hours_back=random.Random(sid).choice([0, 1, 2, 3]))
                            for sid in ids])
        plans.append(batches)
    errors: list[BaseException] = []
    accepted = [0, 0]
    compactions = [0]
    start = threading.Barrier(3)
    ingesting = threading.Event()

    def ingest(replica: int) -> None:
        try:
            start.wait()
            for records in plans[replica]:
                stored = store_sessions(engines[replica], [SessionIn.model_validate(r) for r in records], AT)
                accepted[replica] += len(stored.accepted)
        except BaseException as exc:  # noqa: BLE001  reported by the main thread
            errors.append(exc)

    def compacting() -> None:
        try:
            start.wait()
            while ingesting.is_set():  # again and again, as data for older hours keeps arriving
                compactions[0] += compact(engines[2], AT)
                time.sleep(0.02)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    ingesting.set()
    threads = [threading.Thread(target=ingest, args=(r,), daemon=True) for r in range(2)]
    compactor = threading.Thread(target=compacting, daemon=True)
    try:
        for thread in [*threads, compactor]:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        ingesting.clear()
        compactor.join(timeout=60)
        assert not any(t.is_alive() for t in [*threads, compactor]), "a writer hung (deadlock?)"
        assert not errors, errors
        compactions[0] += compact(engines[2], AT)  # hours whose first data came last
        assert compactions[0] >= 3  # the hours before 12:00 were compacted...
        distinct = {r["session_id"] for batches in plans for records in batches for r in records}
        assert sum(accepted) == len(distinct)  # each shared id accepted by exactly one replica
        with engines[0].connect() as conn:
            stored, expected = stored_rollups(conn), recomputed_rollups(conn)
            hourly_stored, hourly_expected = hourly_rollups(conn)
        assert sum(row["sessions"] for row in stored.values()) == len(distinct)
        assert len(expected) > 50 and rollup_differences(stored, expected) == []
        assert len(hourly_expected) > 20 and rollup_differences(hourly_stored, hourly_expected) == []
        with engines[0].connect() as conn:  # ...and batches added late data to them afterwards
            assert conn.execute(select(RollupHour.revision).order_by(RollupHour.revision.desc())).first()[0] > 1
    finally:
        for engine in engines:
            engine.dispose()
