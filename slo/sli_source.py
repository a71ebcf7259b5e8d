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

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.database import read_connection
from collector import histogram
from collector.models import Rollup
from slo.evaluation import series_span
from slo.series import MINUTE, SLISeries, floor_minute
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
    start, end = floor_minute(start), floor_minute(end)
    minutes = int((end - start) // MINUTE)
    wanted = spec.filter_values()
    index: dict[tuple[str, ...], int] = {}
    gi, mi, goods, totals = [], [], [], []
    for row in rows:
        if any(str(row[k]) not in v for k, v in wanted.items()):
            continue
        m = int((floor_minute(row["minute"]) - start) // MINUTE)
        if not 0 <= m < minutes:
            continue
        good, total = row_counts(spec, row)
        if total == 0:
            continue
        key = tuple(str(row[d]) for d in spec.group_by)
        gi.append(index.setdefault(key, len(index)))
        mi.append(m)
        goods.append(good)
        totals.append(total)
    order = sorted(index, key=lambda k: k)
    remap = np.array([0] * len(index), dtype=np.int64)
    for new, key in enumerate(order):
        remap[index[key]] = new
    good = np.zeros((len(order), minutes), dtype=np.int64)
    tot = np.zeros((len(order), minutes), dtype=np.int64)
    if gi:
        rows_idx = remap[np.asarray(gi)]
        np.add.at(good, (rows_idx, np.asarray(mi)), np.asarray(goods, dtype=np.int64))
        np.add.at(tot, (rows_idx, np.asarray(mi)), np.asarray(totals, dtype=np.int64))
    return SLISeries(start, tuple(spec.group_by), tuple(order), good, tot)


def load_series(engine: Engine, spec: SLOSpec, at: datetime) -> SLISeries:
    """Rollups for the spec's filters over [floor(at) - series_span, floor(at))."""
    end = floor_minute(at)
    start = end - series_span(spec)
    dims = tuple(dict.fromkeys(tuple(spec.group_by) + tuple(spec.filters)))
    cols = [Rollup.minute] + [getattr(Rollup, d) for d in dims] + [getattr(Rollup, c) for c in _columns(spec)]
    query = select(*cols).where(Rollup.minute >= start, Rollup.minute < end)
    for dim, values in spec.filter_values().items():
        query = query.where(getattr(Rollup, dim).in_(values))
    with read_connection(engine) as conn:
        rows = conn.execute(query).mappings().all()
    return build_series(spec, rows, start, end)
