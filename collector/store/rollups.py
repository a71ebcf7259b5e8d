"""Per-minute x slice rollups, folded at ingest so window queries never scan raw sessions.

`accumulate_samples` and `by_hour` are pure: they turn rows into deltas keyed by rollup key
(sessions are folded a batch at a time, as columns, by `collector.store.session_fold`).
`apply_deltas` is the I/O: it adds the deltas to the stored rows inside the caller's
transaction, by one upsert per table (row-locked on PostgreSQL, so concurrent replicas never lose
an update: `collector.store.pg_batch`), and to the hourly rows too where the minute's hour is already
compacted (see `collector.store.compaction`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
from sqlalchemy import select
from sqlalchemy.engine import Connection

from collector.measures import WordErrors, diarization, pair_key
from collector.store.database import dialect_insert
from collector.store.dimension_budget import OTHER, UNKNOWN, budget_of
from collector.store.models import CUSTOM_SLOTS, ROLLUP_COLUMNS, HourlyRollup, Rollup, RollupCompaction, RollupHour

COUNTERS = (
    "sessions", "status_ok", "status_partial", "status_decode_error", "status_dropped", "status_timeout",
    "successful_turns", "shadow_sessions", "retries", "empty_hypotheses", "partial_rewrites",
    "confidence_count", "snr_count", "wer_utterances", "wer_substitutions", "wer_deletions",
    "wer_insertions", "wer_words",
    "hallucination_checked", "hallucination_flagged", "hallucination_compression", "hallucination_loop",
    "hallucination_no_speech",
    "cache_lookups", "cache_hits", "backend_sessions", "fallback_sessions",
    "cer_errors", "cer_chars", "entity_occurrences", "entities_found",
    "diar_sessions", "diar_missed_ms", "diar_false_alarm_ms", "diar_confusion_ms", "diar_speech_ms",
    "diar_speaker_errors",
)
SUMS = ("audio_seconds", "gpu_seconds", "confidence_sum", "snr_sum", "api_audio_seconds")
HISTOGRAMS = ("latency_hist", "first_partial_hist", "queue_hist", "confidence_hist", "snr_hist", "wer_pairs",
              "cer_pairs", "diar_pairs")

Delta = dict[str, Any]


def minute_of(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


HOUR = timedelta(hours=1)


def hour_of(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def rollup_key(minute: datetime, dims: Mapping[str, str]) -> str:
    """The key of a minute's slice; slots `dims` leaves out are `unknown`."""
    return key_of(int(minute.timestamp()) // 60, tuple(dims.get(d, UNKNOWN) for d in ROLLUP_COLUMNS))


def key_of(epoch_minute: int, dims: Sequence[str]) -> str:
    """The minute and the slice's values joined by `|`; a value holding `|` or `\\` has them
    escaped, so two slices never share a key (values without them, nearly all, as they are)."""
    joined = "|".join(dims)
    # One scan of the joined text instead of two per value: only its own separators, no backslash.
    if joined.count("|") != len(dims) - 1 or "\\" in joined:
        joined = "|".join([_escaped(d) if "|" in d or "\\" in d else d for d in dims])
    return f"{epoch_minute}|{joined}"


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|")


_ZERO_VALUES: dict[str, Any] = {**{c: 0 for c in COUNTERS}, **{s: 0.0 for s in SUMS}}


_UNKNOWN_SLOTS = dict.fromkeys(CUSTOM_SLOTS, UNKNOWN)


def empty_delta(minute: datetime, dims: Mapping[str, str]) -> Delta:
    """A zero delta of the slice `dims` (slots it leaves out are `unknown`)."""
    delta: Delta = {"minute": minute, **_UNKNOWN_SLOTS, **dims, **_ZERO_VALUES}
    for h in HISTOGRAMS:
        delta[h] = {}
    return delta


_DIMS_OF = itemgetter(*ROLLUP_COLUMNS)


def _delta_for(deltas: dict[str, Delta], row: Mapping[str, Any]) -> Delta:
    """The delta of the row's minute and slice (rows carry all dimensions, "unknown" if unset;
    a session's slot columns hold NULL where unset: `unknown` too)."""
    ts = row["ts"]
    dims = _DIMS_OF(row)
    if None in dims:
        dims = tuple(UNKNOWN if d is None else d for d in dims)
    key = key_of(int(ts.timestamp()) // 60, dims)
    delta = deltas.get(key)
    if delta is None:
        delta = deltas[key] = empty_delta(minute_of(ts), dict(zip(ROLLUP_COLUMNS, dims)))
    return delta


def confidence_codes(confidence: np.ndarray) -> np.ndarray:
    """Percent buckets (`le`): 0.29 falls in 29, 0.291 in 30. Rounding first absorbs float
    noise such as 0.29 * 100 = 28.999999999999996."""
    return np.ceil(np.round(confidence * 100, 9)).astype(np.int64)


def snr_codes(snr_db: np.ndarray) -> np.ndarray:
    """Whole-dB buckets (`le`)."""
    return np.ceil(np.round(snr_db, 9)).astype(np.int64)


def confidence_code(confidence: float) -> int:
    return int(confidence_codes(np.array([confidence]))[0])


def snr_code(snr_db: float) -> int:
    return int(snr_codes(np.array([snr_db]))[0])


def _bump(hist: dict, code: int | str, n: int = 1) -> None:
    hist[code] = hist.get(code, 0) + n


def accumulate_samples(
    scored: Iterable[tuple[Mapping[str, Any], WordErrors]], deltas: dict[str, Delta] | None = None
) -> dict[str, Delta]:
    """Fold scored samples into the rollup of their session's minute and slice."""
    deltas = {} if deltas is None else deltas
    for session_row, errs in scored:
        d = _delta_for(deltas, session_row)
        d["wer_utterances"] += 1
        d["wer_substitutions"] += errs.substitutions
        d["wer_deletions"] += errs.deletions
        d["wer_insertions"] += errs.insertions
        d["wer_words"] += errs.ref_words
        _bump(d["wer_pairs"], pair_key(errs.errors, errs.ref_words))
        d["cer_errors"] += errs.char_errors
        d["cer_chars"] += errs.ref_chars
        _bump(d["cer_pairs"], pair_key(errs.char_errors, errs.ref_chars))
        d["entity_occurrences"] += errs.entity_occurrences
        d["entities_found"] += errs.entities_found
    return deltas


def accumulate_diarization(
    scored: Iterable[tuple[Mapping[str, Any], diarization.DiarizationErrors]], deltas: dict[str, Delta] | None = None
) -> dict[str, Delta]:
    """Fold diarized samples into the rollup of their session's minute and slice, in milliseconds."""
    deltas = {} if deltas is None else deltas
    for session_row, errs in scored:
        d = _delta_for(deltas, session_row)
        missed, false_alarm, confusion, speech = errs.milliseconds()
        d["diar_sessions"] += 1
        d["diar_missed_ms"] += missed
        d["diar_false_alarm_ms"] += false_alarm
        d["diar_confusion_ms"] += confusion
        d["diar_speech_ms"] += speech
        d["diar_speaker_errors"] += errs.speaker_count_error
        _bump(d["diar_pairs"], pair_key(*errs.pair))
    return deltas


def by_hour(rows: Iterable[Mapping[str, Any]]) -> dict[str, Delta]:
    """Pure: minute rollups (stored rows or deltas) added up per hour and slice. Each delta's
    `minute` is its hour's first minute; histogram keys come out as text, as stored."""
    hours: dict[str, Delta] = {}
    for row in rows:
        hour = hour_of(row["minute"])
        dims = _DIMS_OF(row)
        key = key_of(int(hour.timestamp()) // 60, dims)
        d = hours.get(key)
        if d is None:
            d = hours[key] = empty_delta(hour, dict(zip(ROLLUP_COLUMNS, dims)))
        for c in COUNTERS:
            d[c] += row[c] or 0
        for c in SUMS:
            d[c] += row[c] or 0.0
        for h in HISTOGRAMS:
            hist = d[h]
            for k, v in (row[h] or {}).items():
                k = str(k)
                hist[k] = hist.get(k, 0) + int(v)
    return hours


def apply_deltas(conn: Connection, deltas: Mapping[str, Delta]) -> None:
    """Add deltas to stored rollups within the caller's (write) transaction; minutes of hours
    already compacted (late data) are added to the hourly rows as well, and bump the hour's
    revision."""
    if not deltas:
        return
    deltas = fold_past_budget(conn, deltas)
    through = compacted_through(conn, share_lock=True)
    _apply(conn, Rollup.__table__, "minute", deltas)
    if through is None:
        return
    minute_of_key = getattr(deltas, "minute", None) or (lambda key: deltas[key]["minute"])
    late = [deltas[key] for key in deltas if minute_of_key(key) < through]
    if late:
        apply_hourly(conn, by_hour(late))


def fold_past_budget(conn: Connection, deltas: Mapping[str, Delta]) -> Mapping[str, Delta]:
    """The deltas with every dimension value past its budget (`collector.store.dimension_budget`)
    replaced by `__other__`, merged where that makes two slices one, and the folded sessions
    counted. Nearly always nothing folds and the deltas come back as they are."""
    budget = budget_of(conn.engine)
    dims_of = getattr(deltas, "dims", None) or (lambda key: _DIMS_OF(deltas[key]))
    slices = {key: dims_of(key) for key in deltas}
    values = {dim: {s[i] for s in slices.values()} for i, dim in enumerate(ROLLUP_COLUMNS)}
    folded = budget.decide(conn, values)
    if not folded:
        return deltas
    rules = [(i, folded[dim]) for i, dim in enumerate(ROLLUP_COLUMNS) if dim in folded]
    moved: dict[str, Delta] = {}
    kept: list[str] = []
    sessions = dict.fromkeys(folded, 0)
    for key, dims in slices.items():
        new = list(dims)
        for i, gone in rules:
            if dims[i] in gone:
                new[i] = OTHER
        if new == list(dims):
            kept.append(key)
            continue
        delta = deltas[key]
        for i, gone in rules:
            if dims[i] in gone:
                sessions[ROLLUP_COLUMNS[i]] += delta["sessions"]
        minute = delta["minute"]
        _add_to(moved, key_of(int(minute.timestamp()) // 60, new), minute, new, delta)
    for key in [k for k in kept if k in moved]:  # a sender's own `__other__` slice: merged too
        _add_to(moved, key, deltas[key]["minute"], list(slices[key]), deltas[key])
    kept = [k for k in kept if k not in moved]
    budget.count_folded_on_commit(conn, sessions)
    return _FoldedDeltas(deltas, kept, moved)


def _add_to(merged: dict[str, Delta], key: str, minute: datetime, dims: Sequence[str], delta: Mapping[str, Any]) -> None:
    target = merged.get(key)
    if target is None:
        target = merged[key] = empty_delta(minute, dict(zip(ROLLUP_COLUMNS, dims)))
    for c in COUNTERS:
        target[c] += delta[c]
    for c in SUMS:
        target[c] += delta[c]
    for h in HISTOGRAMS:
        hist = target[h]
        for k, v in delta[h].items():
            hist[k] = hist.get(k, 0) + v


class _FoldedDeltas(Mapping[str, Delta]):
    """Deltas after folding: the unchanged ones as the batch made them, the folded ones merged."""

    def __init__(self, original: Mapping[str, Delta], kept: list[str], moved: dict[str, Delta]) -> None:
        self._original, self._kept, self._moved = original, set(kept), moved
        self._keys = [*kept, *moved]
        self._render = row_of(original)
        self.value_columns = value_columns_of(original)  # the merged ones are of the same deltas

    def __getitem__(self, key: str) -> Delta:
        if key in self._moved:
            return self._moved[key]
        if key not in self._kept:  # folded away: its sessions are in another key's delta now
            raise KeyError(key)
        return self._original[key]

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def minute(self, key: str) -> datetime:
        if key in self._moved:
            return self._moved[key]["minute"]
        minute = getattr(self._original, "minute", None)
        return minute(key) if minute is not None else self[key]["minute"]

    def upsert_row(self, key: str) -> tuple:
        return upsert_row(key, self._moved[key], self.value_columns) if key in self._moved else self._render(key)


def apply_hourly(conn: Connection, hourly: Mapping[str, Delta]) -> None:
    """Add `by_hour` deltas to the hourly rows and bump their hours' revisions."""
    _apply(conn, HourlyRollup.__table__, "hour", hourly)
    bump_revisions(conn, {d["minute"] for d in hourly.values()})


def compacted_through(conn: Connection, *, share_lock: bool = False, update_lock: bool = False) -> datetime | None:
    """The compaction mark: hours before it have their hourly rows. PostgreSQL: ingest holds it
    FOR SHARE and the compactor FOR UPDATE until commit, so a batch and a compaction of the same
    hour never miss each other (SQLite's single writer serializes them anyway)."""
    if conn.dialect.name == "sqlite":  # read once per ingested batch: no statement to compile
        text = conn.exec_driver_sql(_SQLITE_THROUGH).scalar()
        return None if text is None else datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    query = select(RollupCompaction.through).where(RollupCompaction.id == 1)
    if share_lock or update_lock:
        query = query.with_for_update(read=share_lock and not update_lock)
    return conn.execute(query).scalar()


_SQLITE_THROUGH = f"SELECT through FROM {RollupCompaction.__tablename__} WHERE id = 1"


def bump_revisions(conn: Connection, hours: Iterable[datetime]) -> None:
    rows = [{"hour": hour, "revision": 1} for hour in sorted(hours)]
    if not rows:
        return
    table = RollupHour.__table__
    conn.execute(dialect_insert(conn, table).on_conflict_do_update(
        index_elements=["hour"], set_={"revision": table.c.revision + 1}), rows)


def _apply(conn: Connection, table, time_column: str, deltas: Mapping[str, Delta]) -> None:
    if conn.dialect.name == "sqlite":
        _apply_sqlite(conn, table.name, time_column, deltas)
    else:
        from collector.store.pg_batch import upsert_rollups  # it builds on this module

        upsert_rollups(conn, table, time_column, deltas)


_VALUE_COLUMNS = COUNTERS + SUMS + HISTOGRAMS


def value_columns_of(deltas: Mapping[str, Delta]) -> tuple[str, ...]:
    """The value columns (counters, sums, then histograms) the deltas add to, in the order
    `upsert_row` gives them: all, unless the deltas name fewer. Sessions never add to the
    samples' counters and histograms (`SessionDeltas.value_columns`), so their upserts leave
    those out: each column a row binds and adds to costs every batch, and most rollup columns
    are the samples' (WER, CER, entities, diarization)."""
    return getattr(deltas, "value_columns", _VALUE_COLUMNS)


def unset_value(column: str) -> str:
    """SQL for the value a new rollup row holds in a column its upsert leaves out."""
    return "'{}'" if column in HISTOGRAMS else ("0.0" if column in SUMS else "0")


@functools.cache
def _upsert_sql(table: str, time_column: str, columns: tuple[str, ...] = _VALUE_COLUMNS) -> str:
    """SQLite: insert a row, or add it to the stored one. Histograms are added in their text by
    `asrwatch_hist_add` (`collector.store.histogram_text`, registered on every connection by
    `collector.store.database`), and only where the batch has something to add. Value columns
    not in `columns` start at zero in a new row and are left as they are in a stored one."""
    check_value_columns(columns)
    unset = [c for c in _VALUE_COLUMNS if c not in columns]
    places = ", ".join(["?"] * (2 + len(ROLLUP_COLUMNS) + len(columns)) + [unset_value(c) for c in unset])
    added = [f"{c} = {c} + excluded.{c}" for c in columns if c not in HISTOGRAMS]
    added += [f"{h} = CASE excluded.{h} WHEN '{{}}' THEN {h} ELSE asrwatch_hist_add({h}, excluded.{h}) END"
              for h in columns if h in HISTOGRAMS]
    return (f"INSERT INTO {table} (rollup_key, {time_column}, {', '.join(ROLLUP_COLUMNS)}, "
            f"{', '.join([*columns, *unset])}) VALUES ({places}) "
            f"ON CONFLICT (rollup_key) DO UPDATE SET {', '.join(added)}")


def check_value_columns(columns: tuple[str, ...]) -> None:
    """ValueError naming the first column out of place unless `columns` are known value columns,
    counters, then sums, then histograms: `upsert_row` renders them in that order, and the
    PostgreSQL upsert (`pg_batch.upsert_rollups`) finds the sums and histograms by position."""
    unknown = [c for c in columns if c not in _VALUE_COLUMNS]
    if unknown:
        raise ValueError(f"rollup value columns: {unknown[0]!r} is not a counter, sum or histogram: {columns}")
    kinds = [0 if c in COUNTERS else 1 if c in SUMS else 2 for c in columns]
    for i in range(1, len(kinds)):
        if kinds[i] < kinds[i - 1]:
            raise ValueError(f"rollup value columns must be counters, then sums, then histograms: "
                             f"{columns[i]!r} comes after {columns[i - 1]!r} in {columns}")


def _apply_sqlite(conn: Connection, table: str, time_column: str, deltas: Mapping[str, Delta]) -> None:
    """SQLite: the caller holds the database write lock (BEGIN IMMEDIATE), so one upsert per row,
    in key order, adds each delta to its stored row or inserts it: nothing is read back into
    Python."""
    render = row_of(deltas)
    conn.exec_driver_sql(_upsert_sql(table, time_column, value_columns_of(deltas)),
                         [render(key) for key in sorted(deltas)])


def row_of(deltas: Mapping[str, Delta]) -> Callable[[str], tuple]:
    """How to render a delta as both engines' upserts take it (`upsert_row`, with the deltas'
    `value_columns_of`): deltas that can render their own rows from their columns
    (`SessionDeltas.upsert_row`) do; others go through their Delta dicts."""
    own = getattr(deltas, "upsert_row", None)
    if own is not None:
        return own
    columns = value_columns_of(deltas)
    return lambda key: upsert_row(key, deltas[key], columns)


def upsert_row(key: str, d: Delta, columns: tuple[str, ...] = _VALUE_COLUMNS) -> tuple:
    """A delta as the rollup upserts take it: key, time (UTC text, `sqlite_datetime`), slice,
    then the value `columns` (counters, sums, then the histograms as compact JSON text)."""
    return (key, sqlite_datetime(d["minute"])) + _DIMS_OF(d) + _sqlite_values(d, columns)


@functools.cache
def _value_getters(columns: tuple[str, ...]) -> tuple[Callable[[Mapping[str, Any]], tuple], ...]:
    """itemgetters of the scalar and of the histogram columns of `columns` (each always a tuple)."""
    def getter(names: list[str]) -> Callable[[Mapping[str, Any]], tuple]:
        return (lambda values: ()) if not names else (
            itemgetter(*names) if len(names) > 1 else (lambda values: (values[names[0]],)))
    return getter([c for c in columns if c not in HISTOGRAMS]), getter([c for c in columns if c in HISTOGRAMS])


def _sqlite_values(values: Mapping[str, Any], columns: tuple[str, ...] = _VALUE_COLUMNS) -> tuple:
    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    scalars, histograms = _value_getters(columns)
    return scalars(values) + tuple([dumps(h, option=option).decode() for h in histograms(values)])


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MINUTE_TEXT: dict[int, str] = {}


def sqlite_datetime(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite DateTime stores (UTC, `YYYY-MM-DD HH:MM:SS.ffffff`), so
    both paths compare alike. Called for every rollup row written: exact integer arithmetic from
    the epoch with the minute's text cached, about twice as fast as astimezone + isoformat.
    (A batch's event times are rendered together by `SessionBatch.ts_texts`.) PostgreSQL takes
    the same text as `timestamp ... AT TIME ZONE 'UTC'`, whatever the connection's TimeZone.
    A naive datetime is refused, as `UTCDateTime` refuses it: its zone would be a guess."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()}: asrwatch stores timezone-aware UTC only")
    delta = value - EPOCH
    minute, second = divmod(delta.days * 86400 + delta.seconds, 60)
    prefix = _MINUTE_TEXT.get(minute)
    if prefix is None:
        if len(_MINUTE_TEXT) > 100_000:
            _MINUTE_TEXT.clear()
        prefix = _MINUTE_TEXT[minute] = (EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:")
    return f"{prefix}{second:02d}.{delta.microseconds:06d}"
