import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from collector.store.database import make_engine, migrate
from slo.alert import Alert
from slo.router import store
from slo.router.config import load_router_config
from slo.router.payloads import pagerduty_dedup_key
from slo.router.service import AlertRouter

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
from router_receivers import Receiver  # noqa: E402

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
S = timedelta(seconds=1)


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/router.db")
    migrate(engine)
    yield engine
    engine.dispose()


def page(region="eu", version="whisper-large-v3"):
    labels = {"alertname": "SLOBurnRatePage", "severity": "page", "slo": "final-latency", "region": region,
              "model_version": version}
    return Alert(name="SLOBurnRatePage", severity="page", labels=labels,
                 summary=f"final-latency burning 14.4x in {region}", runbook_url="https://runbooks/slo-burn.md",
                 starts_at=T0)


def ticket(version="whisper-large-v3"):
    labels = {"alertname": "WERDrift", "severity": "ticket", "slo": "transcript-quality", "region": "eu",
              "model_version": version}
    return Alert(name="WERDrift", severity="ticket", labels=labels, summary="WER drifting on far_field",
                 runbook_url="https://runbooks/drift.md", starts_at=T0)


def config(pd_url, slack_url, **extra):
    return load_router_config({
        "receivers": [
            {"name": "pd", "kind": "pagerduty", "url": pd_url + "/v2/enqueue", "routing_key": "R0UTINGKEY",
             "backoff_s": 0.5, "max_attempts": 3},
            {"name": "chat", "kind": "slack", "url": slack_url + "/services/T/B/X", "backoff_s": 0.5,
             "max_attempts": 3},
            {"name": "speech-core", "kind": "ticket"},
        ],
        "routes": {"receiver": "chat", "group_by": ["alertname", "slo", "region"], "routes": [
            {"matchers": ['severity="page"'], "receiver": "pd", "continue": True},
            {"matchers": ['severity="page"'], "receiver": "chat"},
            {"matchers": ['severity="ticket"'], "receiver": "owner"},
        ]},
        "owners": {"whisper-large": {"team": "speech-core", "receiver": "speech-core"}},
        "group_wait": "0s", "group_interval": "1m", "repeat_interval": "4h",
        **extra,
    })


def test_pagerduty_and_slack_exact_payloads_trigger_and_resolve(engine):
    with Receiver() as pd, Receiver() as slack:
        router = AlertRouter(engine, config(pd.url, slack.url), sleep=lambda s: None)
        router.process([page()], T0)
        assert len(pd.requests) == 1 and len(slack.requests) == 1
        event = pd.requests[0]["json"]
        assert pd.requests[0]["path"] == "/v2/enqueue"
        group_key = "0.0:pd:alertname=SLOBurnRatePage,region=eu,slo=final-latency"
        assert event == {
            "routing_key": "R0UTINGKEY",
            "event_action": "trigger",
            "dedup_key": pagerduty_dedup_key(group_key),
            "payload": {
                "summary": "final-latency burning 14.4x in eu",
                "source": "asrwatch",
                "severity": "critical",
                "timestamp": "2026-11-21T12:00:00Z",
                "component": "whisper-large-v3",
                "group": "eu",
                "class": "final-latency",
                "custom_details": {
                    "firing": [{"alertname": "SLOBurnRatePage", "labels": page().labels,
                                "summary": "final-latency burning 14.4x in eu"}],
                    "group_labels": {"alertname": "SLOBurnRatePage", "region": "eu", "slo": "final-latency"},
                },
            },
            "links": [{"href": "https://runbooks/slo-burn.md", "text": "runbook: SLOBurnRatePage"}],
            "client": "asrwatch",
        }
        title = ":rotating_light: [FIRING:1] alertname=SLOBurnRatePage, region=eu, slo=final-latency"
        assert slack.requests[0]["path"] == "/services/T/B/X"
        assert slack.requests[0]["json"] == {
            "text": title,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
                {"type": "section", "text": {"type": "mrkdwn", "text":
                    "*SLOBurnRatePage* (page) final-latency burning 14.4x in eu <https://runbooks/slo-burn.md|runbook>"}},
            ],
        }

        router.process([page().resolve(T0 + 120 * S)], T0 + 120 * S)
        assert pd.requests[1]["json"] == {"routing_key": "R0UTINGKEY", "event_action": "resolve",
                                          "dedup_key": event["dedup_key"]}
        assert slack.requests[1]["json"]["text"].startswith(":white_check_mark: [RESOLVED:1]")
    log = store.list_notifications(engine, since=None, until=None, receiver="pd", limit=10)
    assert [(r["status"], r["delivered"]) for r in log] == [("resolved", True), ("firing", True)]
    assert all("R0UTINGKEY" not in str(r) for r in log)  # the routing key is a secret


