"""Throughput and load per node or pool over a window (`GET /api/v1/throughput`), from the node
rollups (`collector.store.node_rollups`), per step-aligned bucket with `step`.

Per group: sessions, sessions per second and audio seconds processed per second over the
window's (or bucket's) length, GPU seconds, the mean and the highest concurrent streams the
sessions reported, the mean GPU utilisation reported, and the mean queue time: load and delay
side by side, so a responder sees whether the queue grows with load (saturation) or without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.store.database import read_connection
from collector.store.models import NodeRollup
from collector.store.queries import Groups, answer, pages
from collector.store.rollup_window import bucket_index, bucket_start

THROUGHPUT_DIMENSIONS = ("node", "pool")
_TABLE = NodeRollup.__table__


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def throughput_by_group(engine: Engine, group_by: Sequence[str], since: datetime, until: datetime,
                        filters: Mapping[str, str], *, limit: int | None = None, offset: int = 0,
                        step: timedelta | None = None) -> Groups:
    for dim in group_by:
        if dim not in THROUGHPUT_DIMENSIONS:
            raise ValueError(f"group_by: unknown dimension {dim!r} for throughput (one of node, pool)")
    t = _TABLE.c
    with read_connection(engine) as conn:
        bucket = [bucket_index(conn.dialect.name, t.minute, step).label("t")] if step is not None else []
        keys = [*bucket, *[t[d] for d in group_by]]
        query = select(*keys, func.sum(t.sessions), func.sum(t.audio_seconds), func.sum(t.gpu_seconds),
                       func.sum(t.queue_ms_sum), func.sum(t.queue_count), func.sum(t.streams_sum),
                       func.sum(t.streams_count), func.max(t.streams_max), func.sum(t.gpu_utilization_sum),
                       func.sum(t.gpu_utilization_count)).where(t.minute >= since, t.minute < until)
        for dim, value in filters.items():
            query = query.where(t[dim] == value)
        # A window without sessions has no group (an aggregate without GROUP BY answers one row of NULLs).
        rows = {tuple(r[:len(keys)]): r[len(keys):] for r in conn.execute(query.group_by(*keys)).all() if r[len(keys)]}
    page, total, cut = pages(list(rows), limit, offset, step is not None)
    out = []
    for key in page:
        # PostgreSQL sums integers as numeric (Decimal): plain numbers from here on.
        sessions, audio, gpu, queue_sum, queue_n, streams_sum, streams_n, streams_max, util_sum, util_n = (
            float(v or 0) for v in rows[key])
        if step is not None:
            start = bucket_start(key[0], step)
            span = (min(start + step, until) - max(start, since)).total_seconds()
            entry: dict[str, Any] = {"t": start}
        else:
            span, entry = (until - since).total_seconds(), {}
        entry |= dict(zip(group_by, key[len(bucket):]))
        entry |= {"sessions": int(sessions), "sessions_per_s": _ratio(sessions, span),
                  "audio_seconds_per_s": _ratio(audio, span), "gpu_seconds": gpu,
                  "concurrent_streams_mean": _ratio(streams_sum, streams_n),
                  "concurrent_streams_max": int(streams_max) if streams_n else None,
                  "gpu_utilization": _ratio(util_sum, util_n), "queue_ms_mean": _ratio(queue_sum, queue_n)}
        out.append(entry)
    return answer(out, total, offset, cut, step is not None)
