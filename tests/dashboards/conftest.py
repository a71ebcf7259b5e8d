"""One live collector seeded by the simulator (shared by the console's tests), and one left empty."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from live_collector import LiveCollector, running_collector

SLOS = [
    {"name": "final-latency", "sli": "latency", "threshold_ms": 2000, "objective": 0.99, "window": "30d",
     "group_by": ["region"]},
    {"name": "availability", "sli": "availability", "objective": 0.995, "window": "30d"},
    # Not 30 days: its alert tiers are scaled (page on 14m & 1m), and the on-call chart must draw those.
    {"name": "availability-7d", "sli": "availability", "objective": 0.995, "window": "7d"},
    {"name": "transcript-quality", "sli": "quality", "max_wer": 0.3, "objective": 0.95, "window": "30d",
     "group_by": ["model_version"]},
]
CONFIG = {"slos": SLOS, "evaluator_interval_s": 3600}
ROLLOUT = "canary-console-test"
DEBUG_REFERENCE = "please transfer five hundred dollars to my savings account today"
DEBUG_HYPOTHESIS = "please transfer nine hundred dollars to savings account today now"
DEBUG_TOKENS = DEBUG_HYPOTHESIS.split()
DEBUG_PROBS = [0.98, 0.95, 0.41, 0.9, 0.93, 0.97, 0.88, 0.9, 0.96, 0.22]
DEBUG_STAGES = {"ingest": 4.0, "preprocess": 12.0, "features": 20.0, "inference": 310.0, "decode": 45.0,
                "postprocess": 6.0}


@dataclass
class Seeded:
    live: LiveCollector
    as_of: str  # the end of the simulated span: pages are judged "as of" it
    debug_session: str
    rollout: str
    hallucinated_session: str  # a looped transcript on non-speech audio, flagged at ingest


def _post_debug_session(live: LiveCollector, ts: datetime) -> str:
    """A session with a trace (waterfall), a labeled reference (diff) and token probabilities (heatmap)."""
    from simulator.generate import TracedSession
    from simulator.post import build_trace_request

    trace_id = "ab" * 16
    record = {
        "session_id": "console-debug-1", "ts": ts.isoformat(timespec="milliseconds"),
        "model_version": "whisper-large-v3@2026-10-01", "region": "us-east", "channel": "web", "tenant": "acme-bank",
        "language": "en-US", "pool": "a100", "status": "ok", "audio_seconds": 4.2, "final_latency_ms": 397.0,
        "first_partial_ms": 210.0, "confidence": 0.81, "snr_db": 21.5, "gpu_seconds": 0.17, "turn_success": True,
        "hypothesis": DEBUG_HYPOTHESIS, "trace_id": trace_id,
    }
    with live.client("ingest") as http:
        body = {**record, "attributes": {"tokens": DEBUG_TOKENS, "token_probs": DEBUG_PROBS}}
        assert http.post("/api/v1/sessions", json=[body]).json()["accepted"] == 1
        request = build_trace_request([TracedSession(record, DEBUG_STAGES)])
        response = http.post("/v1/traces", content=request.SerializeToString(),
                             headers={"content-type": "application/x-protobuf"})
        assert response.status_code == 200, response.text
        scored = http.post("/api/v1/samples", json=[{"session_id": record["session_id"],
                                                     "reference": DEBUG_REFERENCE, "source": "human"}])
        assert scored.status_code == 200, scored.text
    return record["session_id"]


HALLUCINATED_LOOP = ("thank you for watching thank you for watching thank you for watching thank you for watching "
                     "thank you for watching thank you for watching")


def _post_hallucinated_session(live: LiveCollector, ts: datetime) -> str:
    """One looped transcript on audio the sender marked as non-speech, the last session before the end."""
    # Every field a page tabulates is set, as the simulator's sessions have them: a page row of
    # None (an `unknown` region, no latency) would read NaN in a table and not equal the API's null.
    record = {"session_id": "console-hallucinated-1", "ts": ts.isoformat(), "model_version": "console-hallucinating",
              "region": "us-east", "channel": "far_field", "tenant": "acme-bank", "language": "en-US", "pool": "a100",
              "status": "ok", "audio_seconds": 6.0, "final_latency_ms": 640.0, "first_partial_ms": 250.0,
              "queue_ms": 12.0, "confidence": 0.42, "snr_db": 3.0, "gpu_seconds": 0.2, "turn_success": False,
              "hypothesis": HALLUCINATED_LOOP,
              "attributes": {"no_speech_prob": 0.87, "compression_ratio": 5.5, "avg_logprob": -0.21}}
    with live.client("ingest") as http:
        body = http.post("/api/v1/sessions", json=[record]).json()
    assert body["rejected"] == [] and body["accepted"] == 1
    return record["session_id"]


@pytest.fixture(scope="session")
def collectors(tmp_path_factory):
    """Two collectors, started side by side (each start costs seconds): one to seed, one left empty."""
    dirs = [tmp_path_factory.mktemp("console-collector"), tmp_path_factory.mktemp("console-empty")]
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        started = [pool.submit(stack.enter_context, running_collector(d, config=CONFIG)) for d in dirs]
        yield [f.result() for f in started]


@pytest.fixture(scope="session")
def seeded(collectors) -> Seeded:
    from simulator.fleet import FleetConfig
    from simulator.run import simulate

    live = collectors[0]
    end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    start = end - timedelta(hours=2)
    fleet = FleetConfig(label_fraction=0.2)
    report = simulate(live.url, live.tokens["ingest"], ["canary-far-field-regression", "decode-failures@1h"],
                      start=start, hours=2, rate=30, seed=7, fleet=fleet, hypotheses=True, progress=False)
    assert report.stats.rejected == 0
    debug_id = _post_debug_session(live, end - timedelta(minutes=10))
    with live.client("admin") as http:
        registered = http.post("/api/v1/rollouts", json={
            "name": ROLLOUT, "baseline_version": fleet.stable_version, "canary_version": fleet.canary_version,
            "slice_by": ["channel"], "protected_slices": [{"channel": "far_field"}], "min_utterances": 50,
            "lookback": "3h"})
        assert registered.status_code in (200, 201), registered.text
    # Seeded here, before any page is drawn: the console caches answers across pages, so a test that
    # posted it itself changed the numbers under every page test that ran after it.
    hallucinated = _post_hallucinated_session(live, report.end - timedelta(seconds=1))
    return Seeded(live, report.end.isoformat().replace("+00:00", "Z"), debug_id, ROLLOUT, hallucinated)


@pytest.fixture(scope="session")
def empty_live(collectors) -> LiveCollector:
    return collectors[1]


@pytest.fixture(scope="session")
def api_get(seeded: Seeded):
    """GET the seeded collector's read API directly, as the numbers the pages must show."""

    def get(path: str, **params) -> object:
        response = httpx.get(seeded.live.url + path, params=params, timeout=60,
                             headers={"Authorization": f"Bearer {seeded.live.tokens['read']}"})
        response.raise_for_status()
        return response.json()

    return get
