"""Transcripts for vocabulary drift: every labeled sample's reference and hypothesis, plus a
time-stratified sample of session hypotheses (at most `max_hypotheses` per window: 24 equal
slots, the first rows of each), all with their slice labels.

The sampled hypotheses (up to 100k rows) are read as plain DBAPI tuples on one connection:
SQLAlchemy's per-row work (a Row, a datetime type hook, an attribute per label) cost more than
the 48 small index range scans. Times become seconds through the dialect's own datetime parser,
so every value is what the ORM column would have read.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.store import Session, read_connection
from drift.config import DriftConfig, Windows
from drift.features import SLICE_DIMENSIONS
from drift.scan import TextRow
from drift.source import Pins, _windows_filter, seconds_reader
from drift.vocabulary import LABELED_HYPOTHESIS, REFERENCE, TRAFFIC


def load_texts(engine: Engine, windows: Windows, config: DriftConfig, pins: Pins, samples: dict) -> list[TextRow]:
    texts: list[TextRow] = []
    labels_of = [samples[d] for d in SLICE_DIMENSIONS]
    for w, ts, sid, reference, hypothesis, *labels in zip(samples["window"], samples["ts"], samples["session_id"],
                                                          samples["reference"], samples["hypothesis"], *labels_of):
        if w < 0:
            continue
        shared = dict(zip(SLICE_DIMENSIONS, labels))
        texts.append(TextRow(int(w), ts, sid, reference, shared, REFERENCE))
        texts.append(TextRow(int(w), ts, sid, hypothesis, shared, LABELED_HYPOTHESIS))
    if config.max_hypotheses <= 0:
        return texts
    s = Session.__table__.c
    current, keep = _windows_filter(s.ts, s.model_version, windows, pins)
    per_slot = max(config.max_hypotheses // 24, 1)
    seconds = seconds_reader(engine)
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
                    select(s.session_id, s.ts, s.hypothesis, *[s[d] for d in SLICE_DIMENSIONS])
                    .where(keep, s.ts >= a, s.ts < b, s.hypothesis.is_not(None), current if flag else ~current)
                    .order_by(s.ts)
                    .limit(per_slot)
                )
                result = conn.execute(query)
                try:
                    rows = result.cursor.fetchall()  # plain tuples: no per-row result processing
                finally:
                    result.close()
                texts.extend(TextRow(flag, seconds(ts), sid, hypothesis, dict(zip(SLICE_DIMENSIONS, labels)), TRAFFIC)
                             for sid, ts, hypothesis, *labels in rows)
    return texts
