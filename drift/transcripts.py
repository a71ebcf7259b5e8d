"""Transcripts for vocabulary drift: every labeled sample's reference and hypothesis, plus a
time-stratified sample of session hypotheses (at most `max_hypotheses` per window: 24 equal
slots, the first rows of each), all with their slice labels.

The result is columns (`drift.scan.Texts`), not an object and a labels dict per text. The
sampled hypotheses (up to 100k rows) are read as plain DBAPI tuples on one connection:
SQLAlchemy's per-row work (a Row, a datetime type hook, an attribute per label) cost more than
the 48 small index range scans. Times become seconds as the dialect's own datetime parser would
give them (`drift.source.epoch_seconds`), so every value is what the ORM column would have read.
"""

from __future__ import annotations

from operator import itemgetter

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.store import Session, dimensions_of, read_connection
from drift.config import DriftConfig, Windows
from drift.features import slice_columns
from drift.scan import Texts
from drift.source import Pins, _windows_filter, epoch_seconds, event_time
from drift.vocabulary import LABELED_HYPOTHESIS, REFERENCE, TRAFFIC


def _labeled(samples: dict, slices: tuple[str, ...]) -> Texts:
    """Each sample in a window as two texts, its reference then its hypothesis, labelled with
    the `slices` columns `drift.source.load_samples` read."""
    rows = [i for i, w in enumerate(samples["window"]) if w >= 0]

    def twice(values: list) -> list:
        return [values[i] for i in rows for _ in (0, 1)]

    return Texts(
        window=np.repeat(np.array([samples["window"][i] for i in rows], dtype=np.int8), 2),
        ts=np.repeat(np.array([samples["ts"][i] for i in rows], dtype=np.float64), 2),
        session_id=twice(samples["session_id"]),
        text=[text for i in rows for text in (samples["reference"][i], samples["hypothesis"][i])],
        kind=np.tile(np.array([REFERENCE, LABELED_HYPOTHESIS], dtype=np.int8), len(rows)),
        labels={d: twice(samples[d]) for d in slices},
    )


def load_texts(engine: Engine, windows: Windows, config: DriftConfig, pins: Pins, samples: dict) -> Texts:
    slices = slice_columns(config.dimensions)
    labeled = _labeled(samples, slices)
    if config.max_hypotheses <= 0:
        return labeled
    s = Session.__table__.c
    labels = [dimensions_of(engine).session_column(Session.__table__, d) for d in slices]
    current, keep = _windows_filter(s.ts, s.model_version, windows, pins)
    per_slot = max(config.max_hypotheses // 24, 1)
    rows: list[tuple] = []
    flags: list[int] = []
    with read_connection(engine) as conn:
        for start, end, flag in ((windows.reference_start, windows.current_start, 0),
                                 (windows.current_start, windows.at, 1)):
            if pins and flag == 0:
                starts = [start] + [a for a, _ in pins.values()]
                ends = [end] + [b for _, b in pins.values()]
                start, end = min(starts), max(ends)
            step = (end - start) / 24
            for k in range(24):
                a, b = start + k * step, start + (k + 1) * step
                query = (
                    select(s.session_id, event_time(engine, s.ts), s.hypothesis, *labels)
                    .where(keep, s.ts >= a, s.ts < b, s.hypothesis.is_not(None), current if flag else ~current)
                    .order_by(s.ts)
                    .limit(per_slot)
                )
                result = conn.execute(query)
                try:
                    slot = result.cursor.fetchall()  # plain tuples: no per-row result processing
                finally:
                    result.close()
                rows.extend(slot)
                flags.extend([flag] * len(slot))
    columns = [list(map(itemgetter(j), rows)) for j in range(3 + len(slices))]  # see `build_corpus`
    return Texts(
        window=np.concatenate([labeled.window, np.array(flags, dtype=np.int8)]),
        ts=np.concatenate([labeled.ts, epoch_seconds(engine, columns[1])]),
        session_id=labeled.session_id + columns[0],
        text=labeled.text + columns[2],
        kind=np.concatenate([labeled.kind, np.full(len(rows), TRAFFIC, dtype=np.int8)]),
        labels={d: labeled.labels[d] + columns[3 + j] for j, d in enumerate(slices)},
    )
