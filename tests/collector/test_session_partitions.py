"""PostgreSQL at size (#23 item 3): `sessions` partitioned by event day (migration 0019).

On PostgreSQL: ingest makes each day's partition before its rows land (never the DEFAULT one), a
retry and the same id sent again within a day are still duplicates, queries read across days, and
session retention drops whole partitions while the rollups keep every count. On SQLite the same
retention deletes rows. The upgrade of a store with data is covered by test_migrations_with_data."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from collector.store import (SessionIn, drop_sessions_before, make_engine, migrate, queries, read_connection,
                             store_sessions)
from collector.store.models import Session
from collector.store.partitions import DEFAULT, day_of_partition, partition_ddl, partitions

DAY0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
RECEIVED = datetime(2026, 11, 6, tzinfo=timezone.utc)


def _sessions(day: int, n: int, prefix: str = "s") -> list[SessionIn]:
    return [SessionIn.model_validate({"session_id": f"{prefix}-{day}-{i}", "model_version": "m", "status": "ok",
                                      "ts": (DAY0 + timedelta(days=day, hours=23, minutes=59 - i % 60)).isoformat()})
            for i in range(n)]


def _stored(engine) -> int:
    with read_connection(engine) as conn:
        return conn.execute(select(func.count()).select_from(Session.__table__)).scalar()


def test_partition_names_and_bounds_are_utc_days():
    day = datetime(2026, 11, 2).date()
    assert day_of_partition("sessions_p20261102") == day and day_of_partition(DEFAULT) is None
    assert "FROM ('2026-11-02 00:00:00+00') TO ('2026-11-03 00:00:00+00')" in partition_ddl(day)


@pytest.mark.postgres
def test_ingest_fills_day_partitions_and_retention_drops_them(postgres_url):
    engine = make_engine(postgres_url)
    migrate(engine)
    for day in range(4):
        assert len(store_sessions(engine, _sessions(day, 30), RECEIVED).accepted) == 30
    made = partitions(engine)
    assert sorted(made) == [DEFAULT, "sessions_p20261101", "sessions_p20261102", "sessions_p20261103",
                            "sessions_p20261104"]
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {DEFAULT}")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM sessions_p20261102")).scalar() == 30
    # A retry, and the same id at another event time within the day: duplicates, as on SQLite.
    again = store_sessions(engine, _sessions(1, 30), RECEIVED)
    moved = [SessionIn.model_validate({**s.model_dump(mode="json"), "ts": (s.ts - timedelta(hours=5)).isoformat()})
             for s in _sessions(2, 10)]
    assert (len(again.accepted), again.duplicates) == (0, 30)
    assert len(store_sessions(engine, moved, RECEIVED).accepted) == 0
    status = queries.status_by_group(engine, [], DAY0, DAY0 + timedelta(days=5), {})
    assert [r["sessions"] for r in status] == [120] and _stored(engine) == 120
    # Whole sessions before Nov 3 go as whole partitions; the counts stay in the rollups.
    removed = drop_sessions_before(engine, DAY0 + timedelta(days=2))
    assert removed == {"rows_deleted": 0, "partitions_dropped": 2}
    assert sorted(partitions(engine)) == [DEFAULT, "sessions_p20261103", "sessions_p20261104"]
    assert _stored(engine) == 60
    assert [r["sessions"] for r in queries.status_by_group(engine, [], DAY0, DAY0 + timedelta(days=5), {})] == [120]
    # Late data for a dropped day gets its partition again.
    assert len(store_sessions(engine, _sessions(0, 5, "late"), RECEIVED).accepted) == 5
    assert "sessions_p20261101" in partitions(engine)
    engine.dispose()


def test_session_retention_deletes_rows_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    migrate(engine)
    for day in range(3):
        store_sessions(engine, _sessions(day, 10), RECEIVED)
    assert drop_sessions_before(engine, DAY0 + timedelta(days=2)) == {"rows_deleted": 20, "partitions_dropped": 0}
    assert _stored(engine) == 10
    engine.dispose()


@pytest.mark.postgres
def test_partitions_are_made_ahead_and_only_near_the_wall_clock(postgres_url):
    from collector.store.partitions import ensure_days, make_ahead

    engine = make_engine(postgres_url)
    migrate(engine)
    now = datetime(2026, 12, 6, 21, tzinfo=timezone.utc)
    make_ahead(engine, now)
    assert {"sessions_p20261206", "sessions_p20261207", "sessions_p20261208"} <= set(partitions(engine))
    # A made-up event time far from now: no partition of its own (a sender cannot make thousands).
    ensure_days(engine, [datetime(2001, 1, 1).date(), datetime(2030, 1, 1).date()], now)
    assert not {"sessions_p20010101", "sessions_p20300101"} & set(partitions(engine))
    # Its rows still land, in DEFAULT.
    old = SessionIn.model_validate({"session_id": "old", "ts": "2001-01-01T10:00:00Z", "model_version": "m",
                                    "status": "ok"})
    assert len(store_sessions(engine, [old], RECEIVED).accepted) == 1
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {DEFAULT}")).scalar() == 1
    engine.dispose()
