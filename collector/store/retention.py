"""Retention: transcripts older than `retention_days` lose their text; scores and rollups stay.

A session's stored word count goes with its text: drift then reads it as missing, as it read
the count it took from the text before the count was stored."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine

from collector.store.database import write_transaction
from collector.store.models import Sample, Session


def apply_retention(engine: Engine, at: datetime, retention_days: float) -> dict[str, int]:
    cutoff = at - timedelta(days=retention_days)
    sessions, samples = Session.__table__, Sample.__table__
    with write_transaction(engine) as conn:
        s = conn.execute(
            update(sessions)
            .where(sessions.c.ts < cutoff, sessions.c.hypothesis.is_not(None))
            .values(hypothesis=None, hypothesis_words=None)
        ).rowcount
        t = conn.execute(
            update(samples)
            .where(samples.c.ts < cutoff, (samples.c.reference.is_not(None)) | (samples.c.hypothesis.is_not(None)))
            .values(reference=None, hypothesis=None)
        ).rowcount
    return {"sessions": s, "samples": t}
