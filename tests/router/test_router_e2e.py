"""A live collector's SLO evaluator raises a burn-rate page; the router delivers it."""

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
sys.path.insert(0, str(Path(__file__).parent.parent))
from live_collector import running_collector  # noqa: E402
from polling import wait_for  # noqa: E402
from router_receivers import Receiver  # noqa: E402
from test_router_alertmanager import alertmanager  # noqa: E402,F401  (the real Alertmanager fixture)


def test_slo_page_is_routed_to_pagerduty_and_logged(tmp_path):
    with Receiver() as pd, Receiver() as chat:
        config = {
            "slos": [{"name": "final-latency", "sli": "latency", "threshold_ms": 2000, "objective": 0.99,
                      "window": "30d", "group_by": ["region"]}],
            "evaluator_interval_s": 1,
            "receivers": [
                {"name": "pd", "kind": "pagerduty", "url": pd.url + "/v2/enqueue", "routing_key": "KEY123"},
                {"name": "chat", "kind": "slack", "url": chat.url + "/hook"},
            ],
            "routes": {"receiver": "chat", "routes": [{"matchers": ['severity="page"'], "receiver": "pd"}]},
            "group_wait": "0s",
        }
        with running_collector(tmp_path, config) as live:
            now = datetime.now(timezone.utc)
            sessions = [{"session_id": f"s{i}", "ts": (now - timedelta(seconds=10 + i * 6)).isoformat(),
                         "model_version": "v1", "region": "eu", "status": "ok", "final_latency_ms": 5000.0}
                        for i in range(400)]
            with live.client("ingest") as c:
                assert c.post("/api/v1/sessions", json=sessions).json()["accepted"] == 400
            try:
                wait_for(lambda: pd.requests, timeout_s=60, what="the page delivered to PagerDuty")
            except AssertionError:
                raise AssertionError(live.log()) from None
            event = pd.requests[0]["json"]
            assert event["routing_key"] == "KEY123" and event["event_action"] == "trigger"
            assert event["payload"]["severity"] == "critical"
            assert event["payload"]["group"] == "eu" and event["payload"]["class"] == "final-latency"
            with live.client("read") as c:
                # The router logs the delivery, then records where each alert went: poll for both.
                log = wait_for(lambda: c.get("/api/v1/notifications", params={"receiver": "pd"}).json(),
                               what="the delivery logged")
                assert [(n["receiver"], n["kind"], n["status"], n["delivered"]) for n in log] == [
                    ("pd", "pagerduty", "firing", True)]
                assert [(a["severity"], a["labels"]["slo"], a["labels"]["region"]) for a in log[0]["alerts"]] == [
                    ("page", "final-latency", "eu")]

                def routed_pages():
                    body = c.get("/api/v1/alerts", params={"state": "firing"}).json()
                    # The one shape the API answers: {"at", "state", "alerts": [alert, ...]}, each
                    # alert with the fields DESIGN.md lists.
                    assert set(body) == {"at", "state", "alerts"} and body["state"] == "firing"
                    assert all({"fingerprint", "name", "severity", "labels", "starts_at", "summary", "runbook_url",
                                "routed_to"} <= set(a) for a in body["alerts"])
                    pages = [a for a in body["alerts"] if a["severity"] == "page"]
                    return pages if pages and all(a["routed_to"] for a in pages) else None

                pages = wait_for(routed_pages, what="the page's receivers recorded")
            assert "KEY123" not in live.log()
    # One page (region eu), sent only where the route says: pd, not the chat default.
    assert [(p["labels"]["region"], p["routed_to"]) for p in pages] == [("eu", ["pd"])]


