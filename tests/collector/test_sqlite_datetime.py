"""The ingest fast path writes event times in exactly the text SQLAlchemy's SQLite DateTime
stores (UTC, microseconds), so raw inserts and ORM queries compare alike, for any offset."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from collector.store.rollups import sqlite_datetime
from collector.store.session_batch import SessionBatch

moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(8998, 12, 31),
                       timezones=st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-1439, 1439)))


@given(moments)
def test_matches_the_orm_text_form(value):
    expected = value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    assert sqlite_datetime(value) == expected


@given(st.lists(moments, min_size=1, max_size=20))
def test_a_batchs_event_times_match_it_too(values):
    expected = [v.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
                for v in values]
    assert SessionBatch({"session_id": [""] * len(values), "ts": values}).ts_texts() == expected
