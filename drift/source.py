"""The only SQL of the drift part: sessions, samples and transcripts of both windows.

Reads with SQLAlchemy Core, selecting only the needed columns and streaming in
partitions that are turned into numpy arrays and integer codes at once, so a million
sessions never exist as a million ORM objects or row tuples.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from operator import itemgetter

import numpy as np
from sqlalchemy import BigInteger, DateTime, and_, case, cast, func, literal_column, or_, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql.expression import Join

from collector.store import Sample, Session, dimensions_of, read_connection
from drift.config import DriftConfig, Windows
from drift.features import SLICE_DIMENSIONS, Encoded, encode, slice_columns
from drift.models import DriftBaseline
from drift.session_columns import FIXED_START, SERIAL_SCAN, AmbiguousKey, read_columns, read_columns_postgresql

log = logging.getLogger("asrwatch.drift")
PARTITION = 100_000
Pins = dict[str, tuple[datetime, datetime]]
_STRINGS = ("region", "channel", "model_version", "tenant", "language", "status")  # with the default slices
# hypothesis_words: stored at ingest (`collector.measures.word_count`), so no scan counts words in SQL.
_NUMBERS = ("audio_seconds", "confidence", "snr_db", "final_latency_ms", "first_partial_ms", "partial_rewrites",
            "hypothesis_words", "hallucination")


class _Encoder:
    """Integer codes that stay consistent across streamed partitions."""

    def __init__(self) -> None:
        self.levels: list[str] = []
        self.parts: list[np.ndarray] = []

    def add(self, values) -> None:
        enc = encode(values, self.levels)
        self.levels = enc.levels
        self.parts.append(enc.codes)

    def result(self) -> Encoded:
        return Encoded(np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.int32), self.levels)


def _windows_filter(ts, version, windows: Windows, pins: Pins):
    """Rows in the current window, or in the reference window of their model version."""
    current = and_(ts >= windows.current_start, ts < windows.at)
    default_ref = and_(ts >= windows.reference_start, ts < windows.current_start)
    if pins:
        default_ref = and_(default_ref, version.not_in(list(pins)))
    pinned = [and_(version == v, ts >= start, ts < end) for v, (start, end) in pins.items()]
    return current, or_(current, default_ref, *pinned) if pins else or_(current, default_ref)


def _partitions(engine: Engine, query) -> Iterator[list]:
    with read_connection(engine) as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(FIXED_START))  # rows in the plan's order, not a synchronized scan's
        result = conn.execution_options(stream_results=True, yield_per=PARTITION).execute(query)
        yield from result.partitions()


def _raw_partitions(engine: Engine, query) -> Iterator[list]:
    """Plain DBAPI tuples, for queries whose columns need no result processing (no
    datetimes): skipping SQLAlchemy's per-row work is most of the read time at 1M rows."""
    with read_connection(engine) as conn:
        # No stream_results: a streaming result pre-buffers rows the raw cursor would then skip.
        # (SQLite's cursor is lazy anyway; psycopg holds the result in libpq's C memory.)
        if engine.dialect.name == "postgresql":
            conn.execute(text(SERIAL_SCAN))  # the row order the one-row read gets, whatever the table's size
        result = conn.execute(query)
        try:
            while rows := result.cursor.fetchmany(PARTITION):
                yield rows
        finally:
            result.close()


def seconds_reader(engine: Engine) -> Callable[[object], float]:
    """Raw driver value -> epoch seconds, as `UTCDateTime` then `.timestamp()` would give (the
    dialect's own datetime parser, then UTC where SQLite kept no offset)."""
    parse = DateTime(timezone=True).dialect_impl(engine.dialect).result_processor(engine.dialect, None)

    def seconds(value) -> float:
        value = parse(value) if parse is not None else value
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return seconds


_SQLITE_TIME_CHARS = len("2026-11-20 12:00:00.000000")  # the one text form SQLAlchemy stores on SQLite


