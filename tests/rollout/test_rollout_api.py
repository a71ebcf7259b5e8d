"""End to end over HTTP: a live collector ingests canary and baseline traffic with labeled
samples; the rollout API judges it, gates Flagger, and the evaluator rolls back once."""

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
sys.path.insert(0, str(Path(__file__).parent.parent))
from live_collector import running_collector  # noqa: E402
from rollout_synthetic import traffic  # noqa: E402

WORDS = ["apple", "river", "stone", "cloud", "green", "house", "music", "paper", "table", "window",
         "garden", "silver", "yellow", "orange", "purple", "forest", "bridge", "candle", "rocket", "pencil"]
T = (datetime.now(timezone.utc) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


def _records(utts, start):
    sessions, samples = [], []
    for i, u in enumerate(utts):
        sid = f"{u.model_version}-{i}"
        ref = [WORDS[(i + j) % len(WORDS)] for j in range(u.words)]
        hyp = ["zebra"] * u.errors + ref[u.errors:]
        sessions.append({"session_id": sid, "ts": (start + timedelta(seconds=i * 3)).isoformat(),
                         "model_version": u.model_version, "region": u.region, "channel": u.channel,
                         "status": u.status, "final_latency_ms": u.latency_ms, "gpu_seconds": u.gpu_seconds,
                         "hypothesis": " ".join(hyp)})
        if u.status == "ok":
            samples.append({"session_id": sid, "reference": " ".join(ref), "source": "human"})
    return sessions, samples


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rollout-api")
    routes = tmp / "routes.json"
    routes.write_text(json.dumps({"routes": {"v1": {"weight": 0.8}, "v2": {"weight": 0.1}, "v3": {"weight": 0.1}}}))
    # A long evaluator interval: the background pass runs once at startup, before any rollout
    # exists, so the explicit /evaluate call below is the one that acts.
    with running_collector(tmp, {"traffic_router_file": str(routes), "evaluator_interval_s": 3600}) as live:
        with live.client("ingest") as c:
            for utts in (traffic("v1", 900, seed=1), traffic("v2", 900, wer_scale={"far_field": 2.0}, seed=2),
                         traffic("v3", 900, seed=3)):
                sessions, samples = _records(utts, T)
                r = c.post("/api/v1/sessions", json=sessions)
                assert r.status_code == 200 and r.json()["accepted"] == len(sessions), r.text
                r = c.post("/api/v1/samples", json=samples)
                assert r.status_code == 200 and not r.json()["rejected"], r.text[:500]
        live.extra["routes"] = routes
        yield live


def _register(c, name, canary):
    body = {"name": name, "baseline_version": "v1", "canary_version": canary, "slice_by": ["channel", "region"],
            "protected_slices": [{"channel": "far_field"}], "min_utterances": 100,
            "since": (T - timedelta(minutes=5)).isoformat()}
    return c.post("/api/v1/rollouts", json=body)


def test_register_verdict_flagger_and_rollback(collector):
    at = (T + timedelta(hours=2)).isoformat()
    with collector.client("read") as reader:
        assert _register(reader, "nope", "v2").status_code == 403  # registration needs admin
    with collector.client("admin") as c:
        assert _register(c, "bad", "v2").status_code == 201
        assert _register(c, "bad", "v2").status_code == 200  # same spec again: no-op
        assert _register(c, "good", "v3").status_code == 201
        bad = c.get("/api/v1/rollouts/bad/verdict", params={"at": at}).json()
        assert bad["decision"] == "rollback", bad["reasons"]
        assert any("far_field" in r and "WER regression" in r for r in bad["reasons"])
        assert bad["metrics"]["canary"]["utterances"] > 500
        good = c.get("/api/v1/rollouts/good/verdict", params={"at": at}).json()
        assert good["decision"] == "continue", good["reasons"]

        gate = {"name": "asr", "namespace": "speech", "phase": "Progressing", "type": "rollout",
                "metadata": {"at": at}}
        assert c.post("/api/v1/flagger/bad", json=gate).status_code == 412
        ok = c.post("/api/v1/flagger/good", json=gate)
        assert ok.status_code == 200 and ok.json()["flagger"]["namespace"] == "speech"
        assert c.post("/api/v1/flagger/missing", json=gate).status_code == 404
        # Judged before any traffic arrived: too little data is pause, never continue.
        early = c.get("/api/v1/rollouts/good/verdict", params={"at": T.isoformat()}).json()
        assert early["decision"] == "pause" and early["reasons"][0].startswith("insufficient data: canary 0,")

        acted = c.post("/api/v1/rollouts/bad/evaluate", params={"at": at}).json()
        assert acted["decision"] == "rollback" and [a["ok"] for a in acted["actions"]] == [True]
        again = c.post("/api/v1/rollouts/bad/evaluate", params={"at": at}).json()
        assert again["actions"] == []
        state = c.get("/api/v1/rollouts/bad").json()
        assert state["state"] == "rolled_back" and state["actions"][0]["actor"] == "api:admin"
        listed = {r["name"]: r["state"] for r in c.get("/api/v1/rollouts").json()}
        assert listed == {"bad": "rolled_back", "good": "active"}
    routes = json.loads(collector.extra["routes"].read_text())
    assert routes["routes"]["v2"]["weight"] == 0.0 and routes["routes"]["v1"]["weight"] == pytest.approx(0.9)
    assert routes["routes"]["v3"]["weight"] == 0.1


def test_register_validation_names_the_field(collector):
    with collector.client("admin") as c:
        r = c.post("/api/v1/rollouts", json={"name": "x", "baseline_version": "v1", "canary_version": "v2",
                                             "slice_by": ["channel"], "protected_slices": [{"region": "eu"}]})
        assert r.status_code == 422 and "protected_slices[0]" in r.text
        assert c.get("/api/v1/rollouts/unknown").status_code == 404


def _page(region: str, at: datetime):
    from slo.alert import Alert

    labels = {"alertname": "SLOErrorBudgetBurn", "slo": "final-latency", "severity": "page", "region": region}
    return Alert(name="SLOErrorBudgetBurn", severity="page", labels=labels, summary=f"final-latency burning in {region}",
                 runbook_url="/runbooks/slo-burn", starts_at=at)


def test_silences_tickets_and_notifications_api(collector):
    from collector.store.database import make_engine
    from slo.router.service import AlertRouter

    with collector.client("admin") as c:
        body = {"matchers": ['region="eu"', {"name": "slo", "value": "final-.*", "isRegex": True}],
                "duration": "2h", "comment": "planned failover", "createdBy": "alice"}
        created = c.post("/api/v1/silences", json=body)
        assert created.status_code == 201, created.text
        silence = created.json()
        sid = silence["id"]
        assert silence["matchers"] == [{"name": "region", "value": "eu", "isRegex": False, "isEqual": True},
                                       {"name": "slo", "value": "final-.*", "isRegex": True, "isEqual": True}]
        starts, ends = datetime.fromisoformat(silence["startsAt"]), datetime.fromisoformat(silence["endsAt"])
        assert ends - starts == timedelta(hours=2)
        assert (silence["createdBy"], silence["comment"], silence["status"]) == (
            "alice", "planned failover", {"state": "active"})
        assert c.get("/api/v1/silences", params={"state": "active"}).json() == [silence]  # stored as answered

        # The collector's router state lives in its database: a router on the same database (the
        # evaluator's, fed here directly) mutes by the stored silence and files what it routes.
        engine = make_engine(collector.database_url)
        router = AlertRouter.from_settings(engine, {})  # default routing: pages to the oncall queue
        try:
            at = datetime.now(timezone.utc)
            eu, us = _page("eu", at), _page("us", at)
            assert router.process([eu, us], at) == []  # group_wait first
            [delivery] = router.tick(at + timedelta(seconds=30))
            assert [a.labels["region"] for a in delivery.notification.alerts] == ["us"]  # eu is silenced

            tickets = c.get("/api/v1/tickets").json()
            assert [(t["receiver"], t["status"], t["labels"], t["alerts"]) for t in tickets] == [
                ("oncall", "open", us.labels, [us.fingerprint])]
            assert tickets[0]["title"] == "SLOErrorBudgetBurn: final-latency burning in us"
            assert tickets[0]["body"] == "- SLOErrorBudgetBurn [page] final-latency burning in us (runbook: /runbooks/slo-burn)"
            notes = c.get("/api/v1/notifications").json()
            assert [(n["receiver"], n["kind"], n["status"], n["delivered"], n["group_key"]) for n in notes] == [
                ("oncall", "ticket", "firing", True, tickets[0]["group_key"])]
            assert notes[0]["alerts"] == [{"fingerprint": us.fingerprint, "alertname": "SLOErrorBudgetBurn",
                                           "severity": "page", "status": "firing", "labels": us.labels}]

            expired = c.delete(f"/api/v1/silences/{sid}").json()
            assert expired["id"] == sid and expired["status"]["state"] == "expired"
            assert c.get("/api/v1/silences", params={"state": "active"}).json() == []
            assert [s["status"]["state"] for s in c.get("/api/v1/silences").json()] == ["expired"]
            # Unmuted, eu joins the group's next notification and the open ticket.
            [delivery] = router.tick(at + timedelta(minutes=6))
            assert sorted(a.labels["region"] for a in delivery.notification.alerts) == ["eu", "us"]
            (ticket,) = c.get("/api/v1/tickets", params={"status": "open"}).json()
            assert ticket["id"] == tickets[0]["id"] and set(ticket["alerts"]) == {eu.fingerprint, us.fingerprint}
            assert "final-latency burning in eu" in ticket["body"]
            notes = c.get("/api/v1/notifications", params={"receiver": "oncall"}).json()
            assert [sorted(a["labels"]["region"] for a in n["alerts"]) for n in notes] == [["eu", "us"], ["us"]]
        finally:
            router.close()
            engine.dispose()

        bad = c.post("/api/v1/silences", json={**body, "matchers": ["region~eu"]})
        assert bad.status_code == 422 and "matcher" in bad.text
    with collector.client("read") as reader:
        assert reader.post("/api/v1/silences", json=body).status_code == 403
        assert [t["id"] for t in reader.get("/api/v1/tickets").json()] == [ticket["id"]]  # reading needs read only


def test_background_evaluator_rolls_back_on_privacy_error(tmp_path):
    import time

    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({"routes": {"v1": {"weight": 0.95}, "v9": {"weight": 0.05}}}))
    with running_collector(tmp_path, {"traffic_router_file": str(routes), "evaluator_interval_s": 0.5}) as live:
        now = datetime.now(timezone.utc)
        sessions = [{"session_id": f"p{i}", "ts": (now - timedelta(minutes=5, seconds=i)).isoformat(),
                     "model_version": "v9" if i % 2 else "v1", "channel": "web", "status": "ok",
                     "final_latency_ms": 500.0, "attributes": {"privacy_error": i == 3}} for i in range(40)]
        with live.client("admin") as c:
            assert c.post("/api/v1/sessions", json=sessions).json()["accepted"] == 40
            r = c.post("/api/v1/rollouts", json={"name": "leaky", "baseline_version": "v1", "canary_version": "v9",
                                                 "slice_by": ["channel"], "lookback": "1h"})
            assert r.status_code == 201
            deadline = time.monotonic() + 60
            state = c.get("/api/v1/rollouts/leaky").json()
            while time.monotonic() < deadline and not (state["state"] == "rolled_back" and state["actions"]
                                                       and state["actions"][0]["detail"] != "pending"
                                                       and not state["actions"][0]["detail"].startswith("in progress")):
                time.sleep(0.25)
                state = c.get("/api/v1/rollouts/leaky").json()
        assert state["state"] == "rolled_back", live.log()
        assert state["actions"][0]["actor"] == "rollout-evaluator"
        assert state["last_verdict"]["reasons"][0] == "privacy: 1 privacy error(s) on the canary"
    data = json.loads(routes.read_text())
    assert data["routes"]["v9"]["weight"] == 0.0 and data["updated_by"] == "rollout-evaluator"


def test_manual_rollback_needs_admin_runs_actuators_once_and_is_audited(collector):
    with collector.client("admin") as c:
        assert _register(c, "manual", "v3").status_code == 201
    with collector.client("read") as reader:
        assert reader.post("/api/v1/rollouts/manual/rollback", json={"reason": "x"}).status_code == 403
    with collector.client("admin") as c:
        assert c.post("/api/v1/rollouts/manual/rollback", json={}).status_code == 422  # reason is required
        assert c.post("/api/v1/rollouts/ghost/rollback", json={"reason": "x"}).status_code == 404
        done = c.post("/api/v1/rollouts/manual/rollback", json={"reason": "customer escalation"})
        assert done.status_code == 200 and [a["ok"] for a in done.json()["actions"]] == [True]
        assert c.post("/api/v1/rollouts/manual/rollback", json={"reason": "again"}).status_code == 409
        audit = c.get("/api/v1/audit", params={"action": "rollout.rollback"}).json()
    entry = next(e for e in audit if e["target"] == "manual")
    assert entry["actor"] == "api:admin" and "customer escalation" in entry["reason"]
    assert json.loads(collector.extra["routes"].read_text())["routes"]["v3"]["weight"] == 0.0
