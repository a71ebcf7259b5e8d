"""Cache hits and the paid-API fallback (#21 item 3) through the HTTP API, on SQLite and PostgreSQL:
validation naming the field, the rates in /api/v1/status over the sessions that reported them,
cost per backend in /api/v1/cost, and the /metrics counters the exported rules read."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from collector.measures import cost
from slo.cache_regression import baselines, cache_alerts

DAY = ("2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z")
API_PER_MINUTE = 0.03  # tests/collector/conftest.py's pricing.api_per_minute


def session(uid, i, **fields):
    return {"session_id": f"{uid}-{i}", "ts": f"2026-11-02T10:{i % 60:02d}:00Z", "model_version": f"mv-{uid}",
            "status": "ok", **fields}


def test_status_and_cost_split_by_cache_and_backend(live, uid):
    records = [
        session(uid, 0, cache_hit=True, backend="self_hosted", audio_seconds=60.0, gpu_seconds=36.0, pool="h100"),
        session(uid, 1, cache_hit=False, backend="self_hosted", audio_seconds=30.0, gpu_seconds=18.0, pool="h100"),
        session(uid, 2, cache_hit=False, backend="api", audio_seconds=120.0, gpu_seconds=0.0),
        session(uid, 3, backend="api", audio_seconds=60.0),
        session(uid, 4, audio_seconds=30.0, gpu_seconds=9.0),  # said neither: self-hosted for cost
    ]
    with live.client("ingest") as http:
        assert http.post("/api/v1/sessions", json=records).json()["accepted"] == 5
    params = {"since": DAY[0], "until": DAY[1], "model_version": f"mv-{uid}"}
    with live.client("read") as http:
        [status] = http.get("/api/v1/status", params=params).json()
        [row] = http.get("/api/v1/cost", params=params).json()
        stored = http.get(f"/api/v1/sessions/{uid}-2").json()
    assert (stored["cache_hit"], stored["backend"]) == (False, "api")
    assert {k: status[k] for k in ("cache_lookups", "cache_hits", "backend_sessions", "fallback_sessions")} == \
        {"cache_lookups": 3, "cache_hits": 1, "backend_sessions": 4, "fallback_sessions": 2}
    assert status["cache_hit_rate"] == pytest.approx(1 / 3) and status["fallback_share"] == pytest.approx(0.5)
    # Self-hosted: 54 GPU-seconds on h100 at $4/h and 9 at the default $2.50/h over 2 audio minutes;
    # the API: 3 audio minutes at $0.03.
    gpu = 54 / 3600 * 4.0 + 9 / 3600 * 2.5
    assert row["by_backend"]["self_hosted"] == pytest.approx(
        {"audio_minutes": 2.0, "cost_usd": gpu, "cost_per_audio_minute": gpu / 2.0})
    assert row["by_backend"]["api"] == pytest.approx(
        {"audio_minutes": 3.0, "cost_usd": 3 * API_PER_MINUTE, "cost_per_audio_minute": API_PER_MINUTE})
    assert row["cost_usd"] == pytest.approx(gpu + 3 * API_PER_MINUTE)
    assert row["cost_per_successful_turn"] == pytest.approx(row["cost_usd"] / 5)
    assert (row["fallback_sessions"], row["api_unpriced_minutes"]) == (2, 0.0)
    with live.client("read") as http:
        text = http.get("/metrics").text
    mine = [line for line in text.splitlines() if f'model_version="mv-{uid}"' in line and not line.startswith("#")]

    def metric(name):
        return sum(float(line.rsplit(" ", 1)[1]) for line in mine if line.startswith(name + "{"))
    assert (metric("asrwatch_cache_lookups_total"), metric("asrwatch_cache_hits_total")) == (3, 1)
    assert (metric("asrwatch_backend_sessions_total"), metric("asrwatch_fallback_sessions_total")) == (4, 2)


def test_a_sender_without_cache_or_backend_gets_no_rates(live, uid):
    with live.client("ingest") as http:
        assert http.post("/api/v1/sessions", json=[session(uid, i) for i in range(3)]).json()["accepted"] == 3
    with live.client("read") as http:
        [status] = http.get("/api/v1/status", params={"since": DAY[0], "until": DAY[1],
                                                      "model_version": f"mv-{uid}"}).json()
    assert (status["cache_lookups"], status["cache_hit_rate"], status["fallback_share"]) == (0, None, None)


def test_bad_values_are_rejected_naming_the_field_and_the_rest_is_stored(live, uid):
    records = [session(uid, 0, backend="openai"), session(uid, 1, cache_hit="yes"), session(uid, 2, backend="api")]
    with live.client("ingest") as http:
        answer = http.post("/api/v1/sessions", json=records).json()
    assert answer["accepted"] == 1
    assert [(r["index"], r["error"].split(":")[0]) for r in answer["rejected"]] == [(0, "backend"), (1, "cache_hit")]


def test_without_an_api_price_the_api_cost_is_unknown_not_zero():
    totals = {"default": {"sessions": 4, "successful_turns": 4, "gpu_seconds": 36.0, "audio_seconds": 240.0,
                          "api_audio_seconds": 120.0, "fallback_sessions": 2}}
    unpriced = cost.summarize(totals, lambda pool: 2.5)
    assert unpriced["by_backend"]["api"]["cost_usd"] is None and unpriced["api_unpriced_minutes"] == 2.0
    assert unpriced["cost_usd"] == pytest.approx(36 / 3600 * 2.5)  # the GPU's only, and it says so
    # Unit costs are the self-hosted path's: its 2 minutes, not all 4 (the API's at zero would halve it).
    assert unpriced["cost_per_audio_minute"] == pytest.approx(36 / 3600 * 2.5 / 2)
    assert unpriced["gpu_seconds_per_audio_second"] == pytest.approx(36 / 120)
    priced = cost.summarize(totals, lambda pool: 2.5, api_per_minute=0.05)
    assert priced["cost_usd"] == pytest.approx(36 / 3600 * 2.5 + 2 * 0.05) and priced["api_unpriced_minutes"] == 0
    assert priced["cost_per_audio_minute"] == pytest.approx(priced["cost_usd"] / 4)


def _rows(before_hits, before_lookups, hits, lookups, channel="telephony"):
    return ([{"channel": channel, "cache_hits": hits, "cache_lookups": lookups}],
            [{"channel": channel, "cache_hits": before_hits, "cache_lookups": before_lookups}])


def test_cache_watch_tickets_only_a_significant_drop():
    at = datetime(2026, 11, 2, 12, tzinfo=timezone.utc)
    (ticket,) = cache_alerts(*_rows(350, 1000, 50, 1000), ["channel"], at)
    assert ticket.labels == {"alertname": "CacheHitRateDrop", "severity": "ticket", "channel": "telephony"}
    assert "35.0% -> 5.0%" in ticket.summary and ticket.evidence["p_value"] < 1e-6
    assert cache_alerts(*_rows(350, 1000, 300, 1000), ["channel"], at) == []  # 5 points: under min_drop
    assert cache_alerts(*_rows(35, 100, 5, 100), ["channel"], at) == []  # too few lookups
    assert cache_alerts(*_rows(50, 1000, 350, 1000), ["channel"], at) == []  # a rise is good news
    # Significance as well as size: 30 points on 200 lookups each is significant, 12 points of a
    # noisy 200 against 200 with min_drop 0.1 is not at alpha 1e-4.
    assert len(cache_alerts(*_rows(100, 200, 40, 200), ["channel"], at)) == 1
    assert cache_alerts(*_rows(100, 200, 76, 200), ["channel"], at, alpha=1e-4) == []


def test_a_cache_that_stays_cold_keeps_its_ticket():
    """The baseline is the window a day earlier where it has lookups: an hour after the drop the
    window just before is cold too, but a day earlier it was warm, so the ticket stays; a group
    with no lookups a day earlier (new) is compared with the window just before."""
    at = datetime(2026, 11, 2, 12, tzinfo=timezone.utc)
    cold = [{"channel": "telephony", "cache_hits": 50, "cache_lookups": 1000},
            {"channel": "web", "cache_hits": 50, "cache_lookups": 1000}]
    previous = [{"channel": "telephony", "cache_hits": 52, "cache_lookups": 1000},
                {"channel": "web", "cache_hits": 400, "cache_lookups": 1000}]
    day_earlier = [{"channel": "telephony", "cache_hits": 350, "cache_lookups": 1000},
                   {"channel": "web", "cache_hits": 3, "cache_lookups": 10}]  # too few: not a baseline
    chosen = {r["channel"]: r["cache_hits"] for r in baselines(day_earlier, previous, ["channel"], 200)}
    assert chosen == {"telephony": 350, "web": 400}
    assert sorted(a.labels["channel"] for a in cache_alerts(cold, baselines(day_earlier, previous, ["channel"], 200),
                                                            ["channel"], at)) == ["telephony", "web"]
    assert [a.labels["channel"] for a in cache_alerts(cold, previous, ["channel"], at)] == ["web"]  # the old rule

