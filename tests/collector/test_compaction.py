"""Hourly compaction: hourly rows are exactly their minutes' sums, before and after late data,
also while ingest and the compactor run at once; window queries answer the same whichever rows
they read; and the SLO series cache answers what a full read does. SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone

import numpy as np
import orjson
import pytest
from rollup_compare import hourly_rollups, rollup_differences
from slo_dense_reference import cache_pieces, load_series, read_counts
from sqlalchemy import select, update

from collector.measures import histogram
from collector.store import queries
from collector.store.compaction import compact
from collector.store.database import make_engine, migrate, read_connection, write_transaction
from collector.store.ingest import score_and_store_samples, store_sessions
from collector.store.models import HourlyRollup, RollupCompaction, RollupHour
from collector.store.rollup_window import whole_hours
from collector.store.rollups import compacted_through
from collector.store.schemas import SampleIn, SessionIn
from slo.series_cache import SeriesCache
from slo.spec import parse_slo

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)
AT = T0 + timedelta(hours=6, minutes=20)
WORDS = "turn on the kitchen lights and set a timer for ten minutes please".split()


def _sessions(rng: random.Random, prefix: str, n: int, start: datetime, hours: float) -> tuple[list, list]:
    sessions, samples = [], []
    for i in range(n):
        ts = start + timedelta(seconds=rng.uniform(0, hours * 3600))
        sessions.append(SessionIn.model_validate({
            "session_id": f"{prefix}{i}", "ts": ts.isoformat(), "model_version": rng.choice(["v1", "v2"]),
            "region": rng.choice(["eu", "us"]), "channel": rng.choice(["web", "telephony"]),
            "status": rng.choices(["ok", "decode_error", "timeout"], [0.9, 0.06, 0.04])[0],
            "final_latency_ms": rng.lognormvariate(7, 0.5), "first_partial_ms": rng.lognormvariate(5.5, 0.4),
            "queue_ms": rng.expovariate(0.1), "gpu_seconds": rng.uniform(0.1, 2), "audio_seconds": rng.uniform(1, 9),
            "confidence": rng.random(), "snr_db": rng.gauss(20, 5),
            "hypothesis": " ".join(rng.sample(WORDS, rng.randrange(1, 6)))}))
        if rng.random() < 0.3:
            samples.append(SampleIn.model_validate({"session_id": f"{prefix}{i}",
                                                    "reference": " ".join(rng.sample(WORDS, rng.randrange(1, 6)))}))
    return sessions, samples


def _store(engine, sessions, samples) -> None:
    store_sessions(engine, sessions, AT)
    score_and_store_samples(engine, list(enumerate(samples)), "basic", AT)


def _assert_hourly_is_minute_sums(engine) -> int:
    with read_connection(engine) as conn:
        stored, expected = hourly_rollups(conn)
    assert rollup_differences(stored, expected) == []
    return len(expected)


def _rounded(value):
    """Sums of floats differ in the last bits with the order they are added in."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _window_answers(engine, since, until) -> list:
    return _rounded([
        queries.latency_by_group(engine, ["region"], since, until, {}),
        queries.latency_by_group(engine, [], since, until, {"channel": "web"}),
        queries.wer_by_group(engine, ["model_version"], since, until, {}, resamples=50),
        queries.cost_by_group(engine, ["model_version"], since, until, {}, lambda pool: 2.0),
        queries.status_by_group(engine, ["region", "channel"], since, until, {}),
    ])


WINDOWS = [(T0, T0 + timedelta(hours=6)), (T0 + timedelta(minutes=17), T0 + timedelta(hours=4, minutes=33, seconds=30)),
           (T0 + timedelta(hours=1, seconds=1), T0 + timedelta(hours=2, minutes=59)), (T0 - timedelta(days=1), AT)]


def _set_mark(engine, through) -> None:
    with write_transaction(engine) as conn:
        conn.execute(update(RollupCompaction).where(RollupCompaction.id == 1).values(through=through))