def test_retry_with_backoff_then_success(engine):
    slept = []
    with Receiver(statuses=[503, 429]) as pd, Receiver() as slack:
        router = AlertRouter(engine, config(pd.url, slack.url), sleep=slept.append)
        deliveries = router.process([page()], T0)
    pd_delivery = [d for d in deliveries if d.notification.receiver == "pd"][0]
    assert pd_delivery.result.delivered and pd_delivery.result.attempts == 3
    assert slept == [0.5, 1.0]  # exponential backoff
    assert len(pd.requests) == 3
    # Identical bodies on retry: PagerDuty deduplicates on dedup_key.
    assert pd.requests[0]["json"] == pd.requests[2]["json"]


def test_undeliverable_receiver_raises_router_alert(engine):
    with Receiver(statuses=[500, 500, 500]) as pd, Receiver() as slack:
        router = AlertRouter(engine, config(pd.url, slack.url, fallback_receiver="chat"), sleep=lambda s: None)
        deliveries = router.process([page()], T0)
        assert not [d for d in deliveries if d.notification.receiver == "pd"][0].result.delivered
        router.tick(T0 + 1 * S)
        texts = [r["json"]["text"] for r in slack.requests]
        self_alerts = [r for r in slack.requests if "AlertRouterDeliveryFailing" in r["json"]["blocks"][1]["text"]["text"]]
        assert self_alerts, texts
        assert "cannot deliver to receiver pd" in self_alerts[0]["json"]["blocks"][1]["text"]["text"]
        assert len(pd.requests) == 3  # the router alert is not sent to the receiver that fails
    failed = store.list_notifications(engine, since=None, until=None, receiver="pd", limit=10)
    assert failed[0]["delivered"] is False and failed[0]["error"] == "HTTP 500" and failed[0]["attempts"] == 3


def test_tickets_opened_for_owning_team_and_closed_on_resolve(engine):
    with Receiver() as pd, Receiver() as slack:
        router = AlertRouter(engine, config(pd.url, slack.url), sleep=lambda s: None)
        router.process([ticket()], T0)
        opened = store.list_tickets(engine, status="open", team="speech-core", limit=10)
        assert len(opened) == 1 and opened[0]["receiver"] == "speech-core"
        assert "WER drifting on far_field" in opened[0]["title"]
        router.process([ticket()], T0 + 30 * S)  # dedup: no second ticket
        router.process([ticket().resolve(T0 + 90 * S)], T0 + 90 * S)
    tickets = store.list_tickets(engine, status=None, team=None, limit=10)
    assert len(tickets) == 1 and tickets[0]["status"] == "closed"
    assert tickets[0]["closed_at"] == (T0 + 90 * S).isoformat()
    assert pd.requests == [] and slack.requests == []


def test_silence_from_store_mutes_delivery(engine):
    from slo.router import matchers as m

    store.create_silence(engine, matchers=[m.parse('region="eu"')], starts_at=T0 - S, ends_at=T0 + 3600 * S,
                         created_by="alice", comment="planned failover", at=T0)
    with Receiver() as pd, Receiver() as slack:
        router = AlertRouter(engine, config(pd.url, slack.url), sleep=lambda s: None)
        router.process([page("eu"), page("us")], T0)
        assert [r["json"]["payload"]["group"] for r in pd.requests] == ["us"]


def test_connection_refused_is_retried_and_logged(engine):
    with httpx.Client() as client:
        cfg = config("http://127.0.0.1:9", "http://127.0.0.1:9")
        router = AlertRouter(engine, cfg, client=client, sleep=lambda s: None)
        router.process([page()], T0)
    log = store.list_notifications(engine, since=None, until=None, receiver=None, limit=10)
    assert log and all(not r["delivered"] and r["error"] == "ConnectError" and r["attempts"] == 3 for r in log)


