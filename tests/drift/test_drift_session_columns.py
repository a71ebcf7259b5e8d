"""The fast session reader (`drift.session_columns`) against the per-column reader it replaced,
on SQLite and PostgreSQL: the same rows in the same order, the same codes and level order, the
same NaNs, and the same drift report. And the word count both read, stored at ingest since
migration 0008, against the SQL count the readers computed before."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from sqlalchemy import Boolean, Integer, String, Text, column, insert, select, table

from collector.measures.word_count import hypothesis_words
from collector.store.database import alembic_config, make_engine, migrate
from collector.store.ingest import store_sessions
from collector.store.models import Sample, Session, UTCDateTime
from collector.store.retention import apply_retention
from collector.store.schemas import SessionIn
from drift import source
from drift.config import DriftConfig, Windows
from drift.models import DriftBaseline
from drift.service import scan_database

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
import drift_reference as old  # noqa: E402

AT = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
REGIONS = ["eu-west", "us-east", "région-é", "日本", ""]  # '' is read as "unknown"
HYPOTHESES = [None, "", "   ", " hello  there world ", "é ü  x", "a\tb c", "one", "x " * 9]


def _rows(rng: np.random.Generator, n: int, regions: list[str]) -> list[dict]:
    now = datetime.now(timezone.utc)
    rows = []
    for i in range(n):
        # Both windows, the pinned span, and rows outside every window (older, newer).
        ts = AT - timedelta(hours=float(rng.uniform(-2, 9 * 24)))
        current = ts >= AT - timedelta(hours=24)
        region = regions[int(rng.integers(len(regions)))]

        def maybe(value: float) -> float | None:
            return None if rng.random() < 0.1 else value

        rows.append({
            "session_id": f"s-{i:05d}-ü", "ts": ts, "received_at": now,
            "model_version": ["m1", "m2", "m3"][int(rng.integers(3))], "region": region,
            "tenant": f"tenant-{int(rng.integers(4))}", "channel": ["web", "mobile", "far_field"][int(rng.integers(3))],
            "language": "en" if rng.random() < 0.8 else "es", "pool": "default",
            "status": "ok" if rng.random() < 0.9 else "decode_error",
            "audio_seconds": maybe(float(rng.uniform(0, 9))),  # 0 s: words per second must stay NaN
            "first_partial_ms": maybe(float(rng.lognormal(5, 0.4))),
            "final_latency_ms": maybe(float(rng.lognormal(6, 0.5))),
            "partial_rewrites": None if rng.random() < 0.1 else int(rng.integers(0, 6)),
            "confidence": maybe(float(rng.beta(8, 2))),
            # region us-east loses SNR in the current window, so the report has findings to compare
            "snr_db": maybe(float(rng.normal(18 if current and region == "us-east" else 25, 4))),
            "hypothesis": HYPOTHESES[i % len(HYPOTHESES)], "shadow": False, "retries": 0,
        })
    return rows


def _store(url: str, regions: list[str], n: int = 1500):
    engine = make_engine(url)
    migrate(engine)
    rng = np.random.default_rng(5)
    rows = _rows(rng, n, regions)
    with engine.begin() as conn:
        conn.execute(insert(Session), rows)
        labeled = [r for r in rows if r["hypothesis"]][::2]
        conn.execute(insert(Sample), [{
            "session_id": r["session_id"], "ts": r["ts"], "received_at": r["received_at"], "source": "human",
            "reference": "hello there world", "hypothesis": r["hypothesis"], "substitutions": int(rng.integers(0, 3)),
            "deletions": 0, "insertions": int(rng.integers(0, 2)), "ref_words": 3, "wer": 0.0,
        } for r in labeled])
    return engine


def _assert_same_columns(old: dict, new: dict) -> None:
    assert list(old) == list(new)
    for name, a in old.items():
        b = new[name]
        if hasattr(a, "levels"):
            assert a.levels == b.levels, name  # same level order, not only the same set
            assert a.codes.dtype == b.codes.dtype and np.array_equal(a.codes, b.codes), name
        else:
            assert a.dtype == b.dtype, name
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name


@pytest.mark.parametrize("partition", [7, 100_000])
def test_fast_reader_equals_per_column_reader(database_url, monkeypatch, partition):
    """Many partitions (7 rows each: levels grow partition by partition) and one; with a pin."""
    engine = _store(database_url, REGIONS)
    monkeypatch.setattr(source, "PARTITION", partition)
    windows = Windows.ending_at(AT, DriftConfig())
    for pins in ({}, {"m2": (AT - timedelta(days=9), AT - timedelta(days=5))}):
        old = source.load_sessions_per_column(engine, windows, pins)
        new = source.load_sessions(engine, windows, pins)
        assert len(new["session_id"]) > 500 and np.isnan(new["snr_db"]).any()
        assert np.isnan(new["hypothesis_words"]).any() and (new["hypothesis_words"] == 0).any()
        assert "unknown" in new["region"].levels and "日本" in new["region"].levels
        _assert_same_columns(old, new)
    engine.dispose()


@pytest.mark.parametrize("odd", ["odd\x1fregion", "odd\x1eregion"])
def test_label_with_a_separator_reads_the_same(database_url, monkeypatch, odd):
    """A label containing the key separator (or, for PostgreSQL's aggregated read, the row
    separator) cannot be split back: the per-column reader answers."""
    engine = _store(database_url, REGIONS + [odd], n=300)
    calls = []
    per_column = source.load_sessions_per_column
    monkeypatch.setattr(source, "load_sessions_per_column", lambda *a: calls.append(1) or per_column(*a))
    windows = Windows.ending_at(AT, DriftConfig())
    new = source.load_sessions(engine, windows, {})
    assert calls == ([1] if odd == "odd\x1fregion" or engine.dialect.name == "postgresql" else [])
    assert odd in new["region"].levels
    _assert_same_columns(per_column(engine, windows, {}), new)
    engine.dispose()


def test_report_equals_the_per_column_readers_report(database_url):
    engine = _store(database_url, REGIONS)
    with engine.begin() as conn:  # a pinned baseline takes the OR's third branch
        conn.execute(insert(DriftBaseline), [{"model_version": "m3", "reference_start": AT - timedelta(days=9),
                                              "reference_end": AT - timedelta(days=6), "pinned_at": AT,
                                              "pinned_by": "test"}])
    config = DriftConfig(min_reference=30, min_current=20, wer_min_utterances=10)
    new = scan_database(engine, config, AT).to_dict()
    old = scan_database(engine, config, AT, read_sessions=source.load_sessions_per_column).to_dict()
    assert any(f["feature"] == "snr_db" for f in new["findings"])
    assert new["counts"]["pinned_baselines"] == 1
    assert new == old
    engine.dispose()


# Blank, spaces only, leading/trailing/double spaces, tabs and newlines (not separators), no-break
# spaces, non-ASCII, and a phone number that redaction rewrites before the count.
TEXTS = [None, "", " ", "   ", "one", " one", "one ", "  hello  there world  ", "a\tb c", "\ta b\n", "\n",
         "é ü  x", "日本 語", "\u00a0no break\u00a0", "x " * 9, "call 415 555 0199 now"]


def _counts(engine) -> dict[str, tuple]:
    """Per session: (text, stored count, the old SQL count of the stored text)."""
    s = Session.__table__.c
    with engine.connect() as conn:
        rows = conn.execute(select(s.session_id, s.hypothesis, s.hypothesis_words, old.word_count(s.hypothesis)))
        return {sid: (text, stored, sql) for sid, text, stored, sql in rows}


def test_stored_word_count_is_the_old_sql_count(database_url):
    """Backfilled by the migration, set by ingest (SQLite's raw insert, PostgreSQL's JSON one)
    and by a plain SQLAlchemy insert, nulled with the text by retention: always the count the
    session readers took in SQL, and the Python definition's count of the stored text."""
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0007")  # sessions stored before the column existed
    before = table("sessions", *[column(name, String()) for name in (
        "session_id", "model_version", "region", "tenant", "channel", "language", "pool", "status")],
        column("ts", UTCDateTime()), column("received_at", UTCDateTime()), column("hypothesis", Text()),
        column("retries", Integer()), column("shadow", Boolean()))
    now = datetime.now(timezone.utc)
    old_ts = AT - timedelta(days=40)  # past retention below
    dims = {"model_version": "m1", "region": "r", "tenant": "t", "channel": "web", "language": "en", "pool": "p",
            "status": "ok"}
    with engine.begin() as conn:
        conn.execute(insert(before), [{"session_id": f"stored-{i}", "ts": old_ts if i % 2 else AT, "received_at": now,
                                       "hypothesis": text, "retries": 0, "shadow": False, **dims} for i, text in enumerate(TEXTS)])
    migrate(engine)  # 0008 adds the column and backfills it
    stored = store_sessions(engine, [SessionIn.model_validate({
        "session_id": f"ingest-{i}", "ts": old_ts if i % 2 else AT, "hypothesis": text, **dims})
        for i, text in enumerate(TEXTS)], now)
    assert len(stored.accepted) == len(TEXTS)
    with engine.begin() as conn:  # no count given: the model's default counts the text
        conn.execute(insert(Session), [{"session_id": f"core-{i}", "ts": old_ts if i % 2 else AT, "received_at": now,
                                        "hypothesis": text, **dims} for i, text in enumerate(TEXTS)])

    counts = _counts(engine)
    assert len(counts) == 3 * len(TEXTS)
    for sid, (text, stored_words, sql_words) in counts.items():
        assert stored_words == sql_words == hypothesis_words(text), (sid, text)
    for path in ("stored", "ingest", "core"):
        words = [counts[f"{path}-{i}"][1] for i in range(len(TEXTS))]
        assert words[:8] == [None, 0, 0, 0, 1, 1, 1, 4], path  # "hello  there world": 4, as SQL counted
        assert words[8:13] == [2, 2, 1, 4, 2], path
    assert counts["ingest-15"][0] != TEXTS[15]  # redacted: the count is of the text as stored
    assert counts["ingest-15"][1] == hypothesis_words(counts["ingest-15"][0])

    assert apply_retention(engine, AT, 30)["sessions"] > 0
    after = _counts(engine)
    for sid, (text, stored_words, sql_words) in after.items():
        assert stored_words == sql_words == hypothesis_words(text), (sid, text)
        assert (stored_words is None) == (counts[sid][1] is None or sid.endswith(tuple("13579")))
    assert sum(v[1] is not None for v in after.values()) < sum(v[1] is not None for v in counts.values())
    engine.dispose()


def test_empty_windows_read_the_same(database_url):
    """Windows with no sessions: both readers give the same empty columns (and the scan runs)."""
    engine = _store(database_url, REGIONS, n=50)
    windows = Windows.ending_at(AT - timedelta(days=400), DriftConfig())
    old = source.load_sessions_per_column(engine, windows, {})
    new = source.load_sessions(engine, windows, {})
    assert len(new["session_id"]) == 0 and new["region"].levels == []
    _assert_same_columns(old, new)
    engine.dispose()


def test_levels_come_in_order_of_first_appearance_whatever_the_hash_seed():
    """A set's order varies with PYTHONHASHSEED; levels order the versions that draw from the
    scan's one seeded generator, so with a set two processes gave two reports."""
    from drift.features import MISSING, encode

    values = [f"v{i}" for i in range(50, 0, -1)] + [None, "v7", ""]
    encoded = encode(values)
    assert encoded.levels == [f"v{i}" for i in range(50, 0, -1)] + [MISSING]
    assert encoded.levels[encoded.codes[-2]] == "v7" and encoded.levels[encoded.codes[-1]] == MISSING
    assert encode(["v2", "new"], encoded.levels).levels == encoded.levels + ["new"]
