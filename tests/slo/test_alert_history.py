"""One clock for "now", and a past alert stays as it was notified (issue #16, point 7).

A replay is judged by the evaluator as its data arrives; late data can then change what the
engine recomputes for a past minute (a dip that splits the firing run, or a minute that no
longer fires). `/api/v1/alerts` and `/api/v1/slos` answer from the recorded episodes wherever the
evaluator judged `at`, so the page on-call got keeps its `starts_at` and its episode whatever
`at` is asked later; without `at` both judge at the collector's clock (the watermark here).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from postgres import create_database, drop_database

from asrwatch.server import create_app
from asrwatch.settings import Settings
from collector.store.clock import evaluation_time
from collector.store.database import make_engine, migrate
from collector.store.ingest import store_sessions
from slo.alert import Alert
from slo.alert_history import Episode, alerts_as_of
from slo.evaluator import evaluate_once
from slo.snapshot import firing_alerts, slo_statuses

T0 = datetime(2026, 6, 1, 4, 0, tzinfo=timezone.utc)  # months behind the wall clock: a replay
SLOS = [{"name": "avail", "sli": "availability", "objective": 0.99, "window": "1d",
         "group_by": ["region"], "min_events": 20}]


def _alert(region: str, starts: datetime, summary: str = "s") -> Alert:
    labels = {"alertname": "SLOErrorBudgetBurn", "slo": "avail", "severity": "page", "region": region}
    return Alert(name="SLOErrorBudgetBurn", severity="page", labels=labels, summary=summary,
                 runbook_url="/runbooks/x", starts_at=starts)


def _minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def test_recorded_episodes_decide_the_span_they_cover():
    eu_recorded = _alert("eu", _minute(15), "as notified")
    episodes = [Episode(alert=eu_recorded, starts_at=_minute(15), resolved_at=_minute(40),
                        last_evaluated_at=_minute(40))]
    # The engine recomputes eu as firing only since 04:25 (late data split the run): keep 04:15,
    # with the engine's current details.
    got = alerts_as_of([_alert("eu", _minute(25), "recomputed")], episodes, _minute(30))
    assert [(a.labels["region"], a.starts_at, a.summary) for a in got] == [("eu", _minute(15), "recomputed")]
    # The engine no longer computes eu at 04:22: the recorded episode covers it, so it stays.
    got = alerts_as_of([], episodes, _minute(22))
    assert [(a.starts_at, a.summary, a.ends_at) for a in got] == [(_minute(15), "as notified", None)]
    # After its resolution the episode says nothing; the engine's own alerts stand as computed.
    got = alerts_as_of([_alert("us", _minute(41))], episodes, _minute(45))
    assert [(a.labels["region"], a.starts_at) for a in got] == [("us", _minute(41))]


def test_an_open_episode_covers_only_what_the_evaluator_judged():
    episode = Episode(alert=_alert("eu", _minute(15)), starts_at=_minute(15), resolved_at=None,
                      last_evaluated_at=_minute(30))
    # Past the last pass the engine decides whether it fires; if it does, it continues the episode.
    assert alerts_as_of([], [episode], _minute(31)) == []
    (later,) = alerts_as_of([_alert("eu", _minute(28))], [episode], _minute(31))
    assert later.starts_at == _minute(15)


def _sessions(minutes: range, *, ok_extra: int = 0, tag: str = "") -> list[dict]:
    """Region eu, 10 sessions a minute; from 04:00 to 04:40 half of them time out."""
    out = []
    for m in minutes:
        outage = 0 <= m < 40
        for i in range(10 + ok_extra):
            status = "timeout" if outage and i < 5 else "ok"
            out.append({"session_id": f"s{tag}-{m}-{i}", "ts": _minute(m) + timedelta(seconds=i % 60),
                        "model_version": "v1", "region": "eu", "status": status})
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'asrwatch.db'}"
        return
    url = create_database("asrwatch_alert_history")
    yield url
    drop_database(url)


def test_a_replayed_page_keeps_its_start_and_episode_whatever_at_is_asked(database_url):
    settings = Settings(database_url=database_url, slos=SLOS, evaluator_clock="watermark",
                        evaluator_enabled=False)
    engine = make_engine(database_url)
    migrate(engine)
    store_sessions(engine, _sessions(range(-90, 0)), T0)
    # The evaluator judges each minute of the replay as it arrives, at the watermark.
    for m in range(0, 31):
        store_sessions(engine, _sessions(range(m, m + 1)), _minute(m))
        evaluate_once(engine, settings, evaluation_time(engine, "watermark"))
    with TestClient(create_app(settings, run_background=False)) as client:
        live = client.get("/api/v1/alerts").json()
        assert live["at"] == _minute(31).isoformat()  # the watermark, not the wall clock
        (page,) = live["alerts"]
        started = datetime.fromisoformat(page["starts_at"])
        assert _minute(0) < started < _minute(20) and page["severity"] == "page"
        slos = client.get("/api/v1/slos").json()
        assert slos["at"] == live["at"]
        (eu,) = slos["slos"][0]["groups"]
        assert [(a["severity"], a["starts_at"]) for a in eu["alerts"]] == [("page", page["starts_at"])]

        # Late data: a burst of good sessions for 04:20 makes the engine's recomputation dip.
        late = [s for s in _sessions(range(20, 21), ok_extra=1000, tag="late") if s["status"] == "ok"]
        store_sessions(engine, late, _minute(31))
        def pages(at: datetime) -> list[datetime]:
            return [a.starts_at for a in firing_alerts(slo_statuses(engine, settings, at)) if a.severity == "page"]

        (recomputed,) = pages(_minute(30))
        assert recomputed > _minute(20)  # the engine alone would now say "since 04:2x" ...
        assert pages(_minute(22)) == []  # ... and no page at all at 04:22

        for m in (22, 25, 30):
            body = client.get("/api/v1/alerts", params={"at": _minute(m).isoformat()}).json()
            assert [a["starts_at"] for a in body["alerts"] if a["severity"] == "page"] == [page["starts_at"]], m
            groups = client.get("/api/v1/slos", params={"at": _minute(m).isoformat()}).json()["slos"][0]["groups"]
            assert [a["starts_at"] for a in groups[0]["alerts"] if a["severity"] == "page"] == [page["starts_at"]], m

    # The replay goes on: the outage ends and the page resolves at some pass.
    for m in range(31, 90):
        store_sessions(engine, _sessions(range(m, m + 1)), _minute(m))
        evaluate_once(engine, settings, evaluation_time(engine, "watermark"))
    with TestClient(create_app(settings, run_background=False)) as client:
        assert [a for a in client.get("/api/v1/alerts").json()["alerts"] if a["severity"] == "page"] == []
        resolved = [a for a in client.get("/api/v1/alerts", params={"state": "resolved"}).json()["alerts"]
                    if a["severity"] == "page"]
        assert [a["starts_at"] for a in resolved] == [page["starts_at"]]
        ended = datetime.fromisoformat(resolved[0]["ends_at"])
        assert _minute(40) < ended < _minute(90)
        # Asked again about the middle of the episode, after it resolved: still the same page.
        for m in ((started - T0).seconds // 60 + 1, 22, 25, (ended - T0).seconds // 60 - 1):
            body = client.get("/api/v1/alerts", params={"at": _minute(m).isoformat()}).json()
            assert [a["starts_at"] for a in body["alerts"] if a["severity"] == "page"] == [page["starts_at"]], m
        body = client.get("/api/v1/alerts", params={"at": ended.isoformat()}).json()
        assert [a for a in body["alerts"] if a["severity"] == "page"] == []
    engine.dispose()
