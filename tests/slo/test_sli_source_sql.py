"""The database adds SLI counts up (`load_series`) exactly as the pure `build_series` does over
the same rollup rows, for every SLI kind, with filters and groups, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
from slo_dense_reference import build_series, load_series
from sqlalchemy import select

from collector.store.database import make_engine, migrate, read_connection
from collector.store.ingest import score_and_store_samples, store_sessions
from collector.store.models import Rollup
from collector.store.schemas import SampleIn, SessionIn
from slo.evaluation import series_span
from slo.spec import parse_slo

AT = datetime(2026, 3, 2, 6, 30, tzinfo=timezone.utc)
WORDS = "turn on the kitchen lights and set a timer for ten minutes please".split()

SPECS = [
    {"name": "avail", "sli": "availability", "objective": 0.99, "window": "1d", "group_by": ["region", "channel"]},
    {"name": "lat", "sli": "latency", "threshold_ms": 1500, "objective": 0.9, "window": "1d",
     "filters": {"channel": ["web", "telephony"]}, "group_by": ["model_version"]},
    {"name": "odd-threshold", "sli": "latency", "threshold_ms": 1234.5, "objective": 0.9, "window": "1d"},
    {"name": "first", "sli": "first_partial_latency", "threshold_ms": 300, "objective": 0.95, "window": "1d",
     "group_by": ["region"]},
    {"name": "queue", "sli": "queue_latency", "threshold_ms": 20, "objective": 0.95, "window": "1d"},
    {"name": "dec", "sli": "decode_errors", "objective": 0.99, "window": "1d", "filters": {"region": "eu"}},
    {"name": "quality", "sli": "quality", "max_wer": 0.2, "objective": 0.9, "window": "1d",
     "group_by": ["model_version"]},
]


def _seed(engine) -> None:
    rng = random.Random(11)
    sessions, samples = [], []
    for i in range(3000):
        ts = AT - timedelta(minutes=rng.uniform(0, 26 * 60))  # some before the loaded span
        status = rng.choices(["ok", "decode_error", "timeout", "partial"], [0.9, 0.05, 0.03, 0.02])[0]
        hypothesis = " ".join(rng.sample(WORDS, rng.randrange(0, 6)))
        sessions.append(SessionIn.model_validate({
            "session_id": f"s{i}", "ts": ts.isoformat(), "model_version": rng.choice(["v1", "v2"]),
            "region": rng.choice(["eu", "us"]), "channel": rng.choice(["web", "telephony", "far_field"]),
            "status": status, "final_latency_ms": rng.lognormvariate(7, 0.5),
            "first_partial_ms": rng.lognormvariate(5.5, 0.4), "queue_ms": rng.expovariate(0.1),
            "hypothesis": hypothesis}))
        if rng.random() < 0.3:
            reference = " ".join(rng.sample(WORDS, rng.randrange(0, 6)))
            samples.append(SampleIn.model_validate({"session_id": f"s{i}", "reference": reference}))
    received = AT + timedelta(hours=1)
    store_sessions(engine, sessions, received)
    score_and_store_samples(engine, list(enumerate(samples)), "basic", received)


def test_database_sums_equal_the_pure_series(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    _seed(engine)
    with read_connection(engine) as conn:
        rows = conn.execute(select(Rollup.__table__)).mappings().all()
    checked = 0
    for raw in SPECS:
        spec = parse_slo(raw)
        end = AT.replace(second=0)
        expected = build_series(spec, rows, end - series_span(spec), end)
        got = load_series(engine, spec, AT)
        assert got.groups == expected.groups, spec.name
        assert got.start == expected.start
        np.testing.assert_array_equal(got.total, expected.total, err_msg=spec.name)
        np.testing.assert_array_equal(got.good, expected.good, err_msg=spec.name)
        assert expected.total.sum() > 0 and (expected.good < expected.total).any(), spec.name  # not vacuous
        checked += 1
    assert checked == len(SPECS)
    engine.dispose()