def test_sync_resolves_alerts_that_vanished_from_the_source(engine):
    with Receiver() as pd, Receiver() as slack:
        router = AlertRouter(engine, config(pd.url, slack.url), sleep=lambda s: None)
        router.sync("slo", [page("eu"), page("us")], T0)
        assert [r["json"]["event_action"] for r in pd.requests] == ["trigger", "trigger"]
        # The pass in which "us" stopped firing ran on another replica: we only see it gone.
        router.sync("slo", [page("eu")], T0 + 120 * S)
        assert [r["json"]["event_action"] for r in pd.requests[2:]] == ["resolve"]
        assert router.sync("drift", [], T0 + 240 * S) == []  # another source leaves SLO alerts alone
        assert len(pd.requests) == 3


def test_alertmanager_receives_wall_clock_times_and_keeps_them_across_a_stalled_replay(engine):
    # The Receiver only records what the router posts; what Alertmanager does with it is tested
    # against the real binary in test_router_alertmanager.py.
    wall = [T0 + timedelta(hours=6)]
    cfg = load_router_config({"receivers": [{"name": "am", "kind": "alertmanager", "url": "http://x"}],
                              "routes": {"receiver": "am"}, "group_wait": "0s", "group_interval": "5m"})
    with Receiver() as am:
        cfg.receivers[0].url = am.url
        router = AlertRouter(engine, cfg, wall_clock=lambda: wall[0], external_url="https://asrwatch.example.com")
        at = T0 + 600 * S  # the watermark: event time six hours behind the wall clock
        router.process([page()], at)
        wall[0] += 300 * S  # the replay ended: event time stays, the wall clock runs on
        router.process([page()], at)
        router.process([page().resolve(at + 300 * S)], at + 300 * S)  # events again: it stopped burning
    sent = [r["json"][0] for r in am.requests]
    assert [r["path"] for r in am.requests] == ["/api/v2/alerts"] * 3
    assert [(s["startsAt"], s["endsAt"]) for s in sent] == [
        ("2026-11-21T17:50:00Z", "2026-11-21T18:20:00Z"),  # started 10 event-minutes ago, held 4 intervals
        ("2026-11-21T17:50:00Z", "2026-11-21T18:25:00Z"),  # re-sent on the wall clock, same episode start
        ("2026-11-21T17:50:00Z", "2026-11-21T18:04:00Z"),  # resolved: a minute before wall now (clock skew)
    ]
    assert {s["annotations"]["event_starts_at"] for s in sent} == {"2026-11-21T12:00:00Z"}
    assert sent[2]["annotations"]["event_ends_at"] == "2026-11-21T12:15:00Z"
    assert sent[0]["generatorURL"] == "https://runbooks/slo-burn.md"
    assert router._wall_starts == {}  # the episode is over: a new one gets a new startsAt


def test_a_resolution_sent_at_a_later_flush_keeps_the_episodes_first_startsAt(engine):
    # group_interval 5m: the alert stops firing a minute after it was sent, and the resolution
    # waits for the group's next flush. Alertmanager must see the startsAt it was first sent
    # with (one episode), not one recomputed from the event time at that later flush.
    wall = [T0 + timedelta(hours=6)]
    cfg = load_router_config({"receivers": [{"name": "am", "kind": "alertmanager", "url": "http://x"}],
                              "routes": {"receiver": "am"}, "group_wait": "0s", "group_interval": "5m"})
    with Receiver() as am:
        cfg.receivers[0].url = am.url
        router = AlertRouter(engine, cfg, wall_clock=lambda: wall[0])
        at = T0 + 600 * S
        router.process([page()], at)
        wall[0] += 60 * S
        assert router.process([page().resolve(at + 60 * S)], at + 60 * S) == []  # not yet due
        assert page().fingerprint in router._wall_starts  # remembered while the resolution waits
        wall[0] += 240 * S
        router.tick(at + 300 * S)
    sent = [r["json"][0] for r in am.requests]
    assert [s["annotations"]["summary"].startswith("RESOLVED") for s in sent] == [False, True]
    assert sent[1]["startsAt"] == sent[0]["startsAt"] == "2026-11-21T17:50:00Z"
    assert router._wall_starts == {}  # told: the episode is over
