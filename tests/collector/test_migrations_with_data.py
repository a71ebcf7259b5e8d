"""An upgrade of a store that already holds data: from the oldest revision (0001) to head.

At 0001 the store gets representative rows of its own tables (sessions of every status and odd
transcript, labeled samples, OTLP stages, minute rollups, audit entries), written as the
collector writes them: the same records go through the current ingest into a scratch store, and
their columns that 0001 has are copied over (autoincrement ids left to the database, as the
collector left them). Then `migrate` (the collector's own upgrade path, with PostgreSQL's
advisory lock) brings it to head, whatever head is when this runs, and:
- every row reads back through the current models with its values, and columns added since
  0001 hold their backfilled values;
- the minute rollups equal the ones recomputed from the sessions and samples, the compactor
  fills the hourly table from them (migration 0006 adds it with no backfill), and queries
  answer from them what the samples say;
- the upgraded store takes new data, which lands in the rollups and hourly rows too (on
  PostgreSQL the id sequences carried on from the rows written at 0001).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from rollup_compare import hourly_rollups, recomputed_rollups, rollup_differences, stored_rollups
from sqlalchemy import MetaData, Table, insert, inspect, select, text
from sqlalchemy.orm import Session as OrmSession

from collector.store import queries
from collector.store.compaction import compact
from collector.store.database import alembic_config, make_engine, migrate
from collector.store.ingest import score_and_store_samples, store_sessions
from collector.store import partitions
from collector.store.models import CUSTOM_SLOTS, AuditEntry, HourlyRollup, Rollup, Sample, Session, Stage
from collector.store.rollups import hour_of
from collector.store.schemas import SampleIn, SessionIn

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
AT = T0 + timedelta(hours=5)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
# Transcripts a word count or a text column could trip on: blank, spaces only, a double space,
# tabs and newlines (not word separators), non-ASCII, quotes, and none at all.
HYPOTHESES = ["turn on the kitchen lights", "", "   ", "set a  timer", "call\tmom\nnow", "café au lait s'il vous plaît",
              'say "hello"', None, "  leading and trailing  "]
STATUSES = ["ok", "partial", "decode_error", "dropped", "timeout"]


def _records() -> tuple[list[SessionIn], list[SampleIn]]:
    sessions, samples = [], []
    for i in range(36):
        ts = T0 + timedelta(minutes=7 * i, seconds=i % 60, microseconds=1000 * i)  # 4 hours, odd seconds
        hypothesis = HYPOTHESES[i % len(HYPOTHESES)]
        sessions.append(SessionIn.model_validate({
            "session_id": f"s{i:02d}", "ts": ts.isoformat(), "model_version": ["whisper-v1", "whisper-v2"][i % 2],
            "region": ["eu", "us", "ap"][i % 3], "channel": ["web", "telephony"][i % 2], "tenant": "acme",
            "language": "en", "pool": ["default", "h100"][i % 2], "status": STATUSES[i % 5],
            "audio_seconds": 2.5 + i, "first_partial_ms": 120.0 + i, "final_latency_ms": 400.0 + 37 * i,
            "queue_ms": float(i), "partial_rewrites": i % 3, "confidence": 0.5 + i / 100, "snr_db": 3.0 + i,
            "gpu_seconds": 0.25 * i, "turn_success": [True, False, None][i % 3], "shadow": i % 7 == 0,
            "retries": i % 2, "hypothesis": hypothesis, "trace_id": TRACE if i == 0 else None,
            "attributes": {"device": "kiosk", "build": i} if i % 4 == 0 else None,
        }))
        if hypothesis and i % 2 == 0:
            samples.append(SampleIn(session_id=f"s{i:02d}", reference="turn on the kitchen light",
                                    source="human" if i % 4 else "probe"))
    return sessions, samples


def _scratch_rows(tmp_path) -> dict[str, list[dict]]:
    """The rows the current collector writes for `_records()`, per table."""
    engine = make_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
    migrate(engine)
    sessions, samples = _records()
    store_sessions(engine, sessions, AT)
    scored, rejected = score_and_store_samples(engine, list(enumerate(samples)), "basic", AT)
    assert not rejected and len(scored) == len(samples)
    with engine.connect() as conn:
        rows = {model.__tablename__: [dict(r) for r in conn.execute(select(model.__table__)).mappings()]
                for model in (Session, Sample, Rollup)}
    engine.dispose()
    for row in rows["rollups"]:  # keyed as before migration 0017 (no slots): the upgrade extends the keys
        assert row["rollup_key"].endswith("|unknown" * len(CUSTOM_SLOTS))
        row["rollup_key"] = row["rollup_key"].removesuffix("|unknown" * len(CUSTOM_SLOTS))
    rows["stages"] = [
        {"id": None, "trace_id": TRACE, "span_id": f"{k:016x}", "parent_span_id": None if k == 0 else f"{0:016x}",
         "name": name, "start": T0 + timedelta(milliseconds=10 * k), "duration_ms": 5.0 * (k + 1),
         "attributes": {"asr.stage": name}}
        for k, name in enumerate(["ingest", "preprocess", "inference", "decode"])]
    rows["audit_log"] = [{"id": None, "at": T0 + timedelta(hours=1), "actor": "api:admin", "action": "rollout.rollback",
                          "target": "canary-1", "reason": "WER regression in far_field",
                          "evidence": {"wer": 0.31, "slices": ["far_field"]}}]
    return rows


def _write_at_0001(engine, rows: dict[str, list[dict]]) -> None:
    """Insert with the column types the models give (UTCDateTime, JSON: what 0001's collector
    used), restricted to the columns 0001 has; ids are the database's to assign."""
    models = {"sessions": Session, "samples": Sample, "rollups": Rollup, "stages": Stage, "audit_log": AuditEntry}
    metadata = MetaData()
    with engine.begin() as conn:
        inspector = inspect(conn)  # on this connection: a second one would wait for SQLite's write lock
        for name, model in models.items():
            at_0001 = {c["name"] for c in inspector.get_columns(name)}
            table = Table(name, metadata, *[c._copy() for c in model.__table__.columns
                                            if c.name in at_0001 and c.name != "id"])
            conn.execute(insert(table), [{k: v for k, v in row.items() if k in table.c} for row in rows[name]])


