from datetime import datetime, timedelta, timezone

import pytest

from slo.alert import Alert
from slo.router import matchers as m
from slo.router.config import load_router_config
from slo.router.dispatcher import Dispatcher, Silence
from slo.router.routing import route, with_team

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
S = timedelta(seconds=1)

CONFIG = {
    "receivers": [
        {"name": "oncall", "kind": "webhook", "url": "http://127.0.0.1:9/oncall"},
        {"name": "speech-core", "kind": "ticket"},
        {"name": "edge-team", "kind": "ticket"},
        {"name": "triage", "kind": "ticket"},
    ],
    "routes": {
        "receiver": "triage",
        "group_by": ["alertname", "slo", "region"],
        "routes": [
            {"matchers": ['severity="page"'], "receiver": "oncall"},
            {"matchers": ['severity=~"ticket|info"'], "receiver": "owner"},
        ],
    },
    "owners": {"whisper-large": {"team": "speech-core", "receiver": "speech-core"},
               "edge-v2@abc": {"team": "edge", "receiver": "edge-team"}},
    "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h",
    "fallback_receiver": "triage",
}


def alert(severity="page", slo="final-latency", region="eu", version="whisper-large-v3", name=None, **extra):
    name = name or ("SLOBurnRatePage" if severity == "page" else "SLOBurnRateTicket")
    labels = {"alertname": name, "severity": severity, "slo": slo, "region": region, "model_version": version,
              **extra}
    return Alert(name=name, severity=severity, labels=labels, summary=f"{slo} burning in {region}",
                 runbook_url="runbooks/slo-burn.md", starts_at=T0)


@pytest.fixture
def cfg():
    return load_router_config(CONFIG)


def test_pages_go_to_oncall_and_tickets_to_the_owning_team(cfg):
    assert [r.receiver for r in route(with_team(alert().labels, cfg.owners), cfg)] == ["oncall"]
    ticket = with_team(alert("ticket").labels, cfg.owners)
    assert ticket["team"] == "speech-core"  # family prefix whisper-large owns whisper-large-v3
    assert [r.receiver for r in route(ticket, cfg)] == ["speech-core"]
    exact = with_team(alert("ticket", version="edge-v2@abc").labels, cfg.owners)
    assert [r.receiver for r in route(exact, cfg)] == ["edge-team"]
    unknown = with_team(alert("info", version="mystery").labels, cfg.owners)
    assert [r.receiver for r in route(unknown, cfg)] == ["triage"]  # no owner: the fallback


def test_group_wait_then_interval_then_repeat(cfg):
    d = Dispatcher(cfg)
    assert d.process([alert(region="eu")], T0) == []  # waits group_wait
    assert d.process([alert(region="eu"), alert(region="eu")], T0 + 10 * S) == []  # dedup, still waiting
    first = d.tick(T0 + 30 * S)
    assert len(first) == 1 and first[0].status == "firing" and len(first[0].firing) == 1
    # Same alert again: nothing new until repeat_interval.
    assert d.process([alert(region="eu")], T0 + 6 * 60 * S) == []
    assert d.tick(T0 + 3 * 3600 * S) == []
    repeat = d.tick(T0 + 30 * S + 4 * 3600 * S)
    assert len(repeat) == 1 and repeat[0].firing[0].fingerprint == alert(region="eu").fingerprint
    assert repeat[0].firing[0].annotations["team"] == "speech-core"  # owner, without changing the labels


def test_alerts_raised_together_are_grouped_and_resolution_is_sent(cfg):
    d = Dispatcher(cfg)
    a = alert("page", slo="final-latency", region="eu", model_version_extra="x")
    b = alert("page", slo="final-latency", region="eu", version="other-v1")
    d.process([a], T0)
    d.process([b], T0 + 5 * S)
    notes = d.tick(T0 + 30 * S)
    assert len(notes) == 1 and len(notes[0].firing) == 2  # one group: alertname, slo, region
    d.process([a.resolve(T0 + 60 * S)], T0 + 60 * S)
    assert d.tick(T0 + 120 * S) == []  # group_interval not yet over
    later = d.tick(T0 + 30 * S + 300 * S)
    assert len(later) == 1 and later[0].status == "firing"
    assert [x.labels["model_version_extra"] for x in later[0].resolved] == ["x"]
    d.process([b.resolve(T0 + 400 * S)], T0 + 400 * S)
    final = d.tick(T0 + 30 * S + 600 * S)
    assert final[0].status == "resolved" and final[0].resolved[0].labels["model_version"] == "other-v1"
    assert d.groups == {}


