"""The dense per-minute SLO path, kept as the tests' reference: every SLO read whole from the
minute rollups into an `SLISeries` (groups x minutes of the whole series span), and the pure
SLI counts of rollup rows. Production reads a two-resolution series instead
(`slo.sli_source.tiered_family`); the differential tests check it gives exactly what this gives.

Written independently of the production arithmetic on purpose (np.add.at, per-row Python
counts), so the two cannot share a mistake; only the SQL read (`_read_set`) is shared, and
tests/slo/test_sli_source_sql.py checks that against `build_series` over the raw rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection, Engine

from collector.measures import histogram, wer
from collector.store.database import read_connection
from slo.evaluation import series_span
from slo.series import MINUTE, Counts, CountsSet, SLISeries, floor_minute
from slo.series_cache import SeriesCache, spec_key
from slo.sli_source import _HIST_FOR, _read_set
from slo.spec import SLOSpec


def series_of(pieces: list[Counts], group_by: tuple[str, ...], start: datetime, end: datetime) -> SLISeries:
    """Pure: the pieces added up per group and minute over [start, end). Rows outside it or
    without events are dropped, and so is a group left with none; groups sorted by key."""
    start, end = floor_minute(start), floor_minute(end)
    minutes = int((end - start) // MINUTE)
    kept = []
    for piece in pieces:
        m = piece.minute + int((piece.origin - start) // MINUTE)
        inside = (m >= 0) & (m < minutes) & (piece.total > 0)
        kept.append((piece, m[inside], piece.group[inside], inside))
    order = sorted({piece.groups[g] for piece, _, groups, _ in kept for g in np.unique(groups).tolist()})
    position = {key: i for i, key in enumerate(order)}
    good = np.zeros((len(order), minutes), dtype=np.int64)
    total = np.zeros((len(order), minutes), dtype=np.int64)
    for piece, cols, groups, inside in kept:
        if not cols.size:
            continue
        remap = np.array([position.get(key, -1) for key in piece.groups], dtype=np.int64)
        rows = remap[groups]
        np.add.at(good, (rows, cols), piece.good[inside])
        np.add.at(total, (rows, cols), piece.total[inside])
    return SLISeries(start, tuple(group_by), tuple(order), good, total)


def row_counts(spec: SLOSpec, row: Mapping[str, Any]) -> tuple[int, int]:
    """(good, total) events of one rollup row for this SLO's SLI (see `slo.sli_source`)."""
    if spec.sli == "availability":
        return int(row["status_ok"] or 0), int(row["sessions"] or 0)
    if spec.sli == "decode_errors":
        total = int(row["sessions"] or 0)
        bad = min(total, int(row["status_decode_error"] or 0) + int(row["empty_hypotheses"] or 0))
        return total - bad, total
    if spec.sli == "quality":  # CER for languages written without spaces
        pairs = row["cer_pairs"] if wer.written_without_spaces(row["language"]) else row["wer_pairs"]
        return wer.pairs_good(pairs or {}, float(spec.max_wer))  # type: ignore[arg-type]
    if spec.sli == "entity_recall":
        return int(row["entities_found"] or 0), int(row["entity_occurrences"] or 0)
    if spec.sli == "diarization":  # session DER from its "error_ms:speech_ms" pair, as pyannote scores a file
        good = total = 0
        for key, count in (row["diar_pairs"] or {}).items():
            error, speech = (int(x) for x in str(key).split(":"))
            der = error / speech if speech else (0.0 if error == 0 else 1.0)
            total += int(count)
            good += int(count) if der <= float(spec.max_der) else 0  # type: ignore[arg-type]
        return good, total
    if spec.sli == "cache_hit":
        return int(row["cache_hits"] or 0), int(row["cache_lookups"] or 0)
    if spec.sli == "fallback":
        reported = int(row["backend_sessions"] or 0)
        return reported - int(row["fallback_sessions"] or 0), reported
    if spec.sli == "hallucination":
        checked = int(row["hallucination_checked"] or 0)
        return checked - int(row["hallucination_flagged"] or 0), checked
    hist = row[_HIST_FOR[spec.sli]] or {}
    return histogram.count_at_or_below(hist, float(spec.threshold_ms)), histogram.total(hist)  # type: ignore[arg-type]


def build_series(spec: SLOSpec, rows: Iterable[Mapping[str, Any]], start: datetime, end: datetime) -> SLISeries:
    """Pure: rollup rows (mappings with `minute`, the group dimensions and the SLI's columns)
    -> SLISeries over the minutes [start, end). Rows outside the range or filters are ignored."""
    wanted = spec.filter_values()
    counted = (
        (row["minute"], tuple(str(row[d]) for d in spec.group_by), *row_counts(spec, row))
        for row in rows
        if all(str(row[k]) in v for k, v in wanted.items())
    )
    return series_of([Counts.of(counted, start)], tuple(spec.group_by), start, end)


def read_counts(conn: Connection, spec: SLOSpec, ranges: list[tuple[datetime, datetime]], origin: datetime
                ) -> Counts:
    """Good and total per minute and group over the minute ranges [since, until)."""
    return _read_set(conn, [spec], ranges, origin).part(0)


def cache_pieces(cache: SeriesCache, conn: Connection, spec: SLOSpec, start: datetime, end: datetime,
                 read) -> list[Counts]:
    """The minute counts of [start, end) in pieces through the cache: kept hours, plus one
    `read(ranges, origin)` of the minute ranges that must be read."""
    one = lambda ranges, origin: CountsSet.of([read(ranges, origin)])  # noqa: E731
    return [p.part(0) for p in cache.set_pieces(conn, "minutes", (spec_key(spec),), start, end, one, one)]


def load_series(engine: Engine, spec: SLOSpec, at: datetime, cache: SeriesCache | None = None) -> SLISeries:
    """Rollups for the spec's filters over [floor(at) - series_span, floor(at)), read whole (or,
    with a cache, the hours that changed since it last read them)."""
    end = floor_minute(at)
    start = end - series_span(spec)
    with read_connection(engine) as conn:
        read = lambda ranges, origin: read_counts(conn, spec, ranges, origin)  # noqa: E731
        whole = cache is None
        pieces = [read([(start, end)], start)] if whole else cache_pieces(cache, conn, spec, start, end, read)
    return series_of(pieces, tuple(spec.group_by), start, end)
