"""The `cache-cold` and `circuit-breaker-open` scenarios (#21 item 3) against a live collector:
the cache hit rate and the fallback share each scenario documents, read back through
`/api/v1/status` and `/api/v1/cost`; a ticket from the cache watch for the cold cache and a page
from a `fallback` SLO for the open breaker, each only where and when the scenario says."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from asrwatch.settings import Settings
from collector.store.database import make_engine
from simulator.run import simulate
from simulator.scenarios import SCENARIOS
from slo import cache_watch
from slo.snapshot import slo_statuses

API_PER_MINUTE = 0.024  # conftest.SIM_COLLECTOR_CONFIG's pricing.api_per_minute


def _run(collector, scenario: str, start: datetime) -> None:
    report = simulate(collector.url, collector.tokens["ingest"], scenario, start=start, hours=1.0, rate=60, seed=4,
                      label_fraction=0.0, progress=False)
    assert report.stats.rejected == 0, report.stats.first_rejection


def _by(collector, path: str, group_by: str, since: datetime, until: datetime) -> dict[str, dict]:
    with collector.client("read") as http:
        response = http.get(path, params={"since": since.isoformat(), "until": until.isoformat(),
                                          "group_by": group_by})
    assert response.status_code == 200, response.text
    return {r[group_by]: r for r in response.json()}


def test_a_cold_cache_files_a_ticket_for_telephony_only(collector):
    start = datetime(2026, 10, 23, 12, 0, tzinfo=timezone.utc)  # an event-time day of its own
    onset, end = start + timedelta(minutes=30), start + timedelta(hours=1)
    truth = SCENARIOS["cache-cold"]
    assert truth.should_fire == ("cache_hit",)
    _run(collector, "cache-cold@30m", start)
    before = _by(collector, "/api/v1/status", "channel", start, onset)
    after = _by(collector, "/api/v1/status", "channel", onset, end)
    assert before["telephony"]["cache_lookups"] > 300 and after["telephony"]["cache_lookups"] > 300
    assert before["telephony"]["cache_hit_rate"] == pytest.approx(truth.expected["cache_hit_rate_before"], abs=0.06)
    assert after["telephony"]["cache_hit_rate"] == pytest.approx(truth.expected["cache_hit_rate"], abs=0.04)
    # Channels without a cache report no lookups, so no rate (not a 0% hit rate).
    assert {c: (r["cache_lookups"], r["cache_hit_rate"]) for c, r in after.items() if c != "telephony"} == \
        {c: (0, None) for c in after if c != "telephony"}

    engine = make_engine(collector.database_url)
    try:
        settings = Settings(database_url=collector.database_url)
        # Before the onset, two normal quarter hours side by side: nothing.
        quarter = cache_watch.CacheWatchConfig(group_by=["channel"], window_hours=0.25)
        before_ticket = cache_watch.check(engine, settings, quarter, onset)
        config = cache_watch.CacheWatchConfig(group_by=["channel"], window_hours=0.5)
        (ticket,) = cache_watch.check(engine, settings, config, end)
        gpu = {half: _by(collector, "/api/v1/cost", "channel", since, until)["telephony"]["gpu_seconds"]
               for half, (since, until) in {"before": (start, onset), "after": (onset, end)}.items()}
    finally:
        engine.dispose()
    assert before_ticket == []
    assert (ticket.name, ticket.severity, ticket.labels["channel"]) == ("CacheHitRateDrop", "ticket", "telephony")
    # A cache hit ran no recognizer: with the cache cold, telephony spends more GPU time.
    assert gpu["after"] > 1.25 * gpu["before"]
    assert ticket.evidence["previous_cache_hit_rate"] - ticket.evidence["cache_hit_rate"] > 0.2
    assert ticket.runbook_url.endswith("/slo-burn-cache_hit")


def _fallback_alerts(collector, at: datetime) -> list:
    spec = {"name": "self-hosted-serves", "sli": "fallback", "objective": 0.99, "window": "30d",
            "group_by": ["region"]}
    engine = make_engine(collector.database_url)
    try:
        (status,) = slo_statuses(engine, Settings(database_url=collector.database_url, slos=[spec]), at)
    finally:
        engine.dispose()
    return [a for g in status.groups for a in g.alerts]


def test_an_open_circuit_breaker_pages_for_its_region_and_bills_the_api(collector):
    start = datetime(2026, 10, 25, 12, 0, tzinfo=timezone.utc)  # an event-time day of its own
    onset, end = start + timedelta(minutes=30), start + timedelta(hours=1)
    truth = SCENARIOS["circuit-breaker-open"]
    assert truth.should_fire == ("fallback",)
    _run(collector, "circuit-breaker-open@30m", start)
    before = _by(collector, "/api/v1/status", "region", start, onset)
    after = _by(collector, "/api/v1/status", "region", onset, end)
    assert after["eu-west"]["fallback_share"] == pytest.approx(truth.expected["fallback_share"], abs=0.06)
    assert before["eu-west"]["fallback_share"] < 0.02
    assert all(r["fallback_share"] < 0.02 for region, r in after.items() if region != "eu-west")
    # Every session a recognizer served names its backend; a cache hit names none.
    assert all(r["backend_sessions"] == r["sessions"] - r["cache_hits"] for r in after.values())

    # The SLO engine: nothing before the onset; a page for eu-west alone soon after it.
    assert _fallback_alerts(collector, onset) == []
    pages = [a for a in _fallback_alerts(collector, end) if a.severity == "page"]
    assert [a.labels["region"] for a in pages] == ["eu-west"]
    assert onset <= pages[0].starts_at <= onset + timedelta(minutes=10)
    assert pages[0].runbook_url.endswith("/slo-burn-fallback")

    # The API's audio minutes are billed at pricing.api_per_minute; its sessions spend no GPU time.
    cost = _by(collector, "/api/v1/cost", "region", onset, end)["eu-west"]
    api = cost["by_backend"]["api"]
    assert api["audio_minutes"] > 10 and api["cost_usd"] == pytest.approx(api["audio_minutes"] * API_PER_MINUTE)
    assert cost["cost_usd"] == pytest.approx(cost["by_backend"]["self_hosted"]["cost_usd"] + api["cost_usd"])
    assert cost["fallback_sessions"] == after["eu-west"]["fallback_sessions"]
    gpu_before = _by(collector, "/api/v1/cost", "region", start, onset)["eu-west"]
    assert cost["gpu_seconds"] < 0.6 * gpu_before["gpu_seconds"]
