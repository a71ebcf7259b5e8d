"""Retention: transcripts older than `retention_days` lose their text; scores and rollups stay.

Session and span attributes are text as well (redacted at ingest, audited when read), so they go
with the transcripts; span names, timings and the sessions' fields stay for the waterfall.

A session's stored word count goes with its text: drift then reads it as missing, as it read
the count it took from the text before the count was stored."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import null, update
from sqlalchemy.engine import Engine

from collector.store.database import write_transaction
from collector.store.models import Sample, Session, Stage


def apply_retention(engine: Engine, at: datetime, retention_days: float) -> dict[str, int]:
    cutoff = at - timedelta(days=retention_days)
    sessions, samples = Session.__table__, Sample.__table__
    with write_transaction(engine) as conn:
        s = conn.execute(
            update(sessions)
            .where(sessions.c.ts < cutoff, sessions.c.hypothesis.is_not(None))
            .values(hypothesis=None, hypothesis_words=None)
        ).rowcount
        a = conn.execute(
            update(sessions).where(sessions.c.ts < cutoff, sessions.c.attributes.is_not(None)).values(attributes=null())
        ).rowcount
        stages = Stage.__table__
        g = conn.execute(
            update(stages).where(stages.c.start < cutoff, stages.c.attributes.is_not(None)).values(attributes=null())
        ).rowcount
        t = conn.execute(
            update(samples)
            .where(samples.c.ts < cutoff, (samples.c.reference.is_not(None)) | (samples.c.hypothesis.is_not(None)))
            .values(reference=None, hypothesis=None)
        ).rowcount
    return {"sessions": s, "samples": t, "session_attributes": a, "stage_attributes": g}