def test_resolved_before_first_notification_sends_nothing(cfg):
    d = Dispatcher(cfg)
    d.process([alert()], T0)
    d.process([alert().resolve(T0 + 10 * S)], T0 + 10 * S)
    assert d.tick(T0 + 30 * S) == []


def test_silence_mutes_matching_alerts_only_in_its_time_range(cfg):
    d = Dispatcher(cfg)
    silence = Silence("s1", (m.parse('region="eu"'), m.parse('slo=~"final-.*"')), T0, T0 + 3600 * S,
                      "alice", "maintenance")
    d.set_silences([silence])
    d.process([alert(region="eu"), alert(region="us")], T0)
    notes = d.tick(T0 + 30 * S)
    assert [n.group_labels["region"] for n in notes] == ["us"]
    # While silenced nothing goes out; once it ends, the next due flush notifies.
    assert d.tick(T0 + 3599 * S) == []
    late = d.tick(T0 + 3600 * S + 300 * S)
    assert [n.group_labels["region"] for n in late] == ["eu"]


def test_page_inhibits_ticket_for_same_slo_and_group(cfg):
    d = Dispatcher(cfg)
    page, ticket = alert("page"), alert("ticket")
    other_group_ticket = alert("ticket", region="us")
    other_slo_ticket = alert("ticket", slo="transcript-quality")
    d.process([page, ticket, other_group_ticket, other_slo_ticket], T0)
    notes = d.tick(T0 + 30 * S)
    sent = {(a.labels["severity"], a.labels["slo"], a.labels["region"]) for n in notes for a in n.firing}
    assert ("ticket", "final-latency", "eu") not in sent
    assert {("page", "final-latency", "eu"), ("ticket", "final-latency", "us"),
            ("ticket", "transcript-quality", "eu")} <= sent
    # Once the page resolves, the ticket is no longer inhibited.
    d.process([page.resolve(T0 + 60 * S)], T0 + 60 * S)
    later = d.tick(T0 + 30 * S + 300 * S)
    assert any(a.labels["severity"] == "ticket" and a.labels["region"] == "eu" and a.labels["slo"] == "final-latency"
               for n in later for a in n.firing)


def test_fleet_ingest_outage_inhibits_per_slice_alerts(cfg):
    d = Dispatcher(cfg)
    outage = Alert(name="IngestOutage", severity="page",
                   labels={"alertname": "IngestOutage", "severity": "page", "scope": "fleet"},
                   summary="no sessions from any region for 10m", runbook_url="runbooks/ingest.md", starts_at=T0)
    d.process([outage, alert("page", region="eu"), alert("ticket", region="us")], T0)
    notes = d.tick(T0 + 30 * S)
    assert [a.name for n in notes for a in n.firing] == ["IngestOutage"]


def test_delivery_failure_raises_router_alert_to_fallback(cfg):
    d = Dispatcher(cfg)
    d.delivery_failed("oncall", T0, "HTTP 503")
    notes = d.tick(T0)
    assert notes and all(n.receiver != "oncall" for n in notes)
    assert notes[0].firing[0].name == "AlertRouterDeliveryFailing"
    assert notes[0].firing[0].labels["failing_receiver"] == "oncall"
    d.delivery_ok("oncall", T0 + 60 * S)
    resolved = d.tick(T0 + 400 * S)
    assert resolved and resolved[0].status == "resolved"


def test_config_errors_name_the_key():
    bad = {**CONFIG, "routes": {"receiver": "nobody"}}
    with pytest.raises(ValueError, match=r"routes.receiver: unknown receiver 'nobody'"):
        load_router_config(bad)
    with pytest.raises(ValueError, match="pagerduty needs a routing_key"):
        load_router_config({"receivers": [{"name": "pd", "kind": "pagerduty", "url": "http://x"}]})
    with pytest.raises(ValueError, match="group_wait"):
        load_router_config({**CONFIG, "group_wait": "soon"})
    with pytest.raises(ValueError, match="receivers.0.kind"):
        load_router_config({"receivers": [{"name": "x", "kind": "email"}]})


