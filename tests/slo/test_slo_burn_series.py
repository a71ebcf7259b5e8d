"""`GET /api/v1/slos/{name}/series` (issue #22, item 1a): burn rates and budget over time.

Each point must be what `/api/v1/slos?at=<t>` says at that time, on SQLite and PostgreSQL: the
same engine asked for many window ends at once. The replay below is judged by the evaluator
minute by minute, so the page it records is the episode the series reports.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from asrwatch.server import create_app
from asrwatch.settings import Settings
from collector.store.clock import evaluation_time
from collector.store.database import make_engine, migrate
from collector.store.ingest import store_sessions
from slo.evaluator import evaluate_once
from slo.snapshot import firing_alerts, slo_statuses

T0 = datetime(2026, 6, 1, 4, 0, tzinfo=timezone.utc)
SLOS = [
    {"name": "avail", "sli": "availability", "objective": 0.99, "window": "30d", "group_by": ["region"],
     "min_events": 20},
    # A 1-day window scales the tiers' windows (1d/30d): the series reports those, not the 30-day ones.
    {"name": "avail-1d", "sli": "availability", "objective": 0.99, "window": "1d", "group_by": ["region"],
     "min_events": 20},
]


def _minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def _sessions(minutes: range) -> list[dict]:
    """10 sessions a minute in eu and in us; from 04:00 to 04:40 half of eu's time out."""
    out = []
    for m in minutes:
        for region in ("eu", "us"):
            for i in range(10):
                status = "timeout" if region == "eu" and 0 <= m < 40 and i < 5 else "ok"
                out.append({"session_id": f"{region}-{m}-{i}", "ts": _minute(m) + timedelta(seconds=i),
                            "model_version": "v1", "region": region, "status": status})
    return out


@pytest.fixture
def replayed(database_url):
    settings = Settings(database_url=database_url, slos=SLOS, evaluator_clock="watermark",
                        evaluator_enabled=False)
    engine = make_engine(database_url)
    migrate(engine)
    store_sessions(engine, _sessions(range(-120, 0)), T0)
    for m in range(0, 70, 2):  # the evaluator judges the replay as it arrives
        store_sessions(engine, _sessions(range(m, m + 2)), _minute(m + 1))
        evaluate_once(engine, settings, evaluation_time(engine, "watermark"))
    with TestClient(create_app(settings, run_background=False)) as client:
        client.engine, client.settings = engine, settings  # for the engine's own answer at a point
        yield client
    engine.dispose()


def test_each_point_is_what_slos_reports_at_that_time(replayed):
    client = replayed
    body = client.get("/api/v1/slos/avail/series", params={
        "group": "region=eu", "since": _minute(-30).isoformat(), "until": _minute(60).isoformat(), "step": "10m"})
    assert body.status_code == 200, body.text
    series = body.json()
    assert [w["window"] for w in series["windows"]] == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    assert [(t["severity"], t["factor"]) for t in series["alert_tiers"]] == [
        ("page", 14.4), ("page", 6.0), ("ticket", 3.0), ("ticket", 1.0)]
    (eu,) = series["groups"]
    assert eu["group"] == {"region": "eu"}
    times = [p["t"] for p in eu["points"]]
    assert times == [_minute(m).isoformat() for m in range(-30, 61, 10)]
    for point in eu["points"]:
        slos = client.get("/api/v1/slos", params={"at": point["t"]}).json()
        (group,) = [g for g in slos["slos"][0]["groups"] if g["group"] == {"region": "eu"}]
        assert point["error_budget_remaining"] == group["error_budget_remaining"], point["t"]
        assert point["burn_rates"] == {w: group["burn_rates"][w] for w in point["burn_rates"]}, point["t"]
        # `firing` is the engine's own decision at t (before recorded episodes are consulted).
        computed = [a.severity for a in firing_alerts(slo_statuses(client.engine, client.settings,
                                                                   datetime.fromisoformat(point["t"])))
                    if a.labels["slo"] == "avail" and a.labels["region"] == "eu"]
        assert point["firing"] == (computed[0] if computed else None), point["t"]
    # The outage shows: nothing burns before it, the page tier's 14.4x is passed during it, and
    # the budget left falls as it goes on.
    by_t = {p["t"]: p for p in eu["points"]}
    assert by_t[_minute(-10).isoformat()]["burn_rates"]["1h"] == 0.0
    assert by_t[_minute(30).isoformat()]["burn_rates"]["5m"] > 14.4
    assert by_t[_minute(30).isoformat()]["firing"] == "page" and by_t[_minute(-10).isoformat()]["firing"] is None
    budget = {m: by_t[_minute(m).isoformat()]["error_budget_remaining"] for m in (10, 40)}
    assert budget[40] < budget[10] < 1.0