def _revision(engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_upgrade_from_0001_keeps_the_data_and_derives_the_new_tables(database_url, tmp_path):
    rows = _scratch_rows(tmp_path)
    engine = make_engine(database_url)
    config = alembic_config(engine)
    command.upgrade(config, "0001")
    assert _revision(engine) == "0001"
    with engine.connect() as conn:
        inspector = inspect(conn)
        at_0001 = {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()}
    assert "rollups_hourly" not in at_0001 and "sessions" in at_0001
    _write_at_0001(engine, rows)

    migrate(engine)
    engine.dispose()  # the schema changed under the pool
    head = ScriptDirectory.from_config(config).get_current_head()
    assert _revision(engine) == head and head != "0001"

    # Every row reads back through the current models, with its values.
    with OrmSession(engine) as orm:
        sessions = {s.session_id: s for s in orm.scalars(select(Session))}
        samples = {s.session_id: s for s in orm.scalars(select(Sample))}
        stages = list(orm.scalars(select(Stage).order_by(Stage.start)))
        audit = list(orm.scalars(select(AuditEntry)))
    assert len(sessions) == 36 and len(samples) == len(rows["samples"]) > 5
    if engine.dialect.name == "postgresql":  # 0019: partitioned by day, every row in its day's partition
        days = {partitions.partition_name(s.ts.date()) for s in sessions.values()}
        assert set(partitions.partitions(engine)) == days | {partitions.DEFAULT}
        with engine.connect() as conn:
            assert conn.execute(text(f"SELECT count(*) FROM {partitions.DEFAULT}")).scalar() == 0
    for want in rows["sessions"]:
        got = sessions[want["session_id"]]
        for column in at_0001["sessions"]:
            assert getattr(got, column) == want[column], (want["session_id"], column)
        assert got.ts.tzinfo is not None and got.ts.utcoffset() == timedelta(0)
        if "hypothesis_words" in Session.__table__.c:  # 0008: backfilled from the text
            from collector.measures.word_count import hypothesis_words
            assert got.hypothesis_words == hypothesis_words(got.hypothesis), (got.session_id, got.hypothesis)
    assert sessions["s05"].hypothesis == "café au lait s'il vous plaît" and sessions["s07"].hypothesis is None
    assert sessions["s04"].attributes == {"device": "kiosk", "build": 4} and sessions["s01"].attributes is None
    if "hypothesis_words" in Session.__table__.c:
        assert [sessions[f"s0{i}"].hypothesis_words for i in range(9)] == [5, 0, 0, 4, 1, 6, 2, None, 3]
    for want in rows["samples"]:
        got = samples[want["session_id"]]
        assert {c: getattr(got, c) for c in at_0001["samples"] if c != "id"} == \
               {c: want[c] for c in at_0001["samples"] if c != "id"}
    assert [(s.name, s.duration_ms) for s in stages] == [("ingest", 5.0), ("preprocess", 10.0), ("inference", 15.0),
                                                        ("decode", 20.0)]
    assert [(a.action, a.evidence) for a in audit] == [("rollout.rollback", {"wer": 0.31, "slices": ["far_field"]})]
    assert [s["name"] for s in queries.get_session(engine, "s00")["stages"]] == ["ingest", "preprocess", "inference",
                                                                                 "decode"]

    # The derived tables: minute rollups as the sessions and samples say, hourly ones filled by
    # the compactor from nothing (0006 adds the table empty), queries answering from them.
    with engine.connect() as conn:
        assert not conn.execute(select(HourlyRollup.__table__)).first()
        assert rollup_differences(stored_rollups(conn), recomputed_rollups(conn)) == []
    hours = {hour_of(s.ts) for s in sessions.values()}
    assert compact(engine, AT) == len(hours) == 5
    with engine.connect() as conn:
        stored, expected = hourly_rollups(conn)
        assert len(stored) > len(hours) and rollup_differences(stored, expected) == []
        assert {r.hour for r in conn.execute(select(HourlyRollup.hour))} == hours
    (wer,) = queries.wer_by_group(engine, [], T0, AT, {}, resamples=10)
    errors = sum(s.substitutions + s.deletions + s.insertions for s in samples.values())
    words = sum(s.ref_words for s in samples.values())
    assert (wer["utterances"], wer["ref_words"]) == (len(samples), words) and wer["wer"] == errors / words > 0

    # The upgraded store takes new data: into a compacted hour (rollups and hourly rows both)
    # and with new sample ids after the ones written at 0001.
    late = SessionIn.model_validate({"session_id": "late", "ts": (T0 + timedelta(minutes=30)).isoformat(),
                                     "model_version": "whisper-v2", "status": "ok", "final_latency_ms": 380,
                                     "hypothesis": "turn on the kitchen lights"})
    store_sessions(engine, [late], AT)
    scored, rejected = score_and_store_samples(
        engine, [(0, SampleIn(session_id="late", reference="turn on the kitchen lights"))], "basic", AT)
    assert not rejected and len(scored) == 1
    with engine.connect() as conn:
        assert rollup_differences(stored_rollups(conn), recomputed_rollups(conn)) == []
        stored, expected = hourly_rollups(conn)
        assert rollup_differences(stored, expected) == []
        ids = {r.session_id: r.id for r in conn.execute(select(Sample.session_id, Sample.id))}
    assert len(ids) == len(samples) + 1 and len(set(ids.values())) == len(ids)
    assert ids["late"] > max(v for k, v in ids.items() if k != "late")
    (after,) = queries.wer_by_group(engine, [], T0, AT, {}, resamples=10)
    assert after["utterances"] == len(samples) + 1 and after["ref_words"] == words + 5
    engine.dispose()
