"""Two collector replicas on one PostgreSQL, written to at once with overlapping batches:
every session is stored once, repeats are counted as duplicates, and no rollup increment is
lost when both replicas fold the same minute and slice at the same moment."""

from __future__ import annotations

import random
import sys
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from collector.store.database import make_engine
from collector.store.models import Sample, Session
from collector.store.rollups import compacted_through

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
from replicas import replicas  # noqa: E402
from rollup_compare import hourly_rollups, recomputed_rollups, rollup_differences, stored_rollups  # noqa: E402

pytestmark = pytest.mark.postgres

THREADS = 6
BATCHES = 6
BATCH = 120
POOL = 1500  # distinct session ids; threads draw overlapping batches from it
WORDS = "the quick brown fox jumps over a lazy dog near river bank".split()


def session_record(sid: str) -> dict:
    """The same id always gives the same record, so whichever copy wins is the same session.
    Three minutes x eight slices: the replicas collide on the same few rollup rows."""
    rnd = random.Random(sid)
    record = {
        "session_id": sid,
        "ts": f"2026-11-02T10:0{rnd.randrange(3)}:{rnd.randrange(60):02d}Z",
        "model_version": rnd.choice(["asr-v1", "asr-v2"]),
        "region": rnd.choice(["eu-west", "us-east"]),
        "channel": rnd.choice(["web", "telephony"]),
        "status": rnd.choices(["ok", "partial", "decode_error", "dropped", "timeout"], [80, 5, 5, 5, 5])[0],
        "final_latency_ms": round(rnd.lognormvariate(6.5, 0.6), 3),
        "first_partial_ms": round(rnd.lognormvariate(5.3, 0.5), 3),
        "audio_seconds": round(rnd.uniform(0.5, 20), 3),
        "gpu_seconds": round(rnd.uniform(0.01, 2), 4),
        "retries": rnd.choice([0, 0, 0, 1, 2]),
        "partial_rewrites": rnd.randrange(5),
        "shadow": rnd.random() < 0.05,
        "turn_success": rnd.choice([True, True, True, False, None]),
        "hypothesis": rnd.choice(["", " ".join(rnd.sample(WORDS, 5))]),
    }
    if rnd.random() < 0.8:
        record["confidence"] = round(rnd.random(), 4)
        record["snr_db"] = round(rnd.uniform(-5, 40), 2)
        record["queue_ms"] = round(rnd.expovariate(1 / 30), 3)
    return record


def batches_for(worker: int) -> list[list[str]]:
    """Each worker owns a share of the pool and mixes in ids other workers also send,
    plus a few repeats inside the same batch."""
    rnd = random.Random(worker)
    own = [f"s{i}" for i in range(worker, POOL, THREADS)]
    out = []
    for b in range(BATCHES):
        ids = own[b * len(own) // BATCHES:(b + 1) * len(own) // BATCHES]
        ids += [f"s{rnd.randrange(POOL)}" for _ in range(BATCH - len(ids) - 5)]
        ids += rnd.sample(ids, 5)
        rnd.shuffle(ids)
        out.append(ids)
    return out


def _post_all(replica_list, path, work_of_worker, workers):
    """Every worker posts its batches, alternating replicas, all starting at once."""
    responses: list[tuple[list, httpx.Response]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(workers)
    lock = threading.Lock()

    def worker(w: int) -> None:
        clients = [r.client("ingest") for r in replica_list]
        try:
            barrier.wait()
            for b, payload in enumerate(work_of_worker(w)):
                response = clients[(w + b) % len(clients)].post(path, json=payload)
                with lock:
                    responses.append((payload, response))
        except BaseException as exc:
            errors.append(exc)
        finally:
            for c in clients:
                c.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    return responses


def test_two_replicas_store_each_session_once_and_lose_no_rollup_increment(tmp_path, postgres_url):
    plan = {w: batches_for(w) for w in range(THREADS)}
    posted = Counter(sid for batches in plan.values() for ids in batches for sid in ids)
    assert len(posted) == POOL  # every id is sent at least once...
    assert sum(posted.values()) > len(posted) + 500  # ...and many are sent more than once

    labeled = sorted(posted)[::4]  # samples for a quarter of the sessions, each sent to both replicas

    def sample_work(w: int) -> list[list[dict]]:
        mine = labeled[w // 2::THREADS // 2]  # workers 2k and 2k+1 send the same samples...
        rnd = random.Random(f"samples-{w}")
        batches = [[{"session_id": sid, "source": "human",
                     "reference": " ".join(random.Random(f"ref-{sid}").sample(WORDS, 6))}
                    for sid in mine[i:i + 40]] for i in range(0, len(mine), 40)]
        for batch in batches:
            rnd.shuffle(batch)  # ...each in its own order
        return batches

    # Both replicas also compact hours while the batches land (late data for compacted hours).
    config = {"evaluator_enabled": False, "compaction_interval_s": 0.2}
    with replicas(tmp_path, postgres_url, 2, config) as live:
        session_responses = _post_all(live, "/api/v1/sessions",
                                      lambda w: [[session_record(s) for s in ids] for ids in plan[w]], THREADS)
        sample_responses = _post_all(live, "/api/v1/samples", sample_work, THREADS)
        logs = [r.log() for r in live]

    bad = [(r.status_code, r.text[:300]) for _, r in session_responses + sample_responses if r.status_code != 200]
    assert not bad, (bad, logs)
    accepted = sum(r.json()["accepted"] for _, r in session_responses)
    duplicates = sum(r.json()["duplicates"] for _, r in session_responses)
    assert accepted == POOL  # each id accepted by exactly one replica, once
    assert duplicates == sum(posted.values()) - POOL

    sample_results = [item for _, r in sample_responses for item in r.json()["results"]]
    assert len(sample_results) == 2 * len(labeled)
    assert sum(not item["duplicate"] for item in sample_results) == len(labeled)

    engine = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            stored_ids = set(conn.execute(select(Session.session_id)).scalars())
            assert stored_ids == set(posted)
            assert conn.execute(select(func.count()).select_from(Session)).scalar() == POOL
            assert set(conn.execute(select(Sample.session_id)).scalars()) == set(labeled)
            assert conn.execute(select(func.count()).select_from(Sample)).scalar() == len(labeled)
            expected = recomputed_rollups(conn)
            stored = stored_rollups(conn)
            through = compacted_through(conn)
            hourly_stored, hourly_expected = hourly_rollups(conn)
    finally:
        engine.dispose()
    assert len(expected) > 10  # many slices and minutes, each written by both replicas
    assert sum(row["sessions"] for row in stored.values()) == POOL
    assert sum(row["wer_utterances"] for row in stored.values()) == len(labeled)
    assert rollup_differences(stored, expected) == []
    assert through is not None and hourly_expected  # the compactors ran while batches landed
    assert rollup_differences(hourly_stored, hourly_expected) == []
