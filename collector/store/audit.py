"""Audit rows: the one way every part writes them (`entry`, then `record` or the caller's own
transaction, so an action and its audit row commit together), and transcript access: who read
which sessions' text, and when — never the text.

A response that carries transcript text or text a sender attached to a session (a session's
hypothesis or `attributes`, its trace's stages: span names and attributes, a sample's reference
or hypothesis) is recorded as one `transcript.read` row per request, naming the caller, its
token fingerprint, the endpoint and the session ids. All of it is redacted at ingest, and all
of it is audited: redaction is a pattern match and misses some PII.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession

from collector.store.models import AuditEntry

TRANSCRIPT_READ = "transcript.read"


def _has_text(row: Mapping[str, Any]) -> bool:
    # Stages carry span names and the span's and its resource's attributes.
    if row.get("hypothesis") or row.get("attributes") or row.get("stages"):
        return True
    return any(s.get("reference") or s.get("hypothesis") for s in row.get("samples") or ())


def sessions_with_text(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Ids of the sessions whose text (transcripts, attributes, stages) a response carries, in
    response order."""
    return [str(row["session_id"]) for row in rows if _has_text(row)]


def entry(at: datetime, actor: str, action: str, target: str, reason: str,
          evidence: Mapping[str, Any] | None = None, *, event_at: datetime | None = None) -> AuditEntry:
    """An audit row, its short columns cut to their sizes (a long name never fails the action it
    records). `at` is the wall clock of the action; `event_at` the event time it judged, for the
    actions the evaluation clock drives (rollbacks), None for a person's action."""
    return AuditEntry(at=at, event_at=event_at, actor=actor[:128], action=action[:64], target=target[:256],
                      reason=reason, evidence=dict(evidence) if evidence is not None else None)


def transcript_read_entry(at: datetime, identity: str, token_id: str | None, endpoint: str,
                          session_ids: list[str]) -> AuditEntry | None:
    """The audit row for a response, or None when it carries no transcript text."""
    if not session_ids:
        return None
    target = session_ids[0] if len(session_ids) == 1 else f"{len(session_ids)} sessions"
    return entry(at, f"api:{identity}", TRANSCRIPT_READ, target, f"transcript text returned by {endpoint}",
                 {"token": token_id, "endpoint": endpoint, "session_ids": session_ids})


def record(engine: Engine, entry: AuditEntry | None) -> None:
    if entry is None:
        return
    with OrmSession(engine) as s, s.begin():
        s.add(entry)