def test_the_recorded_page_is_an_episode_of_the_range(replayed):
    client = replayed
    alerts = client.get("/api/v1/alerts", params={"state": "all", "at": _minute(69).isoformat()}).json()["alerts"]
    pages = [a for a in alerts if a["severity"] == "page" and a["labels"]["slo"] == "avail"]
    assert pages, alerts
    series = client.get("/api/v1/slos/avail/series", params={
        "group": "region=eu", "since": _minute(-30).isoformat(), "until": _minute(69).isoformat(),
        "step": "5m"}).json()
    page_episodes = [e for e in series["episodes"] if e["severity"] == "page"]
    assert [e["starts_at"] for e in page_episodes] == [a["starts_at"] for a in pages]
    assert all(e["group"] == {"region": "eu"} for e in series["episodes"])
    started = datetime.fromisoformat(page_episodes[0]["starts_at"])
    assert _minute(0) <= started < _minute(40)
    # us never burned: no episode of it, and asking for it alone gives none.
    us = client.get("/api/v1/slos/avail/series", params={
        "group": "region=us", "since": _minute(-30).isoformat(), "until": _minute(69).isoformat()}).json()
    assert us["episodes"] == [] and [g["group"] for g in us["groups"]] == [{"region": "us"}]


def test_scaled_tiers_and_every_group_without_group(replayed):
    client = replayed
    series = client.get("/api/v1/slos/avail-1d/series", params={
        "since": _minute(0).isoformat(), "until": _minute(60).isoformat(), "step": "15m"}).json()
    tiers = series["alert_tiers"]
    expected = sorted({t["long_window_s"] for t in tiers} | {t["short_window_s"] for t in tiers})
    assert [w["window_s"] for w in series["windows"]] == expected
    assert [g["group"] for g in series["groups"]] == [{"region": "eu"}, {"region": "us"}]
    # Every group's points are at the same times, one burn per tier window.
    for group in series["groups"]:
        assert [p["t"] for p in group["points"]] == [_minute(m).isoformat() for m in range(0, 61, 15)]
        assert all(set(p["burn_rates"]) == {w["window"] for w in series["windows"]} for p in group["points"])
    # The budget over the 1-day window at 04:45 equals /slos' at that time.
    at = _minute(45).isoformat()
    slos = client.get("/api/v1/slos", params={"at": at}).json()
    mine = next(s for s in slos["slos"] if s["name"] == "avail-1d")
    for group in series["groups"]:
        point = next(p for p in group["points"] if p["t"] == at)
        want = next(g for g in mine["groups"] if g["group"] == group["group"])
        assert point["error_budget_remaining"] == want["error_budget_remaining"]


BAD = [
    ({"step": "1m", "since": "2026-05-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"}, "step"),  # 44,641 points
    ({"step": "5 minutes"}, "step"),
    ({"step": "30s"}, "step"),
    ({"group": "zone=a"}, "group"),  # not one of the SLO's group_by
    ({"group": "region"}, "group"),
    ({"since": "yesterday"}, "since"),
    ({"since": "2026-06-01T05:00:00Z", "until": "2026-06-01T04:00:00Z"}, "since"),
]


def test_bad_input_is_refused_naming_the_parameter(replayed):
    for params, field in BAD:
        response = replayed.get("/api/v1/slos/avail/series", params=params)
        assert response.status_code == 422, params
        assert response.json()["detail"].startswith(f"{field}:"), (params, response.json())


def test_an_unknown_slo_is_404(replayed):
    response = replayed.get("/api/v1/slos/nope/series")
    assert response.status_code == 404 and "nope" in response.json()["detail"]


def test_too_many_values_are_refused_before_any_window_is_summed(replayed, monkeypatch):
    import slo.burn_timeline as bt

    def not_now(*args, **kwargs):
        raise AssertionError("the series was built before its size was checked")

    # Two groups x 5 points (04:00..05:00 by 15m) = 10 values, one past the limit.
    monkeypatch.setattr(bt, "MAX_VALUES", 9)
    monkeypatch.setattr(bt, "burn_rate", not_now)
    monkeypatch.setattr(bt, "budget_remaining", not_now)
    monkeypatch.setattr(bt, "conditions", not_now)
    response = replayed.get("/api/v1/slos/avail/series", params={
        "since": _minute(0).isoformat(), "until": _minute(60).isoformat(), "step": "15m"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("group: 2 groups x 5 points")
