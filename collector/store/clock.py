"""Which event time the evaluators judge "now".

`wall`: the wall clock, for live fleets. `watermark`: the newest event minute ingested (from
rollups, so every replica agrees and a restart resumes), for replayed or time-compressed data
such as the demo; capped a little past the wall clock so one future-dated record cannot fast-
forward every window.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.store.database import read_connection
from collector.store.models import Rollup

# The times any stored or queried event may carry (a schema bound and a query bound).
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)

FUTURE_CAP = timedelta(minutes=5)


def watermark(engine: Engine) -> datetime | None:
    with read_connection(engine) as conn:
        newest = conn.execute(select(func.max(Rollup.minute))).scalar()
    if newest is None:
        return None
    if newest.tzinfo is None:  # SQLite hands back text-derived naive UTC on aggregates
        newest = newest.replace(tzinfo=timezone.utc)
    return newest + timedelta(minutes=1)


def evaluation_time(engine: Engine, mode: str, wall_now: datetime | None = None) -> datetime:
    wall = wall_now or datetime.now(timezone.utc)
    if mode == "wall":
        return wall
    if mode != "watermark":
        raise ValueError(f"evaluator_clock: unknown mode {mode!r} (wall or watermark)")
    mark = watermark(engine)
    return wall if mark is None else min(mark, wall + FUTURE_CAP)
