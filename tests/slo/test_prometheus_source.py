"""`sli_source: prometheus` without a server: its settings, its errors, and the pure step from
Prometheus' readings to the statuses the API and the evaluator share. The live test
(test_sli_source_prometheus_live.py) runs it against a real Prometheus."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from live_collector import free_port

from asrwatch.settings import PrometheusSettings, Settings
from dashboards.sample_captions import sli_source_caption
from slo.alert import fingerprint
from slo.prometheus_source import GroupReadings, PrometheusAPI, SLISourceUnavailable, group_statuses, held_open
from slo.status import SLOStatus
from slo.spec import parse_slo

AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
SPEC = parse_slo({"name": "availability", "sli": "availability", "objective": 0.99, "window": "30d",
                  "group_by": ["region"], "labels": {"team": "asr"}})


@pytest.mark.parametrize("values, field", [
    ({"sli_source": "prometheus"}, "prometheus"),
    ({"sli_source": "prometheus", "prometheus": {"url": "prometheus:9090"}}, "prometheus.url"),
    ({"sli_source": "prometheus", "prometheus": {"url": "http://p:9090", "header": {}}}, "header"),
    ({"sli_source": "prometheus", "prometheus": {"url": "http://p:9090"}, "evaluator_clock": "watermark"},
     "evaluator_clock"),
    ({"sli_source": "promethus", "prometheus": {"url": "http://p:9090"}}, "sli_source"),
    ({"sli_source": "prometheus", "prometheus": {"url": "http://admin:pw@p:9090"}}, "prometheus.headers"),
])
def test_settings_refuse_a_prometheus_source_they_cannot_use(values, field):
    with pytest.raises(ValueError) as error:
        Settings(**values)
    assert field in str(error.value)


def test_settings_take_a_prometheus_source():
    settings = Settings(sli_source="prometheus", prometheus={"url": "http://mimir:8080/prometheus/",
                                                             "headers": {"X-Scope-OrgID": "asr"}})
    assert settings.prometheus is not None and settings.prometheus.url == "http://mimir:8080/prometheus"


def test_an_unreachable_source_is_named_and_its_headers_are_not():
    url = f"http://127.0.0.1:{free_port()}"
    api = PrometheusAPI(PrometheusSettings(url=url, headers={"Authorization": "Bearer s3cret"}, timeout_s=2))
    with pytest.raises(SLISourceUnavailable) as error:
        api.query("up", AT)
    assert "sli_source prometheus" in str(error.value) and url in str(error.value)
    assert "s3cret" not in str(error.value)


def _readings(**ratios: float) -> GroupReadings:
    # Windows of a 30-day SLO: the page tiers judge 1h & 5m and 6h & 30m.
    minutes = {"m5": 5, "m30": 30, "h1": 60, "h2": 120, "h6": 360, "d1": 1440, "d3": 4320}
    return GroupReadings(ratios={minutes[k]: v for k, v in ratios.items()})


def test_group_statuses_report_burns_budget_and_the_alert_prometheus_fired():
    hot = _readings(m5=0.5, h1=0.2, m30=0.01, h6=0.01, h2=0.01, d1=0.01, d3=0.001)
    hot.events = {60: 400.0, 360: 2000.0, 1440: 9000.0, 4320: 30000.0}
    hot.window_total, hot.window_bad = 100000.0, 500.0
    hot.active_at = {"page": AT - timedelta(minutes=7)}  # the alerting rule's ALERTS_FOR_STATE
    quiet = _readings(m5=0.0, h1=0.0)
    quiet.events = {60: 50.0}
    quiet.window_total, quiet.window_bad = 1000.0, 0.0
    eu, us = group_statuses(SPEC, {("eu",): hot, ("us",): quiet}, AT, min_events=10, base="/runbooks",
                            min_bad_events=0.0)
    assert eu.labels == {"region": "eu"} and us.labels == {"region": "us"}
    assert eu.burn_rates["1h"] == pytest.approx(20.0) and eu.burn_rates["5m"] == pytest.approx(50.0)
    assert eu.error_budget_remaining == pytest.approx(0.5) and eu.sli_value == pytest.approx(0.995)
    assert (eu.events, eu.good) == (100000, 99500)
    (page,) = eu.alerts
    # The labels (hence the fingerprint) the local engine gives the same group's page.
    want = {"team": "asr", "alertname": "SLOErrorBudgetBurn", "slo": "availability", "severity": "page", "region": "eu"}
    assert page.labels == want and page.fingerprint == fingerprint(want)
    assert page.starts_at == AT - timedelta(minutes=7)
    assert page.evidence["tier"] == {"long": "1h", "short": "5m", "factor": 14.4}
    assert page.evidence["events"] == {"1h": 400, "5m": None}  # Prometheus records long-window events only
    assert page.evidence["bad"]["1h"] == 80
    assert "burning 20.0x over 1h and 50.0x over 5m" in page.summary
    assert us.alerts == [] and us.burn_rates["1h"] == 0.0 and us.burn_rates["1d"] is None


def test_a_page_burn_on_little_traffic_is_the_low_traffic_ticket():
    low = _readings(m5=0.5, h1=0.5)
    low.events = {60: 4.0}
    # no ALERTS_FOR_STATE sample (alerting rules not loaded, or not restored yet): it starts at `at`
    (group,) = group_statuses(SPEC, {("eu",): low}, AT, min_events=10, base="/runbooks", min_bad_events=0.0)
    (ticket,) = group.alerts
    assert ticket.severity == "ticket" and ticket.starts_at == AT
    assert ticket.annotations["low_traffic"] == "true" and "LOW TRAFFIC: only 4 events in 1h (minimum 10)" in ticket.summary


def test_a_disabled_tier_raises_nothing_even_if_prometheus_fired_it():
    spec = parse_slo({**SPEC.model_dump(include={"name", "sli", "objective", "group_by"}), "window": "30d",
                      "alerting": {"page_alert": {"disable": True}}})
    readings = _readings(m5=0.5, h1=0.5)
    readings.events = {60: 400.0}
    (group,) = group_statuses(spec, {("eu",): readings}, AT, min_events=10, base="/runbooks", min_bad_events=0.0)
    assert group.alerts == []


def test_the_console_says_where_the_slis_come_from():
    assert sli_source_caption({"slos": [{"name": "a", "sli_source": "local"}]}) is None
    assert sli_source_caption(None) is None
    assert "Prometheus" in (sli_source_caption({"slos": [{"name": "a", "sli_source": "prometheus"}]}) or "")


def test_open_alerts_are_held_only_while_their_slo_is_not_judged():
    eu_readings = _readings(m5=0.0, h1=0.0)
    eu_readings.events = {60: 100.0}
    judged = SLOStatus(SPEC, group_statuses(SPEC, {("eu",): eu_readings}, AT, min_events=10, base="/runbooks",
                                            min_bad_events=0.0), source="prometheus")
    held = held_open([judged])
    assert not held("availability", {"region": "eu", "severity": "page"})  # judged: nothing fires, it resolves
    # Other groups are recorded, this one is gone (a retired model version): it resolves too.
    assert not held("availability", {"region": "us", "severity": "page"})
    assert not held("availability", {"severity": "page"})  # the SLO now groups by region: a stale episode
    assert not held("removed-slo", {"region": "us"})  # an SLO no longer configured resolves as in local mode
    # None of the SLO's recordings (targets not scraped), or rules that do not match it: held.
    assert held_open([SLOStatus(SPEC, [], source="prometheus")])("availability", {"region": "eu"})
    stale = SLOStatus(SPEC, [], source="prometheus", problem="rules exported for another objective")
    assert held_open([stale])("availability", {"region": "eu"})


def test_a_long_window_without_its_events_recording_fires_nothing():
    readings = _readings(m5=0.5, h1=0.5)  # hot ratios, but no slo:sli_events:increase1h
    (group,) = group_statuses(SPEC, {("eu",): readings}, AT, min_events=10, base="/runbooks", min_bad_events=0.0)
    assert group.alerts == []


def test_bad_events_recorded_as_a_ratio_count_as_whole_events():
    # 8 bad of 49: the recordings give 8/49 and 49, whose product is 7.999...; the local engine
    # and the exported rules (> N - 0.5) count 8 bad events, enough for min_bad_events 8.
    readings = _readings(m5=8 / 49, h1=8 / 49)
    readings.events = {60: 49.0}
    (group,) = group_statuses(SPEC, {("eu",): readings}, AT, min_events=10, base="/runbooks", min_bad_events=8.0)
    (ticket,) = group.alerts
    assert ticket.severity == "ticket" and ticket.annotations["low_traffic"] == "true"
