"""Maintenance windows end to end over the collector's HTTP API, on SQLite and PostgreSQL: a burst
of failures inside a window (one in the minute tail, created through `POST /api/v1/maintenance`,
and one six days back in hours already compacted to `rollups_hourly`, from the config)
leaves `/api/v1/slos` untouched and pages nobody, while the same burst in a region the window
does not cover pages. The admin API: tokens (401/403), 422 naming the field, 409 for a config
window, the audit log, `applies_to`, listing both sources and the annotations markers."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from asrwatch.server import create_app
from asrwatch.settings import Settings
from collector.store.compaction import compact
from collector.store.database import make_engine, migrate
from collector.store.ingest import store_sessions
from collector.store.schemas import SessionIn

T = datetime(2026, 11, 20, 14, 30, tzinfo=timezone.utc)
TOKENS = {"ingest": "ingest-tok", "read": "read-tok", "admin": "admin-tok"}
SLOS = [{"name": "avail", "sli": "availability", "objective": 0.99, "window": "30d", "group_by": ["region"]},
        {"name": "avail-us", "sli": "availability", "objective": 0.99, "window": "30d", "filters": {"region": "us"}}]
OLD = T - timedelta(days=6, hours=3, minutes=20)  # in the hourly rollups once compacted
CONFIG_WINDOW = {"name": "old-upgrade", "reason": "database upgrade", "starts_at": OLD.isoformat(),
                 "ends_at": (OLD + timedelta(minutes=90)).isoformat(), "labels": {"region": "eu"}}


def _session(sid: str, ts: datetime, region: str, status: str) -> SessionIn:
    return SessionIn.model_validate({"session_id": sid, "ts": ts.isoformat(), "model_version": "v1",
                                     "region": region, "status": status, "final_latency_ms": 400})


@pytest.fixture
def client(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    rng = random.Random(1)
    sessions = [_session(f"ok{k}", T - timedelta(days=8) + timedelta(minutes=3 * k), rng.choice(["eu", "us"]), "ok")
                for k in range(8 * 480)]
    # The same failures in both regions, 40 to 20 minutes before T; and an old burst in eu only.
    for region in ("eu", "us"):
        sessions += [_session(f"{region}-bad{k}", T - timedelta(minutes=40) + timedelta(seconds=6 * k), region,
                              "timeout") for k in range(200)]
    sessions += [_session(f"old-bad{k}", OLD + timedelta(minutes=5) + timedelta(seconds=20 * k), "eu", "timeout")
                 for k in range(200)]
    store_sessions(engine, sessions, T)
    compact(engine, T - timedelta(days=1))
    engine.dispose()
    settings = Settings(database_url=database_url, slos=SLOS, slo_min_events=3, evaluator_enabled=False,
                        auth={scope: [token] for scope, token in TOKENS.items()},
                        maintenance_windows=[CONFIG_WINDOW])
    with TestClient(create_app(settings, run_background=False)) as c:
        yield c


def _as(scope: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[scope]}"} if scope else {}


def _groups(client, at: datetime = T) -> dict[str, dict]:
    r = client.get("/api/v1/slos", params={"at": at.isoformat()}, headers=_as("read"))
    assert r.status_code == 200, r.text
    return {f"{s['name']}/{g['group'].get('region', '')}": g for s in r.json()["slos"] for g in s["groups"]}


def _pages(group: dict) -> list[dict]:
    return [a for a in group["alerts"] if a["severity"] == "page"]


def test_a_burst_inside_a_window_spends_no_budget_and_pages_nobody(client):
    before = _groups(client)
    assert _pages(before["avail/eu"]) and _pages(before["avail/us"])  # without the window both page
    assert before["avail/eu"]["error_budget_remaining"] < 0  # the old burst and the new one
    body = {"name": "eu failover", "reason": "moving eu to the new cluster",
            "starts_at": (T - timedelta(minutes=45)).isoformat(), "ends_at": (T + timedelta(hours=1)).isoformat(),
            "labels": {"region": "eu"}}
    r = client.post("/api/v1/maintenance", json=body, headers=_as("admin"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["source"] == "api" and created["applies_to"] == ["avail"]
    assert "avail-us" in created["not_applied"]  # pinned to us by its filters: not eu traffic

    slos = {s["name"]: s for s in client.get("/api/v1/slos", params={"at": T.isoformat()},
                                             headers=_as("read")).json()["slos"]}
    assert sorted((m["id"], m["active"]) for m in slos["avail"]["maintenance"]) == sorted(
        [("config:old-upgrade", False), (created["id"], True)])
    assert slos["avail-us"]["maintenance"] == []
    after = _groups(client)
    eu, us = after["avail/eu"], after["avail/us"]
    # eu: every failure lay in a window (the config's, hours compacted, and the API's): all good left.
    assert eu["error_budget_remaining"] == 1.0 and eu["good"] == eu["events"] and not eu["alerts"]
    assert all(rate in (0.0, None) for rate in eu["burn_rates"].values())
    assert _pages(us) and us["error_budget_remaining"] < 0 and us == before["avail/us"]
    assert after["avail-us/"]["error_budget_remaining"] == before["avail-us/"]["error_budget_remaining"] < 0
    alerts = client.get("/api/v1/alerts", params={"at": T.isoformat()}, headers=_as("read")).json()["alerts"]
    assert {a["labels"].get("region") for a in alerts if a["severity"] == "page" and a["labels"]["slo"] == "avail"} \
        == {"us"}

    # The series (burn-down) agrees at T.
    r = client.get("/api/v1/slos/avail/series", params={"group": "region=eu", "since": (T - timedelta(hours=1)).isoformat(),
                                                        "until": T.isoformat(), "step": "30m"}, headers=_as("read"))
    assert r.status_code == 200, r.text
    assert r.json()["groups"][0]["points"][-1]["error_budget_remaining"] == 1.0


def test_the_admin_api_checks_tokens_fields_and_audits(client):
    body = {"name": "probe maintenance", "starts_at": (T - timedelta(minutes=10)).isoformat(),
            "ends_at": (T + timedelta(minutes=50)).isoformat(), "slos": ["avail"]}
    assert client.post("/api/v1/maintenance", json=body).status_code == 401
    assert client.post("/api/v1/maintenance", json=body, headers=_as("read")).status_code == 403
    bad = client.post("/api/v1/maintenance", json={**body, "ends_at": body["starts_at"]}, headers=_as("admin"))
    assert bad.status_code == 422 and "ends_at" in bad.text and "after starts_at" in bad.text
    typo = client.post("/api/v1/maintenance", json={**body, "lables": {}}, headers=_as("admin"))
    assert typo.status_code == 422 and "lables" in typo.text
    unknown = client.post("/api/v1/maintenance", json={**body, "slos": ["nope"]}, headers=_as("admin"))
    assert unknown.status_code == 422 and "slos: unknown SLO 'nope'" in unknown.text
    dim = client.post("/api/v1/maintenance", json={**body, "labels": {"regio": "eu"}}, headers=_as("admin"))
    assert dim.status_code == 422 and "regio" in dim.text
    assert client.get("/api/v1/maintenance", headers=_as("read")).json()[0]["source"] == "config"  # nothing stored

    made = client.post("/api/v1/maintenance", json=body, headers=_as("admin"))
    assert made.status_code == 201, made.text
    window = made.json()
    later = client.post("/api/v1/maintenance", headers=_as("admin"), json={
        **body, "name": "later", "starts_at": (T + timedelta(hours=2)).isoformat(),
        "ends_at": (T + timedelta(hours=3)).isoformat()}).json()

    listed = client.get("/api/v1/maintenance", headers=_as("read")).json()
    assert [(w["name"], w["source"]) for w in listed] == [("old-upgrade", "config"), ("probe maintenance", "api"),
                                                           ("later", "api")]
    assert listed[0]["id"] == "config:old-upgrade" and listed[0]["applies_to"] == ["avail"]
    ranged = client.get("/api/v1/maintenance", params={"since": T.isoformat(), "until": (T + timedelta(hours=1)).isoformat()},
                        headers=_as("read")).json()
    assert [w["name"] for w in ranged] == ["probe maintenance"]

    marks = client.get("/api/v1/annotations", params={"since": (T - timedelta(days=7)).isoformat(),
                                                      "until": (T + timedelta(hours=1)).isoformat()}, headers=_as("read"))
    assert marks.status_code == 200, marks.text
    spans = {(m["target"], m["t"], m["end"]) for m in marks.json() if m["kind"] == "maintenance"}
    assert spans == {("config:old-upgrade", CONFIG_WINDOW["starts_at"], CONFIG_WINDOW["ends_at"]),
                     (window["id"], window["starts_at"], window["ends_at"])}
    assert any("probe maintenance" in m["text"] for m in marks.json() if m["kind"] == "maintenance")

    # DELETE: admin only; a config window cannot be; an active one ends at `at`; a later one goes.
    assert client.delete(f"/api/v1/maintenance/{window['id']}", headers=_as("read")).status_code == 403
    conflict = client.delete("/api/v1/maintenance/config:old-upgrade", headers=_as("admin"))
    assert conflict.status_code == 409 and "config" in conflict.text
    assert client.delete("/api/v1/maintenance/mw-nope", headers=_as("admin")).status_code == 404
    assert client.delete("/api/v1/maintenance/config:no-such-window", headers=_as("admin")).status_code == 404
    ended = client.delete(f"/api/v1/maintenance/{window['id']}", params={"at": T.isoformat()}, headers=_as("admin"))
    assert ended.status_code == 200, ended.text
    assert ended.json()["action"] == "maintenance.end" and ended.json()["ends_at"] == T.isoformat()
    # Retried (a double click, a client retry): the window is over now, and stays so.
    again = client.delete(f"/api/v1/maintenance/{window['id']}", params={"at": T.isoformat()}, headers=_as("admin"))
    assert again.status_code == 200 and again.json()["action"] == "unchanged"
    assert again.json()["ends_at"] == T.isoformat()
    removed = client.delete(f"/api/v1/maintenance/{later['id']}", params={"at": T.isoformat()}, headers=_as("admin"))
    assert removed.json()["action"] == "maintenance.remove"
    assert [w["name"] for w in client.get("/api/v1/maintenance", headers=_as("read")).json()] == [
        "old-upgrade", "probe maintenance"]

    audit = client.get("/api/v1/audit", params={"since": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()},
                       headers=_as("read")).json()
    mine = sorted((e["action"], e["target"], e["actor"]) for e in audit if e["action"].startswith("maintenance."))
    assert mine == sorted([("maintenance.create", window["id"], "api:admin"), ("maintenance.create", later["id"], "api:admin"),
                           ("maintenance.end", window["id"], "api:admin"), ("maintenance.remove", later["id"], "api:admin")])
    created = next(e for e in audit if e["action"] == "maintenance.create" and e["target"] == window["id"])
    assert created["evidence"]["slos"] == ["avail"] and created["evidence"]["starts_at"] == window["starts_at"]
    # Removing a window that is over takes asking for it: its events count again.
    gone = client.delete(f"/api/v1/maintenance/{window['id']}", params={"at": T.isoformat(), "remove": "true"},
                         headers=_as("admin"))
    assert gone.status_code == 200 and gone.json()["action"] == "maintenance.remove"
    assert [w["name"] for w in client.get("/api/v1/maintenance", headers=_as("read")).json()] == ["old-upgrade"]
