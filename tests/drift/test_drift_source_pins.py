"""Reading windows from the store: pinned baselines per model version, deleted transcripts,
and the hidden-regression ranking on a table built straight from columns."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from collector.store.database import make_engine, migrate
from collector.store.ingest import store_sessions
from collector.store.schemas import SessionIn
from drift.config import DriftConfig, Windows
from drift.features import sample_table, session_table
from drift.models import DriftBaseline
from drift.scan import run_scan
from drift.service import scan_and_route, scan_database
from drift.source import load_sessions

sys.path.insert(0, str(Path(__file__).parent.parent))  # tests/postgres.py
from postgres import create_database, drop_database  # noqa: E402

AT = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def _sessions(rng, start: datetime, hours: float, n: int, snr: float, version: str, prefix: str):
    out = []
    for i in range(n):
        ts = start + timedelta(seconds=float(rng.uniform(0, hours * 3600)))
        out.append(SessionIn.model_validate({
            "session_id": f"{prefix}-{i}", "ts": ts.isoformat(), "model_version": version, "region": "eu-west",
            "channel": "web", "tenant": "acme", "status": "ok", "audio_seconds": float(rng.uniform(2, 8)),
            "snr_db": float(rng.normal(snr, 4)), "confidence": float(rng.beta(8, 2)),
            # Retention deleted most transcripts: words per second must cope with NULL text.
            **({"hypothesis": "hello there world"} if i % 7 == 0 else {}),
        }))
    return out


@pytest.fixture
def store():
    url = create_database("asrwatch_drift_test")
    yield from _store(url)
    drop_database(url)


@pytest.fixture
def sqlite_store(tmp_path):
    yield from _store(f"sqlite:///{tmp_path / 'pins.db'}")


def _store(url: str):
    engine = make_engine(url)
    migrate(engine)
    rng = np.random.default_rng(1)
    now = datetime.now(timezone.utc)
    # v1's launch baseline (12 days ago) had clean audio; the last week and today are noisier.
    store_sessions(engine, _sessions(rng, AT - timedelta(days=12), 24, 800, 25.0, "v1", "base"), now)
    store_sessions(engine, _sessions(rng, AT - timedelta(days=8), 24 * 7, 1500, 15.0, "v1", "week"), now)
    store_sessions(engine, _sessions(rng, AT - timedelta(days=1), 24, 600, 15.0, "v1", "today"), now)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("engine_kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_pinned_baseline_replaces_the_rolling_reference(engine_kind, request):
    store = request.getfixturevalue("sqlite_store" if engine_kind == "sqlite" else "store")
    config = DriftConfig(pairs=False)
    rolling = scan_database(store, config, AT)
    assert not [f for f in rolling.tickets() if f.feature == "snr_db"]
    from sqlalchemy.orm import Session as OrmSession

    with OrmSession(store) as s, s.begin():
        s.add(DriftBaseline(model_version="v1", reference_start=AT - timedelta(days=12),
                            reference_end=AT - timedelta(days=11), pinned_at=AT, pinned_by="test", note=""))
    pinned = scan_database(store, config, AT)
    assert pinned.counts["pinned_baselines"] == 1
    assert pinned.counts["sessions_reference"] == 800 and pinned.counts["sessions_current"] == 600
    (finding,) = [f for f in pinned.tickets() if f.feature == "snr_db"]
    assert finding.reference_value["mean"] == pytest.approx(25, abs=0.7)
    assert finding.current_value["mean"] == pytest.approx(15, abs=0.7)
    # All traffic is v1 here: the fleet finding carries it, v1's own is the same shift.
    assert finding.slice_key == "all"
    v1 = next(f for f in pinned.findings if f.feature == "snr_db" and f.slice == {"model_version": "v1"})
    assert v1.severity == "info" and v1.explained_by == "all"
    # The server's pass (leader-locked on PostgreSQL) opens the ticket once, then refreshes it.
    first = scan_and_route(store, config, AT, None)
    assert [a.labels["feature"] for a in first.opened] == ["snr_db"]
    again = scan_and_route(store, config, AT + timedelta(minutes=5), None)
    assert again.opened == [] and again.refreshed == [first.opened[0].fingerprint]


def test_missing_transcripts_leave_words_per_second_to_the_rest(sqlite_store):
    store = sqlite_store
    cols = load_sessions(store, Windows.ending_at(AT, DriftConfig()), {})
    table = session_table(cols)
    wps = table.numeric["words_per_second"]
    assert np.isnan(wps).sum() > 0.8 * len(wps)  # most transcripts are gone...
    assert np.all(np.isfinite(wps[cols["hypothesis_words"] == 3]))  # ...the rest still count


def test_a_regression_hidden_in_the_average_tops_the_worst_slices():
    rng = np.random.default_rng(2)
    n = 40000
    region = rng.choice(["r0", "r1", "r2", "r3", "r4"], n, p=[0.4, 0.25, 0.2, 0.1, 0.05])
    current = rng.random(n) < 0.25
    words = rng.integers(5, 20, n).astype(float)
    rate = np.where(current & (region == "r4"), 0.16, 0.10)
    errors = rng.binomial(words.astype(int), rate).astype(float)
    cols = {"session_id": np.array([f"s{i}" for i in range(n)], dtype=object), "is_current": current,
            "region": region, "channel": np.full(n, "web"), "model_version": np.full(n, "v1"),
            "tenant": np.full(n, "t"), "status": np.full(n, "ok"), "audio_seconds": words / 2.4,
            "confidence": rng.beta(8, 2, n), "snr_db": rng.normal(20, 5, n)}
    samples = sample_table({"session_id": cols["session_id"], "ts": np.full(n, AT.timestamp() - 3600.0),
                            "window": current.astype(int), "substitutions": errors, "deletions": np.zeros(n),
                            "insertions": np.zeros(n), "ref_words": words, "confidence": cols["confidence"],
                            "region": region, "channel": cols["channel"], "model_version": cols["model_version"],
                            "tenant": cols["tenant"]})
    config = DriftConfig(pairs=False)
    report = run_scan(session_table(cols), samples, Windows.ending_at(AT, config), config)
    fleet = next(w for w in report.worst_slices if w["slice"] == "all")
    assert fleet["relative_delta"] < 0.05  # the fleet barely moves...
    assert report.worst_slices[0]["slice"] == "region=r4"  # ...one small region is 60% worse
    (ticket,) = report.tickets()
    assert (ticket.feature, ticket.slice_key, ticket.severity) == ("wer", "region=r4", "ticket")
    assert ticket.to_alert(AT).labels["alertname"] == "WERRegression"