def event_time(engine: Engine, ts):
    """The select-list form of a time column that `epoch_seconds` turns into seconds fastest: on
    PostgreSQL whole epoch microseconds as a bigint (exact: EXTRACT gives numeric since 14), so no
    datetime object is made per row (most of reading 50k samples); on SQLite its stored text."""
    if engine.dialect.name == "postgresql":
        return cast(func.extract("epoch", ts) * 1_000_000, BigInteger)
    return ts


EXACT_MICROS = 2**53  # float64 holds every whole microsecond below this (years 1685 to 2255)


def epoch_seconds(engine: Engine, values: Sequence) -> np.ndarray:
    """Raw driver values -> epoch seconds, each what `seconds_reader` gives. SQLite's UTC text is
    parsed by numpy in one call, and PostgreSQL's microseconds (`event_time`) converted in one:
    whole microseconds divided by 1e6, the same correctly rounded quotient `datetime.timestamp`
    computes while the microseconds are exact as floats. Anything else goes value by value."""
    micros = None
    if engine.dialect.name == "sqlite" and all(isinstance(v, str) and len(v) == _SQLITE_TIME_CHARS for v in values):
        micros = np.array(values, dtype="datetime64[us]").astype(np.int64)
    elif engine.dialect.name == "postgresql" and all(type(v) is int for v in values):
        micros = np.array(values, dtype=np.int64)
    if micros is not None and not (len(micros) and np.abs(micros).max() >= EXACT_MICROS):
        return micros / 1e6
    if engine.dialect.name == "postgresql" and all(type(v) is int for v in values):
        return np.array([v / 1_000_000 for v in values], dtype=np.float64)  # int / int: correctly rounded
    seconds = seconds_reader(engine)
    return np.array([seconds(v) for v in values], dtype=np.float64)


def load_pins(engine: Engine) -> Pins:
    with OrmSession(engine) as s:
        return {b.model_version: (b.reference_start, b.reference_end) for b in s.query(DriftBaseline)}


def session_strings(engine: Engine, dimensions: Sequence[str] = SLICE_DIMENSIONS) -> dict:
    """name -> SQL expression of every categorical session column a scan slicing by `dimensions`
    reads: the default slices' and features' columns, then each further dimension's (a configured
    one from its slot, `unknown` where NULL)."""
    table = Session.__table__
    dims = dimensions_of(engine)
    strings: dict = {name: table.c[name] for name in _STRINGS}
    for name in slice_columns(dimensions):
        if name not in strings:
            strings[name] = dims.session_column(table, name)
    return strings


def load_sessions(engine: Engine, windows: Windows, pins: Pins, dimensions: Sequence[str] = SLICE_DIMENSIONS) -> dict:
    """Columns for `drift.features.session_table` (categorical columns already encoded)."""
    s = Session.__table__.c
    current, keep = _windows_filter(s.ts, s.model_version, windows, pins)
    numbers = {name: s[name] for name in _NUMBERS}
    strings = session_strings(engine, dimensions)
    try:
        if engine.dialect.name == "postgresql":
            try:
                return read_columns_postgresql(engine, Session.__table__, keep, current, strings, numbers, PARTITION)
            except DBAPIError:
                # One aggregated value is capped at 1 GB: past about 9 million sessions in the
                # windows the one-row read fails, and the row reader (no such cap) answers.
                log.warning("drift: the sessions did not fit one aggregated row; reading them row by row")
        return read_columns(engine, Session.__table__, keep, current, strings, numbers, _raw_partitions)
    except AmbiguousKey:
        return load_sessions_per_column(engine, windows, pins, dimensions)


