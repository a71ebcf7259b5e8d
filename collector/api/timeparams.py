"""Query-string times: RFC 3339, timezone-aware UTC, defaulting to a window ending now."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastapi import HTTPException
from sqlalchemy.engine import Engine

from collector.store import EARLIEST, LATEST, evaluation_time


def parse_time(value: str | None, name: str, default: datetime) -> datetime:
    if value is None or value == "":
        return default
    if not isinstance(value, str):  # e.g. a number in a JSON body's metadata.at
        raise HTTPException(422, f"{name}: not an RFC 3339 time: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise HTTPException(422, f"{name}: not an RFC 3339 time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise HTTPException(422, f"{name}: needs a timezone offset (e.g. 2026-11-21T10:00:00Z)")
    try:
        parsed = parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        parsed = None
    # Windows reach back from a time by up to years: far-off times would overflow, not answer.
    if parsed is None or not EARLIEST <= parsed < LATEST:
        raise HTTPException(422, f"{name}: must be between {EARLIEST.year} and {LATEST.year}, got {value!r}")
    return parsed


def at_or_collector_now(value: str | None, name: str, engine: Engine, clock_mode: str) -> datetime:
    """`at` as given, else the collector's clock (the watermark in watermark mode), as the
    evaluators judge "now": a live view or a peer's gate must agree with the alerts and verdicts
    they act on, during a replay too."""
    if value is not None:
        return parse_time(value, name, datetime.now(timezone.utc))
    return evaluation_time(engine, clock_mode)


def window(since: str | None, until: str | None, default_span: timedelta = timedelta(hours=24)) -> tuple[datetime, datetime]:
    end = parse_time(until, "until", datetime.now(timezone.utc))
    start = parse_time(since, "since", end - default_span)
    if start >= end:
        raise HTTPException(422, "since: must be before until")
    return start, end
