"""`GET /api/v1/diarization`: DER per group from the rollups' millisecond sums and session pairs.

Group DER is pyannote's accumulated figure (the sum of the sessions' missed, false-alarm and
confusion time over the sum of their reference speech), and its 95% interval resamples sessions:
the WER bootstrap (`collector.measures.wer.bootstrap_interval`) over `"error_ms:speech_ms"`
pairs, which is the same ratio-of-sums statistic, seeded and so deterministic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.measures import diarization
from collector.measures import wer as wer_math
from collector.store.database import read_connection
from collector.store.queries import Groups, _check_dims, _groups, _page
from collector.store.rollup_window import rollup_rows

SUMS = ("diar_missed_ms", "diar_false_alarm_ms", "diar_confusion_ms", "diar_speech_ms", "diar_speaker_errors")


def diarization_by_group(engine: Engine, group_by: Sequence[str], since: datetime, until: datetime,
                         filters: Mapping[str, str], resamples: int = 1000, *, limit: int | None = None,
                         offset: int = 0) -> Groups:
    """Per group with diarized sessions: der, missed_s, false_alarm_s, confusion_s, speech_s,
    sessions, speaker_count_error (mean |hyp - ref| speakers per session), ci_low, ci_high."""
    _check_dims(engine, group_by)
    groups: dict[tuple, dict[str, Any]] = defaultdict(lambda: {"pairs": [], **dict.fromkeys(SUMS, 0)})
    with read_connection(engine) as conn:
        rows = rollup_rows(conn, [*group_by, "diar_sessions", "diar_pairs", *SUMS], since, until, filters)
        query = select(*[rows.c[d] for d in group_by], rows.c.diar_pairs, *[rows.c[c] for c in SUMS]
                       ).where(rows.c.diar_sessions > 0)
        for row in conn.execute(query).mappings():
            g = groups[tuple(row[d] for d in group_by)]
            g["pairs"].append(row["diar_pairs"])
            for c in SUMS:
                g[c] += int(row[c] or 0)
    out = []
    page, total = _page(list(groups), limit, offset)
    for key in page:
        g = groups[key]
        errors, speech, counts = wer_math.parse_pairs(wer_math.merge_pairs(g["pairs"]))
        interval = wer_math.bootstrap_interval(errors, speech, counts, resamples=resamples)
        sessions = int(counts.sum())
        error_ms = g["diar_missed_ms"] + g["diar_false_alarm_ms"] + g["diar_confusion_ms"]
        out.append({
            **dict(zip(group_by, key)),
            "der": diarization.session_der(error_ms, g["diar_speech_ms"]),  # pyannote's rule, as abs(metric)
            "missed_s": g["diar_missed_ms"] / 1000, "false_alarm_s": g["diar_false_alarm_ms"] / 1000,
            "confusion_s": g["diar_confusion_ms"] / 1000, "speech_s": g["diar_speech_ms"] / 1000,
            "sessions": sessions,
            "speaker_count_error": g["diar_speaker_errors"] / sessions if sessions else None,
            "ci_low": interval[0] if interval else None,
            "ci_high": interval[1] if interval else None,
        })
    return _groups(out, total, offset)
