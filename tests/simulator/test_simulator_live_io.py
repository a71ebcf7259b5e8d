"""The simulator against a live collector: errors, idempotency, traces, router, CLI, live mode."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from asrwatch.cli import app
from collector.client import CollectorAuthError
from live_collector import free_port
from simulator.fleet import FleetConfig
from simulator.generate import generate
from simulator.run import scenario_set, simulate
from simulator.traffic_router import write_router_state

CANARY = FleetConfig().canary_version


def day(n: int) -> datetime:
    return datetime(2026, 9, n, 8, 0, tzinfo=timezone.utc)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def get(collector, path, **params):
    with collector.client("read") as http:
        response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_wrong_token_is_a_clear_error_that_does_not_echo_the_token(collector):
    with pytest.raises(CollectorAuthError, match="401"):
        simulate(collector.url, "not-a-token", "steady", start=day(1), hours=0.05, rate=20, progress=False)
    with pytest.raises(CollectorAuthError, match="403"):  # a read token cannot ingest
        simulate(collector.url, collector.tokens["read"], "steady", start=day(1), hours=0.05, rate=20, progress=False)
    result = CliRunner().invoke(app, ["simulate", "--collector", collector.url, "--token", "sekrit-wrong",
                                      "--hours", "0.05", "--rate", "20", "-q"])
    assert result.exit_code == 2
    assert "refused the token" in result.output and "sekrit-wrong" not in result.output


def test_an_unreachable_collector_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["simulate", "--collector", url, "--hours", "0.05", "-q"])
    assert result.exit_code == 3
    assert f"collector at {url} unreachable" in result.output


def test_cli_lists_scenarios_and_posts_a_run_with_its_truth(collector):
    listing = CliRunner().invoke(app, ["simulate", "--list"])
    assert listing.exit_code == 0
    for name in ("canary-far-field-regression", "regional-regression", "gpu-cost-spike", "latency-saturation",
                 "decode-failures", "client-audio-degradation", "new-product-names", "partial-churn",
                 "benign-canary"):
        assert name in listing.output
    result = CliRunner().invoke(app, [
        "simulate", "--collector", collector.url, "--token", collector.tokens["ingest"],
        "--scenario", "decode-failures@1m", "--hours", "0.05", "--rate", "40", "--start", iso(day(2)),
        "--seed", "5", "--truth", "-q"])
    assert result.exit_code == 0, result.output
    assert "simulated 3 min" in result.output and "rejected 0" in result.output
    truth = json.loads(result.output[result.output.index("["):])
    assert truth[0]["scenario"] == "decode-failures" and truth[0]["onset"] == "2026-09-02T08:01:00+00:00"
    stored = get(collector, "/api/v1/sessions", since=iso(day(2)), until=iso(day(2) + timedelta(minutes=3)), limit=5000)
    expected = sum(b.session_count for b in generate(scenario_set("decode-failures@1m", day(2), 0.05), day(2), 0.05, 40, 5))
    assert len(stored) == expected
    bad = CliRunner().invoke(app, ["simulate", "--collector", collector.url, "--scenario", "nope", "-q"])
    assert bad.exit_code != 0 and "unknown scenario 'nope'" in bad.output


def test_reposting_a_run_is_idempotent(collector):
    args = dict(start=day(3), hours=0.1, rate=30, seed=9, progress=False)
    first = simulate(collector.url, collector.tokens["ingest"], "steady", **args)
    again = simulate(collector.url, collector.tokens["ingest"], "steady", **args)
    assert first.stats.accepted == first.stats.sessions > 0
    assert again.stats.accepted == 0 and again.stats.duplicates == first.stats.sessions


def test_traced_sessions_arrive_with_their_stages_and_are_scored(collector):
    start = day(4)
    report = simulate(collector.url, collector.tokens["ingest"], "steady", start=start, hours=0.1, rate=60, seed=2,
                      otlp_fraction=0.5, label_fraction=0.5, progress=False)
    assert report.stats.traced > 0 and report.stats.samples_scored == report.stats.samples
    batches = list(generate(scenario_set("steady", start, 0.1), start, 0.1, 60, 2,
                            fleet=FleetConfig(label_fraction=0.5), otlp_fraction=0.5))
    traced = [t for b in batches for t in b.traced]
    assert len(traced) == report.stats.traced
    labeled = {s.session_id for b in batches for s in b.samples}
    item = next(t for t in traced if t.record["session_id"] in labeled)
    stored = get(collector, f"/api/v1/sessions/{item.record['session_id']}")
    for key in ("model_version", "region", "channel", "tenant", "status", "audio_seconds", "gpu_seconds",
                "final_latency_ms", "snr_db", "trace_id"):
        assert stored[key] == item.record[key], key
    assert stored["ts"].startswith(item.record["ts"][:23])
    names = [s["name"] for s in stored["stages"] if s["parent_span_id"]]
    assert names == ["ingest", "preprocess", "features", "inference", "decode", "postprocess"]
    assert len(stored["samples"]) == 1
    total = sum(b.session_count for b in batches)
    listed = get(collector, "/api/v1/sessions", since=iso(start), until=iso(start + timedelta(minutes=6)), limit=5000)
    assert len(listed) == total


def test_a_rollback_in_the_router_file_takes_the_canary_out(collector, tmp_path):
    router_file = tmp_path / "router.json"
    start = day(5)
    half = start + timedelta(minutes=30)
    ingest = collector.tokens["ingest"]
    common = dict(hours=0.5, rate=60, seed=3, label_fraction=0.0, router_file=str(router_file), progress=False)
    simulate(collector.url, ingest, "canary-far-field-regression@0", start=start, **common)
    # The rollout judge rolls the canary back: the simulated fleet obeys from the next minute.
    write_router_state(router_file, {CANARY: 0.0}, at=half, updated_by="rollout-judge")
    simulate(collector.url, ingest, "canary-far-field-regression@0", start=half, **common)

    def versions(a, b):
        rows = get(collector, "/api/v1/cost", since=iso(a), until=iso(b), group_by="model_version")
        return {r["model_version"]: r["sessions"] for r in rows}

    before, after = versions(start, half), versions(half, half + timedelta(minutes=30))
    assert before[CANARY] / sum(before.values()) == pytest.approx(0.25, abs=0.05)
    assert CANARY not in after


def test_live_mode_paces_event_time_and_stops_on_request(collector):
    start = day(6)
    report = simulate(collector.url, collector.tokens["ingest"], "steady", start=start, hours=3 / 60, rate=20,
                      speed=900.0, progress=False)
    assert report.wall_s >= 3 * 60 / 900.0  # three event minutes at 900x take at least 0.2 s
    assert report.stats.sessions > 0 and not report.stopped_early
    stop = threading.Event()
    stop.set()
    stopped = simulate(collector.url, collector.tokens["ingest"], "steady", start=day(7), hours=1, rate=20,
                       speed=1.0, stop=stop, progress=False)
    assert stopped.stopped_early and stopped.stats.sessions == 0
