"""Payload text and links: absolute links on external_url, Slack escaping, what RESOLVED says,
and Alertmanager's wall-clock startsAt/endsAt with event times in annotations."""

import logging
from datetime import datetime, timedelta, timezone

import pytest

from asrwatch.settings import Settings
from slo.alert import Alert
from slo.router.config import load_router_config
from slo.router.dispatcher import Notification
from slo.router.payloads import alertmanager_v2, pagerduty_v2, slack, ticket_fields, webhook_v4
from slo.router.service import AlertRouter

T0 = datetime(2026, 11, 21, 4, 15, tzinfo=timezone.utc)
EXT = "https://asrwatch.example.com"
LABELS = {"alertname": "SLOErrorBudgetBurn", "severity": "page", "slo": "availability", "model_version": "v2"}


def burn(summary="availability burning 14.4x", runbook="/runbooks/slo-burn-availability", **labels):
    return Alert(name="SLOErrorBudgetBurn", severity="page", labels={**LABELS, **labels}, summary=summary,
                 runbook_url=runbook, starts_at=T0)


def note(*alerts, resolved=(), at=T0):
    return Notification("r", "k", {"alertname": "SLOErrorBudgetBurn"}, tuple(alerts), tuple(resolved), at)


def test_every_external_payload_links_absolutely_on_external_url():
    n = note(burn())
    want = f"{EXT}/runbooks/slo-burn-availability"
    hook = webhook_v4(n, external_url=EXT)
    assert hook["alerts"][0]["generatorURL"] == want
    assert hook["alerts"][0]["annotations"]["runbook_url"] == want
    assert hook["externalURL"] == EXT
    am = alertmanager_v2(n, external_url=EXT)[0]
    assert am["generatorURL"] == want and am["annotations"]["runbook_url"] == want
    assert pagerduty_v2(n, "KEY", external_url=EXT)["links"] == [{"href": want, "text": "runbook: SLOErrorBudgetBurn"}]
    assert f"<{want}|runbook>" in slack(n, external_url=EXT)["blocks"][1]["text"]["text"]
    assert f"(runbook: {want})" in ticket_fields(n, external_url=EXT)["body"]


def test_without_external_url_relative_links_are_not_sent_as_clickable():
    n = note(burn())
    assert pagerduty_v2(n, "KEY")["links"] == []  # PagerDuty cannot open /runbooks/...
    assert alertmanager_v2(n)[0]["generatorURL"] == ""  # Alertmanager's generatorURL is a uri
    text = slack(n)["blocks"][1]["text"]["text"]
    assert "<" not in text and text.endswith("runbook: /runbooks/slo-burn-availability")


def test_slack_escapes_alert_text_but_keeps_its_own_link():
    hostile = burn(summary="p99 > 2s & <!channel> <https://evil.example|click>", region="eu<&>")
    body = slack(note(hostile), external_url=EXT)
    line = body["blocks"][1]["text"]["text"]
    assert "p99 &gt; 2s &amp; &lt;!channel&gt; &lt;https://evil.example|click&gt;" in line
    assert "<!channel>" not in line and "<https://evil.example" not in line
    assert line.endswith(f"<{EXT}/runbooks/slo-burn-availability|runbook>")
    grouped = Notification("r", "k", {"region": "eu<&>"}, (hostile,), (), T0)
    assert "region=eu&lt;&amp;&gt;" in slack(grouped)["text"]
    odd = burn(runbook="https://rb.example/a?b=1&c=<2>|x")
    assert "<https://rb.example/a?b=1&amp;c=%3C2%3E%7Cx|runbook>" in slack(note(odd))["blocks"][1]["text"]["text"]


def test_resolved_notifications_say_what_resolved_and_when_not_the_firing_summary():
    done = burn().resolve(T0 + timedelta(hours=1, minutes=26))
    n = note(resolved=(done,), at=T0 + timedelta(hours=1, minutes=26))
    expected = ("RESOLVED at 2026-11-21 05:41 UTC (firing since 2026-11-21 04:15 UTC, 1h26m): "
                "SLOErrorBudgetBurn (slo=availability, model_version=v2)")
    line = slack(n)["blocks"][1]["text"]["text"]
    assert line.startswith(expected) and "burning 14.4x" not in line
    assert slack(n)["text"].startswith(":white_check_mark: [RESOLVED:1]")
    ticket = ticket_fields(n)
    assert expected in ticket["body"] and "burning" not in ticket["body"]
    annotations = webhook_v4(n)["alerts"][0]["annotations"]
    assert annotations["summary"] == expected
    assert annotations["last_firing_summary"] == "availability burning 14.4x"  # labelled as the past
    assert annotations["event_starts_at"] == "2026-11-21T04:15:00Z"
    assert annotations["event_ends_at"] == "2026-11-21T05:41:00Z"
    assert pagerduty_v2(n, "KEY")["event_action"] == "resolve"