def test_hourly_rows_are_minute_sums_and_queries_agree(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    rng = random.Random(5)
    _store(engine, *_sessions(rng, "s", 2500, T0, 6.3))
    before = [_window_answers(engine, *w) for w in WINDOWS]

    assert compact(engine, AT) == 6  # the hour in progress (14:00) is not compacted
    with read_connection(engine) as conn:
        assert compacted_through(conn) == T0 + timedelta(hours=6)
        assert conn.execute(select(RollupHour.revision).order_by(RollupHour.hour)).scalars().all() == [1] * 6
    assert _assert_hourly_is_minute_sums(engine) > 6
    assert compact(engine, AT) == 0  # nothing new: idempotent
    after = [_window_answers(engine, *w) for w in WINDOWS]
    assert after == before
    assert all(answer for window in after for answer in window)  # not vacuous

    # Late data for compacted hours (sessions and labels) goes into both kinds of row.
    _store(engine, *_sessions(rng, "late", 400, T0 + timedelta(minutes=30), 3))
    assert _assert_hourly_is_minute_sums(engine) > 6
    with read_connection(engine) as conn:
        revisions = dict(conn.execute(select(RollupHour.hour, RollupHour.revision)).all())
    bumped = {hour for hour, revision in revisions.items() if revision > 1}
    assert bumped == {T0 + timedelta(hours=h) for h in range(4)}  # the late data's hours 08:30-11:30
    with_late = [_window_answers(engine, *w) for w in WINDOWS]
    assert with_late != after
    _set_mark(engine, None)  # the same questions answered from minute rows only
    assert [_window_answers(engine, *w) for w in WINDOWS] == with_late
    engine.dispose()


def test_ingest_and_compaction_at_once_lose_nothing(database_url):
    """Batches for the hours being compacted land while the compactor runs: every batch is in
    the hourly rows exactly once (PostgreSQL: the FOR SHARE / FOR UPDATE handshake on the mark)."""
    engine = make_engine(database_url)
    migrate(engine)
    rng = random.Random(9)
    _store(engine, *_sessions(rng, "s", 1500, T0, 6))
    batches = [_sessions(random.Random(i), f"b{i}-", 60, T0, 6) for i in range(16)]
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            for batch in batches:
                _store(engine, *batch)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    writer = threading.Thread(target=ingest)
    writer.start()
    compact(engine, AT)
    writer.join()
    assert not errors
    compact(engine, AT)
    assert _assert_hourly_is_minute_sums(engine) > 6
    with read_connection(engine) as conn:
        total = conn.execute(select(HourlyRollup.sessions)).scalars().all()
    assert sum(total) == 1500 + 16 * 60
    engine.dispose()


SPECS = [
    {"name": "lat", "sli": "latency", "threshold_ms": 1500, "objective": 0.9, "window": "1d", "group_by": ["region"]},
    {"name": "avail", "sli": "availability", "objective": 0.99, "window": "1d", "filters": {"channel": "web"}},
    {"name": "quality", "sli": "quality", "max_wer": 0.3, "objective": 0.9, "window": "1d",
     "group_by": ["model_version"]},
]


def test_series_cache_answers_what_a_full_read_does(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    rng = random.Random(3)
    _store(engine, *_sessions(rng, "s", 2000, T0, 6.3))
    compact(engine, AT)
    cache = SeriesCache()
    specs = [parse_slo(raw) for raw in SPECS]

    def same(at) -> None:
        for spec in specs:
            full, cached = load_series(engine, spec, at), load_series(engine, spec, at, cache)
            assert cached.groups == full.groups and cached.start == full.start, spec.name
            np.testing.assert_array_equal(cached.good, full.good, err_msg=spec.name)
            np.testing.assert_array_equal(cached.total, full.total, err_msg=spec.name)
            assert full.total.sum() > 0, spec.name

    same(AT)
    same(AT + timedelta(minutes=3))  # a later evaluation: kept hours plus the new minutes
    read_ranges: list = []
    spec = specs[0]

    def recording(conn):
        def read(ranges, origin):
            read_ranges.append(ranges)
            return read_counts(conn, spec, ranges, origin)
        return read

    with read_connection(engine) as conn:
        cache_pieces(cache, conn, spec, AT - timedelta(days=1), AT, recording(conn))
    assert read_ranges == [[(T0 + timedelta(hours=6), AT)]]  # only the minutes not compacted

    before = load_series(engine, spec, AT, cache)
    _store(engine, *_sessions(rng, "late", 300, T0 + timedelta(hours=2), 1))  # late: bumps 10:00's revision
    read_ranges.clear()
    with read_connection(engine) as conn:
        cache_pieces(cache, conn, spec, AT - timedelta(days=1), AT, recording(conn))
    assert read_ranges == [[(T0 + timedelta(hours=2), T0 + timedelta(hours=3)), (T0 + timedelta(hours=6), AT)]]
    same(AT)
    assert load_series(engine, spec, AT, cache).total.sum() > before.total.sum()
    engine.dispose()


def test_callers_asking_at_once_read_the_compacted_hours_once(database_url):
    """A page's /slos beside the evaluator's pass right after a start: the second waits for the
    first and finds the hours it kept, instead of reading them again beside it."""
    engine = make_engine(database_url)
    migrate(engine)
    _store(engine, *_sessions(random.Random(5), "s", 1500, T0, 6.3))
    compact(engine, AT)
    cache, spec = SeriesCache(), parse_slo(SPECS[0])
    reads: list = []
    started = threading.Event()

    def worker() -> None:
        with read_connection(engine) as conn:
            def read(ranges, origin):
                reads.append(ranges)
                started.set()
                threading.Event().wait(0.3)  # a slow cold read: the other caller arrives meanwhile
                return read_counts(conn, spec, ranges, origin)
            cache_pieces(cache, conn, spec, AT - timedelta(days=1), AT, read)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    threads[0].start()
    started.wait(10)
    threads[1].start()
    for t in threads:
        t.join(30)
    assert reads[0] == [(T0, T0 + timedelta(hours=6)), (T0 + timedelta(hours=6), AT)]  # the compacted hours too
    assert reads[1:] == [[(T0 + timedelta(hours=6), AT)]]  # the second: only the minutes not compacted
    engine.dispose()


@pytest.mark.parametrize(("since", "until", "through", "expected"), [
    (T0, T0 + timedelta(hours=3), T0 + timedelta(hours=9), (T0, T0 + timedelta(hours=3))),
    (T0, T0 + timedelta(hours=3), T0 + timedelta(hours=2), (T0, T0 + timedelta(hours=2))),
    (T0 + timedelta(seconds=1), T0 + timedelta(hours=3), T0 + timedelta(hours=9),
     (T0 + timedelta(hours=1), T0 + timedelta(hours=3))),
    # until 10:59:30 still holds the minute 10:59, so the hour 10:00 is whole
    (T0, T0 + timedelta(hours=2, minutes=59, seconds=30), T0 + timedelta(hours=9), (T0, T0 + timedelta(hours=3))),
    (T0, T0 + timedelta(hours=2, minutes=59), T0 + timedelta(hours=9), (T0, T0 + timedelta(hours=2))),
    (T0 + timedelta(minutes=5), T0 + timedelta(minutes=50), T0 + timedelta(hours=9), None),
    (T0, T0 + timedelta(hours=3), None, None),
])
def test_whole_hours(since, until, through, expected):
    assert whole_hours(since, until, through) == expected


def test_numpy_merge_of_histogram_texts_equals_dict_merge():
    rng = random.Random(1)
    texts, owners, expected = [], [], [{} for _ in range(4)]
    for _ in range(300):
        hist = {histogram.bucket_code(rng.lognormvariate(6, 1)): rng.randrange(1, 9)
                for _ in range(rng.randrange(0, 12))}
        group = rng.randrange(4)
        histogram.merge(expected[group], hist)
        texts.append(rng.choice([orjson.dumps(histogram.to_json(hist)).decode(),
                                 orjson.dumps(histogram.to_json(hist)).decode().replace(",", ", ").replace(":", ": ")]))
        owners.append(group)
    texts.append(None)
    owners.append(3)
    assert histogram.merged_json_texts(texts, owners, 4) == expected
    # Text not in the shape written (a float key) is merged the slow, exact way or refused.
    with pytest.raises(ValueError):
        histogram.merged_json_texts(['{"5.5": 1}'], [0], 1)
