"""The ingest and query API over HTTP against a live collector, on SQLite and PostgreSQL."""

import orjson
from edit_distance import levenshtein

from collector.measures.wer import normalizer

DAY = ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")


def session(uid, i, **fields):
    record = {"session_id": f"{uid}-{i}", "ts": f"2026-11-01T10:{i % 60:02d}:00Z",
              "model_version": f"mv-{uid}", "status": "ok"}
    record.update(fields)
    return record


def window(**params):
    return {"since": DAY[0], "until": DAY[1], **params}


def test_repeat_session_id_is_a_duplicate_not_stored_twice(live, uid):
    with live.client("ingest") as http:
        first = http.post("/api/v1/sessions", json=[session(uid, i) for i in range(5)]).json()
        again = http.post("/api/v1/sessions", json=[session(uid, i) for i in range(3, 8)] + [session(uid, 7)]).json()
    assert first == {"accepted": 5, "duplicates": 0, "rejected": []}
    assert again == {"accepted": 3, "duplicates": 3, "rejected": []}
    with live.client("read") as http:
        rows = http.get("/api/v1/sessions", params=window(model_version=f"mv-{uid}", limit=100)).json()
        cost = http.get("/api/v1/cost", params=window(model_version=f"mv-{uid}")).json()
    assert len(rows) == 8
    assert cost[0]["sessions"] == 8  # rollups counted each session once


def test_partial_success_names_each_bad_field_and_stores_the_rest(live, uid):
    records = [
        session(uid, 0),
        session(uid, 1, confidence=1.5),
        session(uid, 2, final_latency_ms=-3.0),
        session(uid, 3, status="exploded"),
        {k: v for k, v in session(uid, 4).items() if k != "model_version"},
        session(uid, 5, region="x" * 65),
        session(uid, 6, ts="2026-11-01T10:00:00"),
        session(uid, 7, audio_seconds="3.2"),
        session(uid, 8, colour="blue"),
        "not an object",
        session(uid, 10),
    ]
    with live.client("ingest") as http:
        response = http.post("/api/v1/sessions", json=records)
    body = response.json()
    assert response.status_code == 200
    assert body["accepted"] == 2
    errors = {r["index"]: r["error"] for r in body["rejected"]}
    assert errors[1].startswith("confidence:")
    assert errors[2].startswith("final_latency_ms:")
    assert errors[3].startswith("status:")
    assert errors[4].startswith("model_version:") and "missing" in errors[4]
    assert errors[5].startswith("region:")
    assert errors[6].startswith("ts:") and "timezone" in errors[6]
    assert errors[7].startswith("audio_seconds:")
    assert errors[8].startswith("colour:") and "unknown field" in errors[8]
    assert errors[9].startswith("record:")
    with live.client("read") as http:
        ids = {r["session_id"] for r in http.get("/api/v1/sessions", params=window(model_version=f"mv-{uid}")).json()}
    assert ids == {f"{uid}-0", f"{uid}-10"}


def test_all_invalid_is_422_and_malformed_json_is_400(live, uid):
    with live.client("ingest") as http:
        r = http.post("/api/v1/sessions", json=[session(uid, 0, confidence=-1)])
        assert r.status_code == 422 and r.json()["rejected"][0]["error"].startswith("confidence:")
        r = http.post("/api/v1/sessions", content=b'[{"session_id": "x",', headers={"content-type": "application/json"})
        assert r.status_code == 400 and "body: invalid JSON" in r.json()["detail"]
        # The server keeps serving after bad input.
        assert http.post("/api/v1/sessions", json=[session(uid, 1)]).json()["accepted"] == 1


def test_ndjson_with_a_broken_line(live, uid):
    lines = [orjson.dumps(session(uid, 0)), b'{"session_id": oops}', orjson.dumps(session(uid, 2))]
    with live.client("ingest") as http:
        body = http.post("/api/v1/sessions", content=b"\n".join(lines),
                         headers={"content-type": "application/x-ndjson"}).json()
    assert body["accepted"] == 2
    assert body["rejected"][0]["index"] == 1 and "invalid JSON" in body["rejected"][0]["error"]


def test_body_over_the_limit_is_413_and_stores_nothing(live, uid):
    big = [session(uid, i, hypothesis="word " * 2000) for i in range(120)]  # ~1.2 MB > 1 MB limit
    with live.client("ingest") as http:
        r = http.post("/api/v1/sessions", json=big)
    assert r.status_code == 413
    assert "body" in r.json()["detail"]
    with live.client("read") as http:
        assert http.get("/api/v1/sessions", params=window(model_version=f"mv-{uid}")).json() == []


