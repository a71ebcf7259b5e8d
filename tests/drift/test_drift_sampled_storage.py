"""Drift under sampled session storage (#23 item 2): the scan reads the share of the sessions
drawn by id (a uniform sample, which the always-kept classes do not skew), and its report says
so with the sample sizes per window: the sessions stored, those scanned and those the rollups
counted; a pinned baseline's window is counted per model version. A store that keeps every
session gives `sample: None`. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from collector.store import Session, StorePolicy, configure_sampling, score_and_store_samples, store_sessions
from collector.store.database import make_engine, migrate
from collector.store.schemas import SampleIn, SessionIn
from collector.store.sampling import sampled_in
from drift.config import DriftConfig, Windows
from drift.models import DriftBaseline
from drift.service import scan_database
from drift.stored_reports import latest_report, save_report

AT = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
RATE = 0.2
CONFIG = DriftConfig(min_reference=20, min_current=20)
WINDOWS = Windows.ending_at(AT, CONFIG)


def _sessions() -> list[dict]:
    """Reference (hours 25..168 before AT), current (1..23 h), and some outside both windows;
    every 10th a failure, every 12th sent to labeling."""
    out = []
    for i in range(900):
        hours = (1 + i % 23) if i % 3 == 0 else (25 + i % 140) if i % 3 == 1 else (170 + i % 30)
        record = {"session_id": f"s{i}", "ts": (AT - timedelta(hours=hours, minutes=i % 7)).isoformat(),
                  "model_version": "v1" if i % 2 else "v2", "region": "ab"[i % 4 // 2],
                  "status": "timeout" if i % 10 == 0 else "ok", "confidence": 0.5 + (i % 7) / 20,
                  "snr_db": 20.0 + i % 5, "hypothesis": "turn on the lights"}
        if i % 12 == 5:
            record["attributes"] = {"labeled": True}
        out.append(record)
    return out


def _fill(engine) -> list[dict]:
    records = _sessions()
    store_sessions(engine, [SessionIn.model_validate(r) for r in records], AT)
    labeled = [SampleIn.model_validate({"session_id": r["session_id"], "reference": "turn on the light"})
               for r in records if r.get("attributes")]
    scored, rejected = score_and_store_samples(engine, list(enumerate(labeled)), "basic", AT)
    assert len(scored) == len(labeled) and not rejected  # labeled sessions are always stored
    return records


def _in(record: dict, start: datetime, end: datetime, versions=("v1", "v2")) -> bool:
    ts = datetime.fromisoformat(record["ts"])
    return start <= ts < end and record["model_version"] in versions


def _stored(engine, start: datetime, end: datetime, versions=("v1", "v2"), share: float | None = None) -> int:
    """Sessions stored in [start, end) of `versions`; with `share`, those drawn by id only."""
    with engine.connect() as conn:
        ids = conn.execute(select(Session.session_id).where(
            Session.ts >= start, Session.ts < end, Session.model_version.in_(versions))).scalars().all()
    return sum(share is None or sampled_in(sid, share) for sid in ids)


def test_the_scan_reports_the_sample_it_read(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    configure_sampling(engine, StorePolicy("sample", RATE))
    records = _fill(engine)
    report = scan_database(engine, CONFIG, AT)

    ref = (WINDOWS.reference_start, WINDOWS.current_start)
    cur = (WINDOWS.current_start, AT)
    expected_ref = sum(_in(r, *ref) for r in records)
    expected_cur = sum(_in(r, *cur) for r in records)
    kept_cur = sum(_in(r, *cur) and (r["status"] != "ok" or bool(r.get("attributes"))
                                     or sampled_in(r["session_id"], RATE)) for r in records)
    assert report.sample == {
        "sample_rate": RATE, "always": ["failures", "labeled", "canary", "probe"],
        "reference": {"stored": _stored(engine, *ref), "scanned": _stored(engine, *ref, share=RATE),
                      "counted": expected_ref},
        "current": {"stored": _stored(engine, *cur), "scanned": _stored(engine, *cur, share=RATE),
                    "counted": expected_cur}}
    assert report.sample["current"]["stored"] == kept_cur < expected_cur  # a sample
    assert report.sample["reference"]["stored"] < expected_ref
    # Scanned: the share drawn by id, without the failures and labeled sessions kept beside it.
    assert report.counts["sessions_current"] == report.sample["current"]["scanned"] \
        == sum(_in(r, *cur) and sampled_in(r["session_id"], RATE) for r in records) < kept_cur
    assert report.counts["sessions_reference"] == report.sample["reference"]["scanned"]
    assert report.to_dict()["sample"] == report.sample

    save_report(engine, CONFIG, report, AT)  # the stored pass keeps it
    assert latest_report(engine, CONFIG, since=AT, until=AT).report["sample"] == report.sample
    engine.dispose()


def test_a_pinned_baseline_is_counted_in_its_own_window(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    configure_sampling(engine, StorePolicy("sample", RATE))
    records = _fill(engine)
    pin = (AT - timedelta(days=9), AT - timedelta(days=6))  # v1's reference: older than the default one
    with OrmSession(engine) as s, s.begin():
        s.add(DriftBaseline(model_version="v1", reference_start=pin[0], reference_end=pin[1], pinned_at=AT,
                            pinned_by="test"))
    report = scan_database(engine, CONFIG, AT)

    default = (WINDOWS.reference_start, WINDOWS.current_start)
    counted = sum(_in(r, *default, versions=("v2",)) or _in(r, *pin, versions=("v1",)) for r in records)
    stored = _stored(engine, *default, versions=("v2",)) + _stored(engine, *pin, versions=("v1",))
    scanned = (_stored(engine, *default, versions=("v2",), share=RATE)
               + _stored(engine, *pin, versions=("v1",), share=RATE))
    assert report.sample["reference"] == {"stored": stored, "scanned": scanned, "counted": counted}
    assert report.counts["sessions_reference"] == scanned < stored
    engine.dispose()


def test_a_store_of_every_session_reports_no_sample(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    records = _fill(engine)
    report = scan_database(engine, CONFIG, AT)
    assert report.sample is None and report.to_dict()["sample"] is None
    assert report.counts["sessions_current"] == sum(_in(r, WINDOWS.current_start, AT) for r in records)
    engine.dispose()


def _campaign() -> list[dict]:
    """The same traffic in both windows (half 2 s and half 20 s of audio, alternating), but in the
    current window a labeling campaign sends every long session to labeling, so all of them are
    stored there, against the drawn share of them in the reference."""
    out = []
    for i in range(1200):
        current = i % 2 == 0
        hours = 1 + i % 22 if current else 30 + i % 130
        record = {"session_id": f"c{i}", "ts": (AT - timedelta(hours=hours, minutes=i % 50)).isoformat(),
                  "model_version": "v1", "region": "eu", "status": "ok", "confidence": 0.8, "snr_db": 20.0,
                  "audio_seconds": 20.0 + i % 3 if i // 2 % 2 else 2.0 + i % 3 / 10,
                  "hypothesis": "turn on the lights"}
        if current and i // 2 % 2:
            record["attributes"] = {"labeled": True}
        out.append(record)
    return out


def _audio_drift(report) -> list:
    return [f for f in report.findings if f.feature == "audio_seconds" and f.slice == {}]


def test_a_labeling_campaign_does_not_read_as_drift(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    configure_sampling(engine, StorePolicy("sample", RATE))
    records = _campaign()
    store_sessions(engine, [SessionIn.model_validate(r) for r in records], AT)
    config = DriftConfig(min_reference=20, min_current=20, max_hypotheses=0)  # CAMPAIGN_CONFIG
    cur = (WINDOWS.current_start, AT)
    # What is stored leans to long sessions in the current window only: 100% of them against 20%.
    stored_long = sum(1 for r in records if _in(r, *cur) and r["audio_seconds"] >= 20
                      and (r.get("attributes") or sampled_in(r["session_id"], RATE)))
    assert stored_long / _stored(engine, *cur) > 0.75

    report = scan_database(engine, config, AT)
    assert _audio_drift(report) == []
    assert report.sample["current"]["scanned"] < report.sample["current"]["stored"]

    # The same rows read whole (as a store of every session reads them) show the campaign as a shift.
    configure_sampling(engine, StorePolicy("all"))
    whole = scan_database(engine, config, AT)
    assert [f.severity for f in _audio_drift(whole)] and whole.sample is None
    engine.dispose()


CAMPAIGN_CONFIG = {"min_reference": 20, "min_current": 20, "max_hypotheses": 0}


def test_the_cli_scan_reads_the_share_as_the_server_does(database_url, tmp_path):
    """`asrwatch drift scan` configures the store's sampling from the config as `serve` does, so
    it scans the same share (and routes the same tickets)."""
    import orjson
    import yaml
    from typer.testing import CliRunner

    from asrwatch.cli import app

    engine = make_engine(database_url)
    migrate(engine)
    configure_sampling(engine, StorePolicy("sample", RATE))
    store_sessions(engine, [SessionIn.model_validate(r) for r in _campaign()], AT)
    expected = scan_database(engine, DriftConfig(**CAMPAIGN_CONFIG), AT)
    config = tmp_path / "asrwatch.yaml"
    config.write_text(yaml.safe_dump({"database_url": database_url, "drift": CAMPAIGN_CONFIG,
                                      "store": {"sessions": "sample", "sample_rate": RATE}}))
    result = CliRunner().invoke(app, ["drift", "scan", "--config", str(config), "--at", AT.isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    body = orjson.loads(result.stdout)
    assert body["sample"] == expected.sample and body["sample"]["current"]["scanned"] > 0
    assert body["counts"] == expected.counts
    assert not [f for f in body["findings"] if f["feature"] == "audio_seconds" and f["slice"] == "all"]
    engine.dispose()


def test_the_share_drops_traffic_texts_outside_it_and_keeps_labeled_ones():
    import numpy as np

    from drift.features import SLICE_DIMENSIONS, session_table, slice_columns
    from drift.scan import Texts
    from drift.service import uniform_share
    from drift.vocabulary import LABELED_HYPOTHESIS, REFERENCE, TRAFFIC

    ids = [f"t{i}" for i in range(60)]
    columns = {"session_id": ids, "is_current": [i % 2 for i in range(60)], "status": ["ok"] * 60,
               "audio_seconds": [float(i) for i in range(60)]}
    columns.update({name: ["x"] * 60 for name in slice_columns(SLICE_DIMENSIONS) if name not in columns})
    sessions = session_table(columns)
    kinds = [TRAFFIC, REFERENCE, LABELED_HYPOTHESIS]
    texts = Texts(window=np.array([i % 2 for i in range(60)], dtype=np.int8), ts=np.arange(60, dtype=np.float64),
                  session_id=ids, text=[f"text {i}" for i in range(60)],
                  kind=np.array([kinds[i % 3] for i in range(60)], dtype=np.int8), labels={"region": ["x"] * 60})
    kept, kept_texts = uniform_share(sessions, texts, StorePolicy("sample", 0.3))
    share = [sid for sid in ids if sampled_in(sid, 0.3)]
    assert 0 < len(share) < 60
    assert kept.session_id.tolist() == share
    assert kept.numeric["audio_seconds"].tolist() == [float(sid[1:]) for sid in share]
    expected = [i for i in range(60) if kinds[i % 3] != TRAFFIC or sampled_in(ids[i], 0.3)]
    assert kept_texts.session_id == [ids[i] for i in expected]
    assert kept_texts.text == [f"text {i}" for i in expected] and kept_texts.labels["region"] == ["x"] * len(expected)
    assert kept_texts.ts.tolist() == [float(i) for i in expected]
    assert len(expected) < 60  # some traffic was dropped, no labeled text was
