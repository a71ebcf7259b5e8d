"""Hallucination flags at session ingest, on SQLite and PostgreSQL: the reason bitmask stored per
session (checked on the text as sent, before redaction), the rollup counters (minute and hourly
rows, recounted from the stored sessions by `rollup_compare`), and migration 0012 both ways."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alembic import command
from sqlalchemy import inspect, select

from collector.measures import hallucination as h
from collector.measures import redact
from collector.store import queries
from collector.store.compaction import compact
from collector.store.database import alembic_config, make_engine, migrate
from collector.store.ingest import store_sessions
from collector.store.models import Rollup, Session
from collector.store.schemas import SessionIn
from rollup_compare import hourly_rollups, recomputed_rollups, rollup_differences, stored_rollups

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
AT = T0 + timedelta(hours=3)

# (hypothesis, attributes): what each session sends, and the reasons it must be stored with.
CASES = {
    "clean": ("please call the bank about my account balance", None, 0),
    "short": ("yes", {"no_speech_prob": 0.1}, 0),
    "loop": ("Thank you. Thank you. Thank you. Thank you. Thank you.", None, h.LOOP | h.COMPRESSION),
    "gzip": ("I'm going to the store and then " * 6, None, h.COMPRESSION),
    "silence": ("Thank you.", {"no_speech_prob": 0.93}, h.NO_SPEECH),
    "silent-blank": ("", {"no_speech_prob": 0.99}, 0),
    "no-text": (None, {"no_speech_prob": 0.99}, None),
    # A loop only as sent: redaction turns the spoken digits into one placeholder.
    "pii-loop": ("my number is five five five five five five five", None, h.LOOP),
}


def _records(prefix: str = "", minute: int = 0) -> list[SessionIn]:
    out = []
    for i, (name, (text, attributes, _)) in enumerate(CASES.items()):
        record = {"session_id": f"{prefix}{name}", "ts": (T0 + timedelta(minutes=minute, seconds=i)).isoformat(),
                  "model_version": "whisper-v3", "channel": "telephony" if i % 2 else "web", "status": "ok"}
        if text is not None:
            record["hypothesis"] = text
        if attributes is not None:
            record["attributes"] = attributes
        out.append(SessionIn.model_validate(record))
    return out


def test_flags_stored_per_session_and_counted_in_rollups(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    stored = store_sessions(engine, _records(), T0)
    assert len(stored.accepted) == len(CASES)
    with engine.connect() as conn:
        rows = {r.session_id: r for r in conn.execute(select(Session.session_id, Session.hallucination,
                                                             Session.hypothesis))}
    for name, (text, attributes, want) in CASES.items():
        assert rows[name].hallucination == want, name
        if text is not None:  # the checks' own answer on the text as sent
            assert want == h.hallucination_reasons(text, h.no_speech_prob(attributes)), name
    # Checked before redaction: the stored text no longer loops, the flag still says it did.
    assert rows["pii-loop"].hypothesis == redact(CASES["pii-loop"][0]) != CASES["pii-loop"][0]
    assert h.hallucination_reasons(rows["pii-loop"].hypothesis) == 0

    with engine.connect() as conn:
        assert rollup_differences(stored_rollups(conn), recomputed_rollups(conn)) == []
        totals = {c: sum(r[c] for r in conn.execute(select(Rollup.__table__)).mappings())
                  for c in ("hallucination_checked", "hallucination_flagged", "hallucination_compression",
                            "hallucination_loop", "hallucination_no_speech")}
    assert totals == {"hallucination_checked": len(CASES) - 1, "hallucination_flagged": 4,
                      "hallucination_compression": 2, "hallucination_loop": 2, "hallucination_no_speech": 1}

    # Hourly rows (compaction, then late data into the compacted hour) hold the same counts.
    assert compact(engine, AT) == 1
    store_sessions(engine, _records("late-", minute=30), AT)
    with engine.connect() as conn:
        assert rollup_differences(stored_rollups(conn), recomputed_rollups(conn)) == []
        hourly, expected = hourly_rollups(conn)
        assert rollup_differences(hourly, expected) == []
        assert sum(r["hallucination_flagged"] for r in hourly.values()) == 8

    # A repeat of a session is a duplicate: counted once.
    again = store_sessions(engine, _records(), AT)
    assert again.duplicates == len(CASES) and len(again.accepted) == 0
    (row,) = queries.status_by_group(engine, [], T0, AT, {})
    assert (row["hallucination_checked"], row["hallucination_flagged"]) == (2 * (len(CASES) - 1), 8)
    engine.dispose()


def test_migration_0012_adds_and_removes_the_columns(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    config = alembic_config(engine)

    def columns() -> dict[str, set[str]]:
        with engine.connect() as conn:
            found = inspect(conn)
            return {t: {c["name"] for c in found.get_columns(t)} for t in ("sessions", "rollups", "rollups_hourly")}

    head = columns()
    command.downgrade(config, "0012")  # what 0012 itself added, not the revisions after it
    engine.dispose()
    at_0012 = columns()
    assert "hallucination" in at_0012["sessions"]
    for table in ("rollups", "rollups_hourly"):
        assert {"hallucination_checked", "hallucination_flagged", "hallucination_compression", "hallucination_loop",
                "hallucination_no_speech"} <= at_0012[table]
    command.downgrade(config, "0011")
    engine.dispose()
    before = columns()
    assert "hallucination" not in before["sessions"]
    assert not any(c.startswith("hallucination") for t in before.values() for c in t)
    assert {t: at_0012[t] - before[t] for t in at_0012} == {
        "sessions": {"hallucination"},
        "rollups": {c for c in at_0012["rollups"] if c.startswith("hallucination")},
        "rollups_hourly": {c for c in at_0012["rollups_hourly"] if c.startswith("hallucination")},
    }
    migrate(engine)
    engine.dispose()
    assert columns() == head
    engine.dispose()