def test_auth_scopes(live, uid):
    import httpx

    url = live.url + "/api/v1/sessions"
    payload = [session(uid, 0)]
    assert httpx.post(url, json=payload).status_code == 401
    assert httpx.post(url, json=payload, headers={"Authorization": "Bearer nope"}).status_code == 401
    read = {"Authorization": f"Bearer {live.tokens['read']}"}
    assert httpx.post(url, json=payload, headers=read).status_code == 403
    assert httpx.get(url, headers=read).status_code == 200
    ingest = {"Authorization": f"Bearer {live.tokens['ingest']}"}
    assert httpx.get(url, headers=ingest).status_code == 403
    assert httpx.get(live.url + "/metrics", headers=ingest).status_code == 403
    admin = {"Authorization": f"Bearer {live.tokens['admin']}"}
    assert httpx.post(url, json=payload, headers=admin).json()["accepted"] == 1  # admin implies ingest
    assert httpx.get(url, headers=admin).status_code == 200                      # and read
    assert httpx.get(live.url + "/healthz").status_code == 200                   # probes stay open
    log = live.log()
    assert live.tokens["admin"] not in log and live.tokens["ingest"] not in log


def test_samples_score_corpus_wer_like_an_independent_edit_distance(live, uid):
    pairs = [
        ("turn on the kitchen lights", "turn on the kitchen light"),
        ("play the next song by the beatles", "play next song by beetles please"),
        ("what is the weather in paris tomorrow", "what is the weather in paris tomorrow"),
        ("set an alarm for seven thirty", "set alarm for seven thirty am"),
        ("call my mother", ""),
    ]
    sessions = [session(uid, i, hypothesis=h, region="eu" if i % 2 else "us") for i, (_, h) in enumerate(pairs)]
    samples = [{"session_id": f"{uid}-{i}", "reference": r, "source": "human"} for i, (r, _) in enumerate(pairs)]
    with live.client("ingest") as http:
        assert http.post("/api/v1/sessions", json=sessions).json()["accepted"] == 5
        scored = http.post("/api/v1/samples", json=samples).json()
        again = http.post("/api/v1/samples", json=samples[:1]).json()
    assert again["results"][0]["duplicate"] is True
    norm = normalizer("whisper_en")  # the collector's default normalizer, applied to both sides
    expected = [(levenshtein(norm(r).split(), norm(h).split()), len(norm(r).split())) for r, h in pairs]
    for got, (errors, ref_words) in zip(scored["results"], expected):
        assert got["substitutions"] + got["deletions"] + got["insertions"] == errors
        assert got["ref_words"] == ref_words
    with live.client("read") as http:
        rows = {r["region"]: r for r in http.get(
            "/api/v1/wer", params=window(group_by="region", model_version=f"mv-{uid}")).json()}
    for region, parity in (("us", 0), ("eu", 1)):
        errs = sum(e for i, (e, _) in enumerate(expected) if i % 2 == parity)
        words = sum(n for i, (_, n) in enumerate(expected) if i % 2 == parity)
        assert abs(rows[region]["wer"] - errs / words) < 1e-12
        assert rows[region]["ci_low"] <= rows[region]["wer"] <= rows[region]["ci_high"]
        assert rows[region]["utterances"] == sum(1 for i in range(5) if i % 2 == parity)


def test_sample_for_unknown_session_is_rejected_by_field(live, uid):
    with live.client("ingest") as http:
        r = http.post("/api/v1/samples", json=[{"session_id": f"{uid}-nope", "reference": "hello"}])
    assert r.status_code == 422
    assert r.json()["rejected"][0]["error"].startswith("session_id:")


def test_pii_is_redacted_before_storage(live, uid):
    with live.client("ingest") as http:
        http.post("/api/v1/sessions", json=[session(uid, 0, hypothesis="email me at bob@example.com or 4111 1111 1111 1111")])
        http.post("/api/v1/samples", json=[{"session_id": f"{uid}-0", "reference": "email me at bob@example.com"}])
    with live.client("read") as http:
        stored = http.get(f"/api/v1/sessions/{uid}-0").json()
    assert "bob@example.com" not in stored["hypothesis"] and "[EMAIL]" in stored["hypothesis"]
    assert "4111" not in stored["hypothesis"]
    assert "bob@example.com" not in stored["samples"][0]["reference"]


