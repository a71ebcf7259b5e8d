"""A windowed query over time: the same query, once per step-aligned bucket of the range.

`step=` on `/api/v1/latency`, `/status`, `/wer` and `/cost` answers one row per (bucket start `t`,
group). Each bucket is that query over [t, t + step) clipped to the range, so a row is exactly
what the query gives for that window (the rollups' hourly rows for its whole compacted hours,
minute rows for the rest: `collector.store.rollup_window`), and a chart of it agrees with the
tables beside it. `/latency`, `/status` and `/throughput` read the whole range once, each row tagged with its
bucket (`ONE_READ`: a query per bucket cost 96 round trips and histogram merges for a day at 15
minutes, 1.8 s of the on-call page at a million sessions); the others run once per bucket.
`time_buckets.MAX_POINTS` bounds the buckets either way.
`/wer` is bounded lower, by WER_MAX_BUCKETS: each of its buckets also draws a bootstrap interval
(`collector.measures.wer`, 1000 resamples of the bucket's utterances), so 2000 buckets would be
2000 bootstraps in one request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from collector.store import queries
from collector.store.queries import Buckets, Groups
from collector.store.throughput_query import throughput_by_group
from collector.store.time_buckets import MAX_POINTS, bucket_starts

WER_MAX_BUCKETS = 200  # a screen-wide chart needs far fewer (the console asks for at most 120)


# Queries that take `step=` themselves: one read of the range, rows grouped by bucket too.
ONE_READ = {queries.latency_by_group, queries.status_by_group, throughput_by_group}


def by_bucket(fn: Callable[..., Groups], engine: Engine, group_by: Sequence[str], since: datetime, until: datetime,
              step: timedelta, filters: Mapping[str, str], *args, limit: int | None = None, offset: int = 0,
              max_points: int = MAX_POINTS) -> Groups:
    """`fn(engine, group_by, window start, window end, filters, *args, limit=, offset=)` per bucket,
    its rows prefixed with `t` (the bucket's start), buckets in time order. `total` is the most
    groups any bucket had; `truncated` says whether some bucket's groups were cut."""
    starts = bucket_starts(since, until, step, max_points)  # refuses too many buckets either way
    if getattr(fn, "func", fn) in ONE_READ:  # the query itself, or a partial of it
        return fn(engine, group_by, since, until, filters, *args, limit=limit, offset=offset, step=step)
    out = Buckets()
    out.offset = offset
    for t in starts:
        part = fn(engine, group_by, max(t, since), min(t + step, until), filters, *args, limit=limit, offset=offset)
        out += [{"t": t, **row} for row in part]
        out.total = max(out.total, part.total)
        out.cut = out.cut or part.truncated
    return out