def test_alertmanager_times_are_wall_clock_and_event_times_are_annotations():
    wall = T0 + timedelta(hours=6)  # a replay judged at event time T0 + 10m, six hours behind
    at = T0 + timedelta(minutes=10)
    firing = alertmanager_v2(note(burn(), at=at), wall_now=wall)[0]
    assert firing["startsAt"] == "2026-11-21T10:05:00Z"  # its 10 minutes of event-time age, on the wall clock
    assert firing["endsAt"] == "2026-11-21T10:35:00Z"  # wall now + 4 group intervals: active there
    assert firing["annotations"]["event_starts_at"] == "2026-11-21T04:15:00Z"
    first_sent = {burn().fingerprint: wall - timedelta(minutes=5)}
    done = burn().resolve(at)
    resolved = alertmanager_v2(note(resolved=(done,), at=at), wall_now=wall, wall_starts=first_sent)[0]
    assert resolved["startsAt"] == "2026-11-21T10:10:00Z"  # as first sent: one episode in Alertmanager
    # A minute before wall now: past on Alertmanager's clock even if it lags ours by up to a minute.
    assert resolved["endsAt"] == "2026-11-21T10:14:00Z"
    assert resolved["annotations"]["event_ends_at"] == "2026-11-21T04:25:00Z"
    assert resolved["annotations"]["summary"].startswith("RESOLVED at 2026-11-21 04:25 UTC")
    ahead = alertmanager_v2(note(burn(), at=wall + timedelta(hours=1)), wall_now=wall)[0]
    assert ahead["startsAt"] <= ahead["endsAt"]  # event time ahead of the wall: still a valid interval


def test_alertmanager_resolution_ends_a_margin_before_now_but_never_before_it_started():
    wall = T0 + timedelta(hours=1)  # 05:15
    done = burn().resolve(T0 + timedelta(minutes=30))
    for first_sent, ends in [(wall - timedelta(minutes=20), "2026-11-21T05:14:00Z"),  # a minute before now
                             # types.go Validate refuses endsAt before startsAt: a younger episode ends as it starts
                             (wall - timedelta(seconds=10), "2026-11-21T05:14:50Z")]:
        body = alertmanager_v2(note(resolved=(done,), at=wall), wall_now=wall,
                               wall_starts={burn().fingerprint: first_sent})[0]
        assert (body["startsAt"], body["endsAt"]) == (first_sent.isoformat().replace("+00:00", "Z"), ends)


def _settings(**extra):
    return Settings(database_url="sqlite://", receivers=[
        {"name": "chat", "kind": "slack", "url": "https://hooks.slack.example/T/B/X"},
        {"name": "am", "kind": "alertmanager", "url": "http://alertmanager:9093"},
        {"name": "queue", "kind": "ticket"}], routes={"receiver": "queue"}, **extra)


def test_startup_warns_once_naming_receivers_that_would_get_relative_links(tmp_path, caplog):
    from collector.store.database import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/r.db")
    with caplog.at_level(logging.WARNING, logger="asrwatch.router"):
        router = AlertRouter.from_settings(engine, _settings())
    warnings = [r.getMessage() for r in caplog.records if r.name == "asrwatch.router"]
    assert len(warnings) == 1 and "chat, am" in warnings[0] and "`external_url`" in warnings[0]
    assert "queue" not in warnings[0]  # a stored ticket is read in the console, next to the runbooks
    router.close()
    # An absolute runbook_base_url is not enough: drift findings, the router's own alert and an
    # SLO's relative runbook_url still link /runbooks/... (issue #16 changed this: it warned no more).
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="asrwatch.router"):
        router = AlertRouter.from_settings(engine, _settings(runbook_base_url="https://rb.example/runbooks"))
    assert ["chat, am" in r.getMessage() for r in caplog.records if r.name == "asrwatch.router"] == [True]
    router.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="asrwatch.router"):
        router = AlertRouter.from_settings(engine, _settings(external_url=EXT))
    assert [r for r in caplog.records if r.name == "asrwatch.router"] == []
    router.close()
    router = AlertRouter.from_settings(engine, _settings(external_url=EXT + "/"))
    assert router.external_url == EXT  # taken from the settings, normalized there
    router.close()
    engine.dispose()


def test_router_config_is_still_validated():
    with pytest.raises(ValueError, match="routes.receiver"):
        load_router_config({"receivers": [], "routes": {"receiver": "nobody"}})
