"""The SLO engine's only SQL: rollup rows -> good/total counts per group, per minute (per hour
from the hourly rollups), read for a family of SLOs in one snapshot of the database.

What each SLI counts (per rollup row):
- availability: total = sessions, good = status_ok.
- latency / first_partial_latency / queue_latency: total = sessions that reported that
  latency (the histogram's count), good = at or under `threshold_ms` (exact for thresholds with
  three significant digits). Sessions without the field are not judged by that SLI.
- quality: total = labeled utterances, good = utterance WER (errors / ref_words) at or under
  `max_wer`; an utterance with no reference words scores 0 without errors, else 1
  (`collector.measures.wer.utterance_wer`, as the asrwatch_utterance_wer histogram scores it).
  Utterances of languages written without spaces (`wer.SPACELESS_LANGUAGES`, by the slice's
  `language`) are judged by their CER instead (`cer_pairs`): their WER counts a sentence as one
  word. `max_wer` is then the highest CER.
- diarization: total = diarized sessions (labeled samples with segments), good = session DER at or
  under `max_der`, from the rollups' `"error_ms:speech_ms"` pairs (judged as quality's pairs are:
  `collector.measures.wer.pairs_good`).
- entity_recall: total = entity occurrences in the references, good = those the hypotheses found.
- decode_errors: total = sessions, bad = status_decode_error + empty_hypotheses (the
  collector counts an empty hypothesis only on sessions not already a decode error), capped
  at sessions.
- hallucination: total = sessions with a hypothesis checked by the label-free hallucination
  checks (`collector.measures.hallucination`), good = those not flagged.
- cache_hit: total = sessions that said whether a cache answered them, good = those it did.
- fallback: total = sessions that named their backend, bad = those the paid API served (the
  circuit breaker's fallback when the self-hosted path fails).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import String, and_, case, func, or_, select, type_coerce
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement

from collector.measures import histogram
from collector.measures import wer as wer_math
from collector.store import FIXED_ONLY, Dimensions, HourlyRollup, Rollup, dimensions_of, histogram_sql, hour_of, read_connection
from slo import maintenance
from slo.alerting import longest_window
from slo.evaluation import series_span
from slo.series import Counts, CountsSet, floor_minute
from slo.series_cache import SeriesCache, spec_key
from slo.spec import SLOSpec
from slo.tiered_series import TieredSeries, ceil_hour, tiered_series

_HIST_FOR = {"latency": "latency_hist", "first_partial_latency": "first_partial_hist",
             "queue_latency": "queue_hist"}


def spaceless(language) -> ColumnElement:
    """SQL: the slice's language is written without spaces (`wer.written_without_spaces`: the
    primary subtag of "zh", "zh-CN", "zh_TW"... in `wer.SPACELESS_LANGUAGES`)."""
    lowered = func.lower(language)
    return or_(*[cond for code in sorted(wer_math.SPACELESS_LANGUAGES)
                 for cond in (lowered == code, lowered.like(f"{code}-%"), lowered.like(f"{code}!_%", escape="!"))])


def quality_pairs(table) -> ColumnElement:
    """The pairs the quality SLI judges: CER's for languages written without spaces, else WER's."""
    return case((spaceless(table.c.language), table.c.cer_pairs), else_=table.c.wer_pairs)


def _counts_query(spec: SLOSpec, dialect: str, table=None, time_column: str = "minute",
                  thresholds: Sequence[float] | None = None, dims: Dimensions = FIXED_ONLY):
    """Good and total events per minute (per hour from `rollups_hourly`) and group, added up by
    the database. Quality sums per (errors:ref_words) pair instead; `_read_set` judges each
    pair against max_wer. A latency SLI gets one good column per threshold (default: the spec's),
    so SLOs differing only in their thresholds share one pass over the histograms."""
    table = Rollup.__table__ if table is None else table
    keys = [table.c[time_column]] + [table.c[dims.column(d)] for d in spec.group_by]  # configured ones: their slot
    if dialect == "sqlite":
        # The stored text, parsed once per distinct minute by `Counts.of_columns` rather than per row.
        keys[0] = type_coerce(table.c[time_column], String)
    if spec.sli == "availability":
        return select(*keys, func.sum(table.c.status_ok), func.sum(table.c.sessions)).group_by(*keys)
    if spec.sli == "decode_errors":
        failed = table.c.status_decode_error + table.c.empty_hypotheses
        bad = case((failed > table.c.sessions, table.c.sessions), else_=failed)  # capped at sessions
        total = func.sum(table.c.sessions)
        return select(*keys, total - func.sum(bad), total).group_by(*keys)
    if spec.sli == "hallucination":
        checked = func.sum(table.c.hallucination_checked)
        return select(*keys, checked - func.sum(table.c.hallucination_flagged), checked).where(
            table.c.hallucination_checked > 0).group_by(*keys)
    if spec.sli == "cache_hit":
        return select(*keys, func.sum(table.c.cache_hits), func.sum(table.c.cache_lookups)).where(
            table.c.cache_lookups > 0).group_by(*keys)
    if spec.sli == "fallback":
        reported = func.sum(table.c.backend_sessions)
        return select(*keys, reported - func.sum(table.c.fallback_sessions), reported).where(
            table.c.backend_sessions > 0).group_by(*keys)
    if spec.sli == "entity_recall":
        return select(*keys, func.sum(table.c.entities_found), func.sum(table.c.entity_occurrences)).where(
            table.c.entity_occurrences > 0).group_by(*keys)
    if spec.sli == "diarization":  # per (error_ms:speech_ms) pair, judged against max_der by `_read_set`
        entries = histogram_sql.entries(dialect, table.c.diar_pairs)
        query = select(*keys, entries.c.key, func.sum(histogram_sql.count(entries))).group_by(*keys, entries.c.key)
        return histogram_sql.joined(query, table, entries).where(table.c.diar_sessions > 0)
    column = quality_pairs(table) if spec.sli == "quality" else table.c[_HIST_FOR[spec.sli]]
    entries = histogram_sql.entries(dialect, column, "quality_pairs" if spec.sli == "quality" else None)
    n = histogram_sql.count(entries)
    if spec.sli == "quality":
        query = select(*keys, entries.c.key, func.sum(n)).group_by(*keys, entries.c.key)
        return histogram_sql.joined(query, table, entries).where(table.c.wer_utterances > 0)
    limits = [histogram.limit_code(float(t)) for t in (thresholds or [spec.threshold_ms])]  # type: ignore[arg-type]
    goods = [func.sum(case((histogram_sql.bucket(entries) <= limit, n), else_=0)) for limit in limits]
    return histogram_sql.joined(select(*keys, *goods, func.sum(n)), table, entries).group_by(*keys)


def _read_set(conn: Connection, specs: Sequence[SLOSpec], ranges: list[tuple[datetime, datetime]],
              origin: datetime, hourly: bool = False) -> CountsSet:
    """Good and total per minute and group over the minute ranges [since, until) (with `hourly`,
    per hour from `rollups_hourly` over ranges of whole compacted hours), for SLOs that differ
    only in threshold_ms or max_wer, in one query: the same rows, one good column per SLO
    (`family_key`)."""
    spec = specs[0]
    table, time_column = (HourlyRollup.__table__, "hour") if hourly else (Rollup.__table__, "minute")
    time = table.c[time_column]
    thresholds = [s.threshold_ms for s in specs] if spec.sli in _HIST_FOR else None
    dims = dimensions_of(conn.engine)
    query = _counts_query(spec, conn.dialect.name, table, time_column, thresholds, dims).where(
        or_(*[and_(time >= since, time < until) for since, until in ranges]))
    for dim, values in spec.filter_values().items():
        query = query.where(table.c[dims.column(dim)].in_(values))
    rows = conn.execute(query).all()
    width = len(spec.group_by)
    keys = [tuple(r[1:1 + width]) for r in rows]
    if spec.sli not in _PAIR_JUDGES:
        goods = [[r[1 + width + k] or 0 for r in rows] for k in range(len(thresholds or [None]))]
        first = Counts.of_columns(origin, [r[0] for r in rows], keys, goods[0], [r[-1] or 0 for r in rows])
        return CountsSet.of([first] + [replace(first, good=np.asarray(g, dtype=np.int64)) for g in goods[1:]])
    pairs: dict[tuple, dict[str, int]] = {}
    for r, key in zip(rows, keys):
        pairs.setdefault((r[0], key), {})[r[-2]] = int(r[-1])
    parts = []
    judge, limit_of = _PAIR_JUDGES[spec.sli]
    for s in specs:  # judged per max_wer (max_der); the same rows (those with pairs) for each
        judged = [(m, key, *judge(p, float(limit_of(s)))) for (m, key), p in pairs.items()]
        parts.append(Counts.of(judged, origin))
    return CountsSet.of(parts)


# SLIs whose rollups hold per-event pairs, judged in Python against each SLO's limit.
# One judge for both (`wer.pairs_good`): utterance WER (or CER) pairs, session DER pairs.
_PAIR_JUDGES = {"quality": (wer_math.pairs_good, lambda s: s.max_wer),
                "diarization": (wer_math.pairs_good, lambda s: s.max_der)}


def family_key(spec: SLOSpec) -> tuple:
    """SLOs read in one pass: the same SLI, filters and groups (thresholds may differ)."""
    sli, _, _, filters, group_by, *_ = spec_key(spec)
    return (sli, filters, group_by)

def tail_minutes(spec: SLOSpec) -> int:
    """Minutes kept per minute before `at`: the longest alert window plus a day of starts_at
    search (most alerts began within it; older starts read their minutes on demand)."""
    return longest_window(spec.window) + STARTS_AT_MINUTES


STARTS_AT_MINUTES = 1440


@contextmanager
def snapshot_connection(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction whose reads all see the same snapshot: an SLO status reads its
    hourly counts, its tail and, later and on demand, the minutes of a window's first hour or of
    a long starts_at replay; read apart, late data committed in between would count in some of
    them and not in others. SQLite (WAL) keeps one read transaction's snapshot from its first
    read to its end; PostgreSQL does under REPEATABLE READ (READ COMMITTED, the default, takes a
    new snapshot per statement)."""
    with read_connection(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


def tiered_family(conn: Connection, specs: Sequence[SLOSpec], at: datetime, cache: SeriesCache,
                  windows: Sequence[maintenance.MaintenanceWindow] = ()) -> Iterator[tuple[list[SLOSpec], TieredSeries]]:
    """For SLOs of one `family_key`: each set of SLOs with the same counts (`spec_key`) and one
    series for them, spanning the longest `series_span` among them. The rollups are read once for
    the family, through the cache: hourly rows for whole hours, minutes for the tail and the
    edges (see `slo.tiered_series`). One series at a time, so memory holds one; `restricted`
    gives each SLO its groups. Every read, the on-demand minutes of the series included, goes
    through `conn` (a `snapshot_connection`, open while the series are used), so they all see
    one snapshot.

    Maintenance `windows` (`slo.maintenance`) drop their events from the counts of the SLOs they
    apply to: minute pieces lose the covered minutes' rows; an hourly piece loses every hour a
    window overlaps, replaced by that hour's minutes (read through the same `minutes`, so through
    the snapshot) less the covered ones. SLOs with the same counts but different applicable
    windows get series of their own. The cache keeps the counts as read, never filtered."""
    shared: dict[tuple, list[SLOSpec]] = {}
    for spec in specs:
        shared.setdefault(spec_key(spec), []).append(spec)
    heads = [same[0] for same in shared.values()]
    keys = tuple(shared)
    end = floor_minute(at)
    start = end - max(series_span(s) for s in specs)
    tail_start = max(hour_of(end - timedelta(minutes=max(tail_minutes(s) for s in specs))), start)
    hour_start = ceil_hour(start)
    hour_end = max(hour_start, hour_of(tail_start))

    def read_minutes(ranges: list[tuple[datetime, datetime]], origin: datetime) -> CountsSet:
        return _read_set(conn, heads, ranges, origin)

    def read_hours(ranges: list[tuple[datetime, datetime]], origin: datetime) -> CountsSet:
        return _read_set(conn, heads, ranges, origin, hourly=True)

    def minutes(since: datetime, until: datetime) -> list[CountsSet]:
        # One function for both: the cache then reads stale hours and new minutes in one query.
        return cache.set_pieces(conn, "minutes", keys, since, until, read_minutes, read_minutes)

    hourly = cache.set_pieces(conn, "hours", keys, hour_start, hour_end, read_hours, read_minutes) \
        if hour_start < hour_end else []
    tail = minutes(tail_start, end)
    lead_end = min(hour_start, tail_start)
    lead = minutes(start, lead_end) if start < lead_end else []
    for k, same in enumerate(shared.values()):
        by_windows: dict[tuple[maintenance.Applied, ...], list[SLOSpec]] = {}
        for spec in same:  # without windows: one entry, every SLO of `same`
            by_windows.setdefault(maintenance.applied_for(spec, windows, start, end) if windows else (), []).append(spec)
        for applied, specs_alike in by_windows.items():
            def source(since: datetime, until: datetime, k: int = k,
                       applied: tuple[maintenance.Applied, ...] = applied) -> list[Counts]:
                # Minutes of older hours, on demand (a window's first hour, a long starts_at search).
                return [maintenance.exclude(p.part(k), applied) for p in minutes(since, until)]

            hours = [p.part(k) for p in hourly]
            if applied:
                touched = maintenance.touched_hours(applied, hour_start, hour_end)
                hours = [maintenance.without_ranges(p, touched) for p in hours]
                hours += [c for since, until in touched for c in source(since, until)]
            yield specs_alike, tiered_series(
                tuple(specs_alike[0].group_by), start, end, tail_start, hours,
                [maintenance.exclude(p.part(k), applied) for p in tail],
                [maintenance.exclude(p.part(k), applied) for p in lead], source)
