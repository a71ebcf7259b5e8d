"""The database adds SLI counts up (`load_series`) exactly as the pure `build_series` does over
the same rollup rows, for every SLI kind, with filters and groups, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
from slo_dense_reference import build_series, load_series
from sqlalchemy import select

from collector.measures import wer
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
    {"name": "hallucinations", "sli": "hallucination", "objective": 0.99, "window": "1d",
     "group_by": ["channel"], "filters": {"model_version": "v1"}},
    {"name": "diarization", "sli": "diarization", "max_der": 0.25, "objective": 0.9, "window": "1d",
     "group_by": ["channel"]},
    {"name": "quality", "sli": "quality", "max_wer": 0.2, "objective": 0.9, "window": "1d",
     "group_by": ["model_version"]},
    # Chinese utterances judged by CER, the others by WER (#20).
    {"name": "quality-by-language", "sli": "quality", "max_wer": 0.3, "objective": 0.9, "window": "1d",
     "group_by": ["language"]},
    {"name": "entities", "sli": "entity_recall", "objective": 0.9, "window": "1d", "group_by": ["model_version"]},
]
CHINESE = ["打开", "厨房", "的", "灯", "设置", "十分钟", "计时器", "谢谢"]


def _segments(i: int) -> dict:
    """Every third sample is diarized (its own generator: the other draws stay as they were)."""
    if i % 3:
        return {}
    rng = random.Random(i)
    reference, hypothesis, clock = [], [], 0.0
    for turn in range(rng.randint(2, 8)):
        end = clock + rng.uniform(0.5, 4.0)
        reference.append({"speaker": f"caller{turn % 2}", "start": clock, "end": end})
        label = f"s{turn % 2}" if rng.random() < 0.8 else f"s{(turn + 1) % 2}"
        hypothesis.append({"speaker": label, "start": clock + rng.uniform(0, 0.4), "end": end})
        clock = end + rng.uniform(0.0, 0.5)
    return {"reference_segments": reference, "hypothesis_segments": hypothesis}


def _seed(engine) -> None:
    rng = random.Random(11)
    sessions, samples = [], []
    for i in range(3000):
        ts = AT - timedelta(minutes=rng.uniform(0, 26 * 60))  # some before the loaded span
        status = rng.choices(["ok", "decode_error", "timeout", "partial"], [0.9, 0.05, 0.03, 0.02])[0]
        language = rng.choice(["en", "zh-CN", None])
        words, glue = (CHINESE, "") if language == "zh-CN" else (WORDS, " ")
        hypothesis = glue.join(rng.sample(words, rng.randrange(0, 6)))
        if i % 17 == 0:  # now and then a loop, for the hallucination SLI (no draw: the rest stays as it was)
            hypothesis = "thank you " * (i % 5 + 3)
        sessions.append(SessionIn.model_validate({
            "session_id": f"s{i}", "ts": ts.isoformat(), "model_version": rng.choice(["v1", "v2"]),
            "language": language,
            "region": rng.choice(["eu", "us"]), "channel": rng.choice(["web", "telephony", "far_field"]),
            "status": status, "final_latency_ms": rng.lognormvariate(7, 0.5),
            "first_partial_ms": rng.lognormvariate(5.5, 0.4), "queue_ms": rng.expovariate(0.1),
            "hypothesis": hypothesis}))
        if rng.random() < 0.3:
            reference = glue.join(rng.sample(words, rng.randrange(0, 6)))
            samples.append(SampleIn.model_validate({"session_id": f"s{i}", "reference": reference,
                                                    "entities": ["kitchen lights", "timer", "计时器"],
                                                    **_segments(i)}))
    received = AT + timedelta(hours=1)
    store_sessions(engine, sessions, received)
    score_and_store_samples(engine, list(enumerate(samples)), "language", received)


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
    # Not vacuous for languages: the Chinese group's counts are CER's, not what WER would give.
    spec = parse_slo(SPECS[-2])
    got = load_series(engine, spec, AT)
    zh = got.groups.index(("zh-CN",))
    by_wer = sum(wer.pairs_good(r["wer_pairs"] or {}, 0.3)[0] for r in rows if r["language"] == "zh-CN"
                 and r["minute"] >= AT.replace(second=0) - series_span(spec))
    assert got.good[zh].sum() != by_wer
    engine.dispose()