def test_default_routing_without_config():
    cfg = load_router_config({})
    assert [r.receiver for r in route(alert().labels, cfg)] == ["oncall"]
    assert [r.receiver for r in route(alert("ticket").labels, cfg)] == ["model-owners"]


def test_matchers_follow_alertmanager_semantics():
    assert m.parse('team!="x"').matches({})
    assert m.parse('team=""').matches({})
    assert not m.parse('region=~"e"').matches({"region": "eu"})  # anchored
    assert m.from_dict({"name": "a", "value": "b.*", "isRegex": True, "isEqual": False}).matches({"a": "c"})
    with pytest.raises(ValueError, match="matcher"):
        m.parse("nonsense")


def test_alertmanager_receivers_are_resent_every_group_interval():
    from slo.router.payloads import alertmanager_v2

    cfg = load_router_config({"receivers": [{"name": "am", "kind": "alertmanager", "url": "http://127.0.0.1:9"}],
                              "routes": {"receiver": "am"}, "group_wait": "0s", "group_interval": "5m"})
    d = Dispatcher(cfg)
    first = d.process([alert()], T0)
    again = d.process([alert()], T0 + 300 * S)  # unchanged, yet re-sent: Alertmanager would expire it
    assert len(first) == 1 and len(again) == 1
    body = alertmanager_v2(again[0])
    assert body[0]["endsAt"] == "2026-11-21T12:25:00Z"  # sent at 12:05, held 4 group intervals
    assert "endsAt" in body[0] and body[0]["labels"] == alert().labels


def test_alertmanager_resends_follow_the_wall_clock_when_event_time_stalls():
    # A replay that has ended: the watermark (event time) stops at T0 while the wall clock runs on.
    # Alertmanager expires an alert whose endsAt passes on its own clock, so a firing alert must
    # still be re-sent every group_interval of wall time; other receivers keep event time.
    cfg = load_router_config({
        "receivers": [{"name": "am", "kind": "alertmanager", "url": "http://127.0.0.1:9"},
                      {"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}],
        "routes": {"receiver": "am", "routes": [{"matchers": ['severity="page"'], "receiver": "am", "continue": True},
                                                {"matchers": ['severity="page"'], "receiver": "hook"}]},
        "group_wait": "0s", "group_interval": "5m", "repeat_interval": "4h"})
    d = Dispatcher(cfg)
    wall = T0 + timedelta(hours=6)
    assert sorted(n.receiver for n in d.process([alert()], T0, wall)) == ["am", "hook"]
    assert d.process([alert()], T0, wall + 299 * S) == []  # not yet a group_interval of wall time
    again = d.process([alert()], T0, wall + 300 * S)
    assert [n.receiver for n in again] == ["am"]  # the webhook waits for repeat_interval in event time
    assert again[0].at == T0  # the notification still says which event time it judged


def test_a_wall_clock_resend_keeps_the_event_time_flush_for_new_alerts():
    # The re-send that keeps an alert alive in Alertmanager follows the wall clock; it must not
    # push back the group's event-time flush, at which an alert that joined meanwhile goes out.
    cfg = load_router_config({"receivers": [{"name": "am", "kind": "alertmanager", "url": "http://127.0.0.1:9"}],
                              "routes": {"receiver": "am", "group_by": ["slo"]},
                              "group_wait": "0s", "group_interval": "5m"})
    d = Dispatcher(cfg)
    wall = T0 + timedelta(hours=6)
    assert len(d.process([alert(region="eu")], T0, wall)) == 1  # next event-time flush: T0 + 5m
    resent = d.process([], T0 + 60 * S, wall + 300 * S)  # a group_interval of wall time later
    assert [len(n.firing) for n in resent] == [1]
    d.ingest([alert(region="us")], T0 + 120 * S)  # joins the same group (group_by slo)
    due = d.process([], T0 + 300 * S, wall + 400 * S)
    assert [sorted(a.labels["region"] for a in n.firing) for n in due] == [["eu", "us"]]
