"""PagerDuty Events API v2 field limits (slo.router.payloads, `PD_*`): over-long text is cut with
a marker instead of being sent for PagerDuty to refuse with a 400, which the router does not
retry, so the page would be lost. Sizes are checked on the body httpx actually sends."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import httpx

from slo.alert import Alert
from slo.router.config import Receiver
from slo.router.delivery import request_for
from slo.router.dispatcher import Notification
from slo.router.payloads import (
    PD_DEDUP_KEY_MAX,
    PD_EVENT_MAX_BYTES,
    PD_FIELD_MAX,
    PD_SUMMARY_MAX,
    TRUNCATION_MARK,
    clip,
    pagerduty_v2,
)

T0 = datetime(2026, 11, 21, 4, 15, tzinfo=timezone.utc)
RECEIVER = Receiver(name="oncall", kind="pagerduty", url="https://events.pagerduty.example/v2/enqueue",
                    routing_key="0123456789abcdef0123456789abcdef")


def alert(summary: str = "availability burning 14.4x", severity: str = "page", **labels: str) -> Alert:
    return Alert(name="SLOErrorBudgetBurn", severity=severity,  # type: ignore[arg-type]
                 labels={"alertname": "SLOErrorBudgetBurn", "severity": severity, "slo": "availability",
                         "model_version": "v2", "region": "eu", **labels},
                 summary=summary, runbook_url="https://asrwatch.example.com/runbooks/slo-burn-availability",
                 starts_at=T0)


def note(*firing: Alert, resolved: tuple[Alert, ...] = (), group_key: str = "k",
         group_labels: dict[str, str] | None = None) -> Notification:
    return Notification("oncall", group_key, group_labels or {"alertname": "SLOErrorBudgetBurn"}, firing, resolved, T0)


def wire_bytes(body: dict) -> int:
    """The request body as the router's HTTP client encodes it."""
    return len(httpx.Request("POST", RECEIVER.url, json=body).content)


def test_clip_keeps_short_text_and_marks_what_it_cuts():
    assert clip("x" * 1024, 1024) == "x" * 1024
    cut = clip("é" * 5000, 1024)
    assert len(cut) == 1024 and cut.endswith(TRUNCATION_MARK) and cut.startswith("é" * 1000)


def test_an_over_long_summary_is_cut_to_1024_characters_with_a_marker():
    head = "model v2 in eu-west-1 is failing: "
    event = pagerduty_v2(note(alert(head + "z" * 5000)), RECEIVER.routing_key)
    summary = event["payload"]["summary"]
    assert len(summary) == PD_SUMMARY_MAX == 1024
    assert summary.startswith(head) and summary.endswith(TRUNCATION_MARK)
    # The alert's own summary in custom_details is held to the same limit.
    assert event["payload"]["custom_details"]["firing"][0]["summary"] == summary


def test_a_group_summary_with_its_count_is_cut_too():
    event = pagerduty_v2(note(alert("a" * 2000), alert("b", region="us")), RECEIVER.routing_key)
    summary = event["payload"]["summary"]
    assert summary.startswith("[2] aaa") and len(summary) == 1024 and summary.endswith(TRUNCATION_MARK)


def test_over_long_source_component_group_and_class_are_cut_short_ones_kept():
    long = "m" * 3000
    event = pagerduty_v2(note(alert(model_version=long, region="r" * 1500, slo="s" * 1100)), RECEIVER.routing_key,
                         source="h" * 2000)
    payload = event["payload"]
    for field in ("source", "component", "group", "class"):
        assert len(payload[field]) == PD_FIELD_MAX and payload[field].endswith(TRUNCATION_MARK), field
    assert payload["component"].startswith("m" * 100) and payload["class"].startswith("s" * 100)
    short = pagerduty_v2(note(alert()), RECEIVER.routing_key)["payload"]
    assert (short["source"], short["component"], short["group"], short["class"]) == ("asrwatch", "v2", "eu",
                                                                                   "availability")
    assert short["summary"] == "availability burning 14.4x"  # nothing cut, no marker


def test_the_dedup_key_of_any_group_key_is_within_255_and_resolve_matches_trigger():
    group_key = "{}:" + ",".join(f'label{i}="{"v" * 50}"' for i in range(400))  # ~24 KB
    assert len(group_key) > 20_000
    trigger = pagerduty_v2(note(alert(), group_key=group_key), RECEIVER.routing_key)
    resolve = pagerduty_v2(note(resolved=(alert().resolve(T0),), group_key=group_key), RECEIVER.routing_key)
    assert resolve["event_action"] == "resolve"
    assert 0 < len(trigger["dedup_key"]) <= PD_DEDUP_KEY_MAX == 255
    assert trigger["dedup_key"] == resolve["dedup_key"]  # the resolve still closes the incident
    other = pagerduty_v2(note(alert(), group_key=group_key + "x"), RECEIVER.routing_key)
    assert other["dedup_key"] != trigger["dedup_key"]  # no collision from cutting a shared prefix


def test_custom_details_keep_as_many_alerts_as_fit_in_512_kb_and_say_how_many_were_left_out():
    firing = [alert("s" * 900, model_version=f"v{i}", pod="p" * 200) for i in range(1500)]
    assert len(json.dumps([a.to_dict() for a in firing])) > 2 * PD_EVENT_MAX_BYTES
    url, body = request_for(note(*firing), RECEIVER, external_url="https://asrwatch.example.com")
    assert url == RECEIVER.url
    assert wire_bytes(body) <= PD_EVENT_MAX_BYTES
    details = body["payload"]["custom_details"]
    kept = details["firing"]
    assert 0 < len(kept) < len(firing)
    # The first alerts, whole, in order; the note counts the rest.
    assert [d["labels"]["model_version"] for d in kept] == [f"v{i}" for i in range(len(kept))]
    assert details["truncated"] == (f"{len(firing) - len(kept)} of {len(firing)} alerts left out: "
                                    "the event was over PagerDuty's 512 KB limit")
    assert details["group_labels"] == {"alertname": "SLOErrorBudgetBurn"}
    # As many as fit: one more alert would not.
    one_more = json.loads(json.dumps(body))
    one_more["payload"]["custom_details"]["firing"].append(
        {"alertname": firing[len(kept)].name, "labels": dict(firing[len(kept)].labels), "summary": "s" * 900})
    assert len(json.dumps(one_more).encode()) > PD_EVENT_MAX_BYTES
    assert body["payload"]["summary"].startswith("[1500] ")


def test_an_event_under_the_limit_is_left_whole():
    firing = [alert(f"burn {i}", model_version=f"v{i}") for i in range(50)]
    details = pagerduty_v2(note(*firing), RECEIVER.routing_key)["payload"]["custom_details"]
    assert len(details["firing"]) == 50 and "truncated" not in details


def test_group_labels_too_large_on_their_own_leave_only_the_note():
    group_labels = {f"k{i}": "v" * 10_000 for i in range(60)}  # 600 KB of group labels
    body = pagerduty_v2(note(alert(), alert(region="us"), group_labels=group_labels), RECEIVER.routing_key)
    assert wire_bytes(body) <= PD_EVENT_MAX_BYTES
    assert body["payload"]["custom_details"] == {
        "truncated": "custom details left out: the event was over PagerDuty's 512 KB limit (2 alerts)"}
    assert body["payload"]["summary"] == "[2] availability burning 14.4x"  # what pages is untouched