@pytest.mark.parametrize("clock,behind", [("wall", timedelta(0)), ("watermark", timedelta(hours=5))])
def test_served_slo_page_is_active_in_real_alertmanager_in_both_clock_modes(tmp_path, alertmanager, clock, behind):
    """`asrwatch serve` judges a burning SLO at the wall clock or, in watermark mode, at the newest
    ingested event minute five hours back (a replay); Alertmanager must show the page as active and
    route it on to its own webhook receiver either way, with absolute runbook links; and once the
    outage ends, the page must resolve there and Alertmanager must notify the resolution."""
    am_url, hook = alertmanager
    config = {
        "slos": [{"name": "final-latency", "sli": "latency", "threshold_ms": 2000, "objective": 0.99,
                  "window": "30d", "group_by": ["region"]}],
        "evaluator_interval_s": 1, "evaluator_clock": clock, "external_url": "https://asrwatch.example.com",
        "receivers": [{"name": "am", "kind": "alertmanager", "url": am_url}],
        # A short group_interval so the resolution's flush comes within the test, not 5 minutes on.
        "routes": {"receiver": "am"}, "group_wait": "0s", "group_interval": "2s",
    }
    with running_collector(tmp_path, config) as live:
        end = datetime.now(timezone.utc) - behind
        sessions = [{"session_id": f"s{i}", "ts": (end - timedelta(seconds=10 + i * 6)).isoformat(),
                     "model_version": "v1", "region": "eu", "status": "ok", "final_latency_ms": 5000.0}
                    for i in range(400)]
        with live.client("ingest") as c:
            assert c.post("/api/v1/sessions", json=sessions).json()["accepted"] == 400

        def pages():
            shown = httpx.get(am_url + "/api/v2/alerts", params={"active": "true"}).json()
            return [a for a in shown if a["labels"].get("severity") == "page"]
        try:
            page = wait_for(pages, timeout_s=60, what="page active in Alertmanager")[0]
        except AssertionError:
            raise AssertionError(live.log()) from None
        assert page["labels"]["slo"] == "final-latency" and page["labels"]["region"] == "eu"
        event_start = datetime.fromisoformat(page["annotations"]["event_starts_at"].replace("Z", "+00:00"))
        assert abs(event_start - end) < timedelta(hours=1)  # event time, not the wall clock, in watermark mode
        assert page["annotations"]["runbook_url"].startswith("https://asrwatch.example.com/runbooks/")
        told = wait_for(lambda: [r["json"] for r in hook.requests if r["json"]["status"] == "firing"],
                        what="Alertmanager's webhook notified")[0]
        assert any(a["labels"].get("slo") == "final-latency" for a in told["alerts"])

        # The outage ends: fast sessions in the last minutes bring the bad share of the 5m window
        # under the 14.4x tier's 14.4% and of the 30m window under the 6x tier's 6%, so no page
        # tier holds (the 1h and 6h windows still burn: only a ticket may remain).
        healthy = [{"session_id": f"ok{i}", "ts": (end - timedelta(seconds=1 + i % 150)).isoformat(),
                    "model_version": "v1", "region": "eu", "status": "ok", "final_latency_ms": 300.0}
                   for i in range(6000)]
        with live.client("ingest") as c:
            assert c.post("/api/v1/sessions", json=healthy).json()["accepted"] == 6000

        def resolved_pages():
            # The ticket of the same SLO may still fire in the same Alertmanager group, whose
            # notification then says "firing" and lists the page among its alerts as resolved.
            return [a for r in hook.requests for a in r["json"]["alerts"]
                    if a["labels"].get("severity") == "page" and a["status"] == "resolved"]
        try:
            done = wait_for(resolved_pages, timeout_s=60, what="Alertmanager's webhook notified the resolution")[0]
        except AssertionError:
            raise AssertionError(live.log()) from None
        assert done["labels"]["slo"] == "final-latency" and done["labels"]["region"] == "eu"
        assert done["annotations"]["summary"].startswith("RESOLVED at ")
        event_end = datetime.fromisoformat(done["annotations"]["event_ends_at"].replace("Z", "+00:00"))
        assert abs(event_end - end) < timedelta(hours=1)  # event time again in watermark mode
        assert pages() == []  # no longer active in Alertmanager