def load_sessions_per_column(engine: Engine, windows: Windows, pins: Pins,
                             dimensions: Sequence[str] = SLICE_DIMENSIONS) -> dict:
    """The same columns as `load_sessions`, one driver column at a time: the reference that
    `load_sessions` must equal, and its fallback when a label contains its key separator."""
    s = Session.__table__.c
    current, keep = _windows_filter(s.ts, s.model_version, windows, pins)
    strings = session_strings(engine, dimensions)
    query = select(
        s.session_id,
        case((current, 1), else_=0).label("is_current"),
        *strings.values(),
        *[s[name] for name in _NUMBERS],
    ).where(keep)
    ids: list[np.ndarray] = []
    flags: list[np.ndarray] = []
    encoders = {name: _Encoder() for name in strings}
    numbers: dict[str, list[np.ndarray]] = {name: [] for name in _NUMBERS}
    for rows in _raw_partitions(engine, query):
        cols = list(zip(*rows))
        ids.append(np.array(cols[0], dtype=object))
        flags.append(np.array(cols[1], dtype=bool))
        for i, name in enumerate(strings, start=2):
            encoders[name].add(cols[i])
        for i, name in enumerate(_NUMBERS, start=2 + len(strings)):
            numbers[name].append(np.array(cols[i], dtype=np.float64))
    out: dict = {
        "session_id": np.concatenate(ids) if ids else np.zeros(0, dtype=object),
        "is_current": np.concatenate(flags) if flags else np.zeros(0, dtype=bool),
    }
    out.update({name: enc.result() for name, enc in encoders.items()})
    out.update({name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in numbers.items()})
    return out


def samples_since(windows: Windows, config: DriftConfig, pins: Pins) -> datetime:
    """How far back samples are needed: reference window, calibration, weekly trend, pins."""
    starts = [windows.reference_start, windows.at - timedelta(days=config.calibration_days),
              windows.at - timedelta(days=7 * config.trend_weeks)]
    starts += [start for start, _ in pins.values()]
    return min(starts)


class _SamplesFirst(Join):
    """`samples CROSS JOIN sessions ON ...` on SQLite: there CROSS JOIN fixes the loop order."""

    inherit_cache = True


@compiles(_SamplesFirst)
def _join(join, compiler, **kw):
    return compiler.visit_join(join, **kw)


@compiles(_SamplesFirst, "sqlite")
def _cross_join(join, compiler, **kw):
    return compiler.visit_join(join, **kw).replace(" JOIN ", " CROSS JOIN ", 1)  # the left side is a table name


def load_samples(engine: Engine, windows: Windows, config: DriftConfig, pins: Pins) -> dict:
    """Labeled samples joined to their sessions; `window` 1 current, 0 reference, -1 neither.

    On SQLite the planner walks the sessions' time index and probes the samples for each of
    the million sessions (a second at 1M); walking the samples and probing their sessions
    reads 20x fewer rows. The rows then come in the order the old plan gave them (sessions
    by the time index: ts, then rowid; a session's samples by their unique index: source),
    which the report's sample order (examples, calibration folds) depends on.
    """
    s, m = Session.__table__.c, Sample.__table__.c
    current, in_window = _windows_filter(s.ts, s.model_version, windows, pins)
    window = case((current, 1), (in_window, 0), else_=-1).label("window")
    dims, slices = dimensions_of(engine), slice_columns(config.dimensions)
    sqlite = engine.dialect.name == "sqlite"
    join = (_SamplesFirst if sqlite else Join)(Sample.__table__, Session.__table__, m.session_id == s.session_id)
    query = (
        select(m.session_id, event_time(engine, s.ts).label("ts"), window, m.substitutions, m.deletions,
               m.insertions, m.ref_words, s.confidence, m.reference, m.hypothesis,
               *[dims.session_column(Session.__table__, d) for d in slices])
        .select_from(join)
        .where(s.ts >= samples_since(windows, config, pins), s.ts < windows.at)
    )
    if sqlite:
        query = query.order_by(s.ts, literal_column("sessions.rowid"), m.source)
    names = ["session_id", "ts", "window", "substitutions", "deletions", "insertions", "ref_words", "confidence",
             "reference", "hypothesis", *slices]
    cols: dict[str, list] = {name: [] for name in names}
    # SQLite: plain tuples. PostgreSQL: the server-side cursor as before, whose plan (no parallel
    # workers) fixes the row order. `ts` comes as `event_time` gives it, seconds below in one call.
    for rows in (_raw_partitions if sqlite else _partitions)(engine, query):
        for j, name in enumerate(names):  # not zip(*rows): see `drift.vocabulary.build_corpus`
            cols[name].extend(map(itemgetter(j), rows))
    cols["ts"] = epoch_seconds(engine, cols["ts"]).tolist()
    return cols
