"""The fast session reader (`drift.session_columns`) against the per-column reader it replaced,
on SQLite and PostgreSQL: the same rows in the same order, the same codes and level order, the
same NaNs, and the same drift report."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import insert

from collector.store.database import make_engine, migrate
from collector.store.models import Sample, Session
from drift import source
from drift.config import DriftConfig, Windows
from drift.models import DriftBaseline
from drift.service import scan_database

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


def test_label_with_the_separator_falls_back(database_url, monkeypatch):
    """A label containing the key separator cannot be split back: the per-column reader answers."""
    engine = _store(database_url, REGIONS + ["odd\x1fregion"], n=300)
    calls = []
    per_column = source.load_sessions_per_column
    monkeypatch.setattr(source, "load_sessions_per_column", lambda *a: calls.append(1) or per_column(*a))
    windows = Windows.ending_at(AT, DriftConfig())
    new = source.load_sessions(engine, windows, {})
    assert calls == [1]
    assert "odd\x1fregion" in new["region"].levels
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