def test_cost_figures_by_hand(live, uid):
    records = [
        session(uid, 0, pool="h100", gpu_seconds=36.0, audio_seconds=60.0, turn_success=True),
        session(uid, 1, pool="h100", gpu_seconds=18.0, audio_seconds=30.0, turn_success=False),
        session(uid, 2, pool="t4", gpu_seconds=72.0, audio_seconds=90.0, retries=2),
        session(uid, 3, pool="t4", gpu_seconds=36.0, audio_seconds=60.0, status="timeout"),
        session(uid, 4, pool="t4", gpu_seconds=36.0, audio_seconds=60.0, shadow=True),
    ]
    with live.client("ingest") as http:
        assert http.post("/api/v1/sessions", json=records).json()["accepted"] == 5
    with live.client("read") as http:
        [row] = http.get("/api/v1/cost", params=window(group_by="model_version", model_version=f"mv-{uid}")).json()
    # h100 at $4.00/h: 54 s -> 0.06; t4 (unpriced: default $2.50/h): 144 s -> 0.10.
    assert abs(row["cost_usd"] - (54 / 3600 * 4.0 + 144 / 3600 * 2.5)) < 1e-9
    assert row["successful_turns"] == 2  # #0 ok; #1 turn failed; #2 ok; #3 timeout; #4 shadow
    assert abs(row["cost_per_successful_turn"] - row["cost_usd"] / 2) < 1e-12
    assert abs(row["audio_minutes"] - 5.0) < 1e-12
    assert abs(row["cost_per_audio_minute"] - row["cost_usd"] / 5.0) < 1e-12
    assert abs(row["shadow_fraction"] - 0.2) < 1e-12
    assert abs(row["retries_per_session"] - 0.4) < 1e-12
    assert abs(row["gpu_seconds_per_audio_second"] - 198 / 300) < 1e-12


def test_latency_quantiles_come_from_rollups_within_one_percent(live, uid):
    latencies = [100.0 + 37.3 * i for i in range(200)]
    with live.client("ingest") as http:
        http.post("/api/v1/sessions", json=[session(uid, i, final_latency_ms=v, first_partial_ms=v / 4)
                                            for i, v in enumerate(latencies)])
    with live.client("read") as http:
        [row] = http.get("/api/v1/latency", params=window(model_version=f"mv-{uid}")).json()
    ordered = sorted(latencies)
    for q in (50, 95, 99):
        exact = ordered[int(q / 100 * 200 + 0.999999) - 1]
        assert exact <= row[f"final_p{q}_ms"] <= exact * 1.01
    assert row["final_count"] == 200


def test_metrics_expose_ingested_sessions(live, uid):
    with live.client("ingest") as http:
        http.post("/api/v1/sessions", json=[session(uid, i, status="timeout", region="ap", channel="web")
                                            for i in range(3)])
    with live.client("read") as http:
        text = http.get("/metrics").text
    lines = [l for l in text.splitlines() if l.startswith("asrwatch_sessions_total") and f"mv-{uid}" in l]
    # Issue #16: the label set's other statuses are children at 0 (so Prometheus sees them before they count).
    assert {l.split('status="')[1].split('"')[0]: l.rsplit(" ", 1)[1] for l in lines} == {
        "ok": "0.0", "partial": "0.0", "decode_error": "0.0", "dropped": "0.0", "timeout": "3.0"}


def test_bad_query_parameters_name_the_field(live):
    with live.client("read") as http:
        assert "group_by" in http.get("/api/v1/wer", params={"group_by": "planet"}).json()["detail"]
        assert "since" in http.get("/api/v1/wer", params={"since": "yesterday"}).json()["detail"]
        assert http.get("/api/v1/sessions/does-not-exist").status_code == 404


def test_status_counts_and_samples_listing(live, uid):
    statuses = ["ok", "ok", "decode_error", "timeout", "partial", "ok"]
    with live.client("ingest") as http:
        http.post("/api/v1/sessions", json=[session(uid, i, status=s, hypothesis="" if i == 5 else "hi there",
                                                    snr_db=10.0 + i) for i, s in enumerate(statuses)])
        http.post("/api/v1/samples", json=[{"session_id": f"{uid}-0", "reference": "hi there"},
                                           {"session_id": f"{uid}-1", "reference": "oh hi over there"}])
    with live.client("read") as http:
        [row] = http.get("/api/v1/status", params=window(group_by="model_version", model_version=f"mv-{uid}")).json()
        worst = http.get("/api/v1/samples", params=window(model_version=f"mv-{uid}", order="wer")).json()
        high = http.get("/api/v1/samples", params=window(model_version=f"mv-{uid}", min_wer=0.1)).json()
    assert row["sessions"] == 6 and row["ok"] == 3 and row["decode_error"] == 1 and row["timeout"] == 1
    assert row["partial"] == 1 and row["empty_hypotheses"] == 1
    assert [s["session_id"] for s in worst] == [f"{uid}-1", f"{uid}-0"]
    assert worst[0]["wer"] == 0.5 and worst[0]["snr_db"] == 11.0 and "reference" not in worst[0]
    assert [s["session_id"] for s in high] == [f"{uid}-1"]
