"""Hallucinations through a live collector (`asrwatch serve`), on SQLite and PostgreSQL: a bad
`attributes.no_speech_prob` named at ingest; the label-free flags in /api/v1/status and
/api/v1/sessions/{id}; the labeled insertion rate in /api/v1/wer; the `hallucination` SLI in
/api/v1/slos (paging on a burst, with its runbook) and its /metrics counters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from live_collector import running_collector
from postgres import create_database, drop_database

NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)
CONFIG = {
    "slos": [{"name": "no-hallucinations", "sli": "hallucination", "objective": 0.99, "window": "1d",
              "group_by": ["model_version"], "min_events": 20}],
    "evaluator_interval_s": 3600,
}
LOOP = "Thank you. Thank you. Thank you. Thank you. Thank you. Thank you."


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live(request, tmp_path_factory):
    url = None if request.param == "sqlite" else create_database()
    try:
        with running_collector(tmp_path_factory.mktemp(f"hallucination-{request.param}"), CONFIG,
                               database_url=url) as collector:
            yield collector
    finally:
        if url:
            drop_database(url)


def _session(i: int, version: str, minute: int, **fields) -> dict:
    return {"session_id": f"{version}-{i}", "ts": (NOW - timedelta(minutes=minute, seconds=i % 50)).isoformat(),
            "model_version": version, "status": "ok", "channel": "far_field", **fields}


def test_hallucinations_end_to_end(live):
    sessions = []
    for i in range(120):  # v-good: plain speech; v-bad: a burst of loops and text on silence for 15 minutes
        sessions.append(_session(i, "v-good", i % 60, hypothesis="turn on the kitchen lights please"))
        burst = i % 60 < 15
        text = LOOP if burst and i % 2 else "thanks" if burst else "set a timer for ten minutes"
        sessions.append(_session(i, "v-bad", i % 60, hypothesis=text,
                                 attributes={"no_speech_prob": 0.91 if burst and not i % 2 else 0.02}))
    bad = [_session(900, "v-bad", 1, hypothesis="hi", attributes={"no_speech_prob": 1.7}),
           _session(901, "v-bad", 1, hypothesis="hi", attributes={"no_speech_prob": "high"})]
    with live.client("ingest") as http:
        response = http.post("/api/v1/sessions", json=sessions + bad)
        assert response.status_code == 200, response.text
        body = response.json()
        samples = http.post("/api/v1/samples", json=[
            {"session_id": "v-bad-1", "reference": ""},  # silence: every word of the loop inserted
            {"session_id": "v-bad-30", "reference": "set a timer for ten minutes"},
            {"session_id": "v-good-1", "reference": "turn on the kitchen lights please"},
        ])
        assert samples.status_code == 200, samples.text
    assert body["accepted"] == 240
    assert [(r["index"], r["error"]) for r in body["rejected"]] == [
        (240, "attributes: no_speech_prob: must be a number from 0 to 1"),  # the value not echoed
        (241, "attributes: no_speech_prob: must be a number from 0 to 1")]

    window = {"since": (NOW - timedelta(hours=2)).isoformat(), "until": (NOW + timedelta(minutes=1)).isoformat()}
    with live.client("read") as http:
        status = {r["model_version"]: r for r in http.get("/api/v1/status",
                                                          params={**window, "group_by": "model_version"}).json()}
        detail = http.get("/api/v1/sessions/v-bad-1").json()
        wer = {r["model_version"]: r for r in http.get("/api/v1/wer",
                                                       params={**window, "group_by": "model_version"}).json()}
        slos = http.get("/api/v1/slos", params={"at": (NOW + timedelta(minutes=1)).isoformat()}).json()
        metrics = http.get("/metrics").text

    # 30 burst sessions of v-bad: 14 loops (odd i: loop and compression), 16 "thanks" on silence.
    assert {k: status["v-bad"][k] for k in ("hallucination_checked", "hallucination_flagged", "hallucination_loop",
                                            "hallucination_compression", "hallucination_no_speech")} == {
        "hallucination_checked": 120, "hallucination_flagged": 30, "hallucination_loop": 14,
        "hallucination_compression": 14, "hallucination_no_speech": 16}
    assert status["v-bad"]["hallucination_rate"] == 0.25
    assert (status["v-good"]["hallucination_flagged"], status["v-good"]["hallucination_rate"]) == (0, 0.0)
    assert detail["hallucination"] == 3 and detail["hallucination_reasons"] == ["compression_ratio", "ngram_loop"]

    # Labeled: 12 words inserted over 6 reference words (the silent clip has none).
    assert (wer["v-bad"]["insertions"], wer["v-bad"]["ref_words"]) == (12, 6)
    assert wer["v-bad"]["insertion_rate"] == 2.0 and wer["v-good"]["insertion_rate"] == 0.0

    (slo,) = slos["slos"]
    groups = {g["group"]["model_version"]: g for g in slo["groups"]}
    assert groups["v-bad"]["events"] == 120 and groups["v-bad"]["sli_value"] == pytest.approx(0.75)
    assert [a["severity"] for a in groups["v-bad"]["alerts"]] == ["page"]
    assert groups["v-bad"]["alerts"][0]["runbook_url"].endswith("/slo-burn-hallucination")
    assert groups["v-good"]["alerts"] == [] and groups["v-good"]["error_budget_remaining"] == 1.0

    def metric(name: str, version: str) -> float:
        (line,) = [x for x in metrics.splitlines() if x.startswith(name + "{") and f'model_version="{version}"' in x]
        return float(line.rsplit(" ", 1)[1])

    assert metric("asrwatch_hallucination_checked_total", "v-bad") == 120
    assert metric("asrwatch_hallucination_flagged_total", "v-bad") == 30
    assert metric("asrwatch_hallucination_flagged_total", "v-good") == 0


    # The rollout judge compares the flagged shares of a canary (v-bad) and its baseline (v-good).
    with live.client("admin") as http:
        registered = http.post("/api/v1/rollouts", json={
            "name": "hallucinating-canary", "baseline_version": "v-good", "canary_version": "v-bad",
            "slice_by": ["channel"], "protected_slices": [{"channel": "far_field"}], "min_utterances": 1,
            "lookback": "3h"})
        assert registered.status_code in (200, 201), registered.text
        verdict = http.get("/api/v1/rollouts/hallucinating-canary/verdict",
                           params={"at": (NOW + timedelta(minutes=1)).isoformat()}).json()
    test = verdict["metrics"]["slices"]["channel=far_field"]["tests"]["hallucination"]
    assert (test["canary"], test["baseline"], test["regression"]) == (0.25, 0.0, True)
    assert verdict["decision"] == "rollback"
    assert any(r.startswith("hallucination rate regression in channel=far_field") for r in verdict["reasons"])
