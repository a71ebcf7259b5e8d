"""The SLO engine's only SQL: rollup rows -> per-minute good/total series per group.

What each SLI counts (per rollup row):
- availability: total = sessions, good = status_ok.
- latency / first_partial_latency / queue_latency: total = sessions that reported that
  latency (the histogram's count), good = at or under `threshold_ms` (exact for thresholds with
  three significant digits). Sessions without the field are not judged by that SLI.
- quality: total = labeled utterances, good = utterance WER (errors / ref_words) at or under
  `max_wer`; an utterance with no reference words scores 0 without errors, else 1 (as
  `collector.wer` and the asrwatch_utterance_wer histogram score it).
- decode_errors: total = sessions, bad = status_decode_error + empty_hypotheses (the
  collector counts an empty hypothesis only on sessions not already a decode error), capped
  at sessions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, case, func, or_, select, type_coerce
from sqlalchemy.engine import Connection, Engine

from collector.database import read_connection
from collector import histogram, histogram_sql
from collector.models import Rollup
from slo.evaluation import series_span
from slo.series import Counts, SLISeries, floor_minute, series_of
from slo.series_cache import SeriesCache
from slo.spec import SLOSpec

_HIST_FOR = {"latency": "latency_hist", "first_partial_latency": "first_partial_hist",
             "queue_latency": "queue_hist"}


def _columns(spec: SLOSpec) -> tuple[str, ...]:
    if spec.sli == "availability":
        return ("sessions", "status_ok")
    if spec.sli == "decode_errors":
        return ("sessions", "status_decode_error", "empty_hypotheses")
    if spec.sli == "quality":
        return ("wer_pairs",)
    return (_HIST_FOR[spec.sli],)


def wer_good(pairs: Mapping[str, Any], max_wer: float) -> tuple[int, int]:
    """(good, total) labeled utterances from `{"errors:ref_words": count}`."""
    good = total = 0
    for key, count in (pairs or {}).items():
        errors, ref_words = (int(x) for x in str(key).split(":"))
        n = int(count)
        total += n
        # As collector.wer scores it: an empty reference is 0 with no errors, else 1.
        wer = (0.0 if errors == 0 else 1.0) if ref_words == 0 else errors / ref_words
        wer_ok = wer <= max_wer
        good += n if wer_ok else 0
    return good, total


def row_counts(spec: SLOSpec, row: Mapping[str, Any]) -> tuple[int, int]:
    """(good, total) events of one rollup row for this SLO's SLI."""
    if spec.sli == "availability":
        return int(row["status_ok"] or 0), int(row["sessions"] or 0)
    if spec.sli == "decode_errors":
        total = int(row["sessions"] or 0)
        bad = min(total, int(row["status_decode_error"] or 0) + int(row["empty_hypotheses"] or 0))
        return total - bad, total
    if spec.sli == "quality":
        return wer_good(row["wer_pairs"] or {}, float(spec.max_wer))  # type: ignore[arg-type]
    hist = row[_HIST_FOR[spec.sli]] or {}
    return histogram.count_at_or_below(hist, float(spec.threshold_ms)), histogram.total(hist)  # type: ignore[arg-type]


def build_series(
    spec: SLOSpec, rows: Iterable[Mapping[str, Any]], start: datetime, end: datetime
) -> SLISeries:
    """Pure: rollup rows (mappings with `minute`, the group dimensions and the SLI's columns)
    -> SLISeries over the minutes [start, end). Rows outside the range or filters are ignored."""
    wanted = spec.filter_values()
    counted = (
        (row["minute"], tuple(str(row[d]) for d in spec.group_by), *row_counts(spec, row))
        for row in rows
        if all(str(row[k]) in v for k, v in wanted.items())
    )
    return series_of_counts(spec, counted, start, end)


def series_of_counts(
    spec: SLOSpec, counted: Iterable[tuple[datetime, tuple[str, ...], int, int]], start: datetime, end: datetime
) -> SLISeries:
    """Pure: (minute, group key, good, total) tuples -> SLISeries over the minutes [start, end)."""
    return series_of([Counts.of(counted, start)], tuple(spec.group_by), start, end)


def _counts_query(spec: SLOSpec, dialect: str):
    """Good and total events per minute and group, added up by the database. Quality sums
    per (errors:ref_words) pair instead; `_read_counts` judges each pair against max_wer."""
    table = Rollup.__table__
    keys = [table.c.minute] + [table.c[d] for d in spec.group_by]
    if dialect == "sqlite":
        # The stored text, parsed once per distinct minute by `Counts.of_columns` rather than per row.
        keys[0] = type_coerce(table.c.minute, String)
    if spec.sli == "availability":
        return select(*keys, func.sum(table.c.status_ok), func.sum(table.c.sessions)).group_by(*keys)
    if spec.sli == "decode_errors":
        failed = table.c.status_decode_error + table.c.empty_hypotheses
        bad = case((failed > table.c.sessions, table.c.sessions), else_=failed)  # capped at sessions
        total = func.sum(table.c.sessions)
        return select(*keys, total - func.sum(bad), total).group_by(*keys)
    column = table.c["wer_pairs" if spec.sli == "quality" else _HIST_FOR[spec.sli]]
    entries = histogram_sql.entries(dialect, column)
    n = histogram_sql.count(entries)
    if spec.sli == "quality":
        query = select(*keys, entries.c.key, func.sum(n)).group_by(*keys, entries.c.key)
        return histogram_sql.joined(query, table, entries).where(table.c.wer_utterances > 0)
    limit = histogram.limit_code(float(spec.threshold_ms))  # type: ignore[arg-type]
    good = func.sum(case((histogram_sql.bucket(entries) <= limit, n), else_=0))
    return histogram_sql.joined(select(*keys, good, func.sum(n)), table, entries).group_by(*keys)


def load_series(engine: Engine, spec: SLOSpec, at: datetime, cache: SeriesCache | None = None) -> SLISeries:
    """Rollups for the spec's filters over [floor(at) - series_span, floor(at)); with a cache, only
    the hours that changed since it last read them (see `slo.series_cache`)."""
    end = floor_minute(at)
    start = end - series_span(spec)
    with read_connection(engine) as conn:
        read = lambda ranges, origin: _read_counts(conn, spec, ranges, origin)  # noqa: E731
        pieces = cache.pieces(conn, spec, start, end, read) if cache is not None else [read([(start, end)], start)]
    return series_of(pieces, tuple(spec.group_by), start, end)


def _read_counts(conn: Connection, spec: SLOSpec, ranges: list[tuple[datetime, datetime]], origin: datetime) -> Counts:
    """Good and total per minute and group over the minute ranges [since, until)."""
    table = Rollup.__table__
    query = _counts_query(spec, conn.dialect.name).where(
        or_(*[and_(table.c.minute >= since, table.c.minute < until) for since, until in ranges]))
    for dim, values in spec.filter_values().items():
        query = query.where(table.c[dim].in_(values))
    rows = conn.execute(query).all()
    width = len(spec.group_by)
    keys = [tuple(r[1:1 + width]) for r in rows]
    if spec.sli != "quality":
        return Counts.of_columns(origin, [r[0] for r in rows], keys, [r[-2] or 0 for r in rows],
                                 [r[-1] or 0 for r in rows])
    pairs: dict[tuple, dict[str, int]] = {}
    for r, key in zip(rows, keys):
        pairs.setdefault((r[0], key), {})[r[-2]] = int(r[-1])
    judged = [(m, key, *wer_good(p, float(spec.max_wer))) for (m, key), p in pairs.items()]  # type: ignore[arg-type]
    return Counts.of(judged, origin)
