"""The engine over real storage (SQLite and PostgreSQL): SLIs from the collector's rollups
agree with raw sessions, and the evaluator records alert transitions and calls its hooks."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from postgres import create_database, drop_database
from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from asrwatch.settings import Settings
from collector.store.database import make_engine, migrate
from collector.store.ingest import store_sessions
from collector.store.schemas import SessionIn
from slo.alert import Alert
from slo.evaluator import evaluate_once, record_routing, record_transitions
from slo.models import SLOAlertState
from slo.snapshot import slo_statuses

T = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
SLOS = [
    {"name": "avail", "sli": "availability", "objective": 0.99, "window": "1d", "group_by": ["region"],
     "min_events": 20},
    {"name": "lat", "sli": "latency", "threshold_ms": 1500, "objective": 0.9, "window": "7d",
     "filters": {"channel": "telephony"}, "group_by": ["model_version"]},
    {"name": "dec", "sli": "decode_errors", "objective": 0.99, "window": "1d"},
]


def _sessions() -> list[dict]:
    """3 hours before T at 8/min per region; from T to T+20m half of eu fails."""
    rng = random.Random(5)
    out = []
    for minute in range(-180, 60):
        for region in ("eu", "us"):
            for i in range(8):
                ts = T + timedelta(minutes=minute, seconds=rng.randrange(60))
                outage = region == "eu" and 0 <= minute < 20
                status = "timeout" if outage and i % 2 == 0 else rng.choices(
                    ["ok", "decode_error", "partial"], [0.995, 0.004, 0.001])[0]
                out.append({
                    "session_id": f"s-{minute}-{region}-{i}", "ts": ts, "model_version": rng.choice(["v1", "v2"]),
                    "region": region, "channel": rng.choice(["telephony", "web"]), "status": status,
                    "final_latency_ms": round(rng.lognormvariate(6.5, 0.4), 1),
                    "hypothesis": "" if rng.random() < 0.002 else "hello",
                })
    return out


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path_factory):
    """One database per engine for the module (the tests only add alert state of their own)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('slo-store') / 'asrwatch.db'}"
    else:
        url = create_database("asrwatch_slo_test")
    engine = make_engine(url)
    migrate(engine)
    sessions = _sessions()
    store_sessions(engine, [SessionIn.model_validate(s) for s in sessions], T + timedelta(hours=2))
    yield engine, sessions
    engine.dispose()
    if request.param == "postgresql":
        drop_database(url)


def _brute(sessions, spec_name, at, minutes, group_key, group):
    lo = at.replace(second=0, microsecond=0) - timedelta(minutes=minutes)
    hi = at.replace(second=0, microsecond=0)
    chosen = [s for s in sessions if lo <= s["ts"] < hi and s.get(group_key, group) == group]
    if spec_name == "avail":
        return sum(s["status"] != "ok" for s in chosen), len(chosen)
    if spec_name == "lat":
        chosen = [s for s in chosen if s["channel"] == "telephony"]
        return sum(s["final_latency_ms"] > 1500 for s in chosen), len(chosen)
    bad = sum(s["status"] == "decode_error" or (s["status"] == "ok" and not s["hypothesis"]) for s in chosen)
    return bad, len(chosen)


def test_slis_from_rollups_match_raw_sessions(store):
    engine, sessions = store
    at = T + timedelta(minutes=12, seconds=40)
    statuses = slo_statuses(engine, Settings(database_url="sqlite://", slos=SLOS), at)
    seen = 0
    for status in statuses:
        for g in status.groups:
            key, value = next(iter(g.labels.items())) if g.labels else ("_", None)
            for name, minutes in (("5m", 5), ("1h", 60), ("1d", 1440)):
                bad, total = _brute(sessions, status.spec.name, at, minutes, key, value)
                expected = None if total == 0 else (bad / total) / (1 - status.spec.objective)
                assert g.burn_rates[name] == pytest.approx(expected), (status.spec.name, g.labels, name)
                seen += 1
    assert seen == 3 * (2 + 2 + 1)
    by_slo = {s.spec.name: s for s in statuses}
    eu = next(g for g in by_slo["avail"].groups if g.labels == {"region": "eu"})
    assert [a.severity for a in eu.alerts] == ["page"]


def test_evaluator_records_transitions_and_calls_hooks(store):
    engine, _ = store
    settings = Settings(database_url="sqlite://", slos=SLOS, runbook_base_url="https://asrwatch.example/runbooks")
    calls = []
    hook = lambda firing, resolved, at: calls.append((at, [a.labels["severity"] for a in firing],  # noqa: E731
                                                      [a.labels["severity"] for a in resolved]))
    quiet = evaluate_once(engine, settings, T - timedelta(minutes=30), [hook])
    assert quiet.firing == [] and quiet.resolved == []

    first = evaluate_once(engine, settings, T + timedelta(minutes=10), [hook])
    pages = [a for a in first.started if a.severity == "page"]
    assert [a.labels["region"] for a in pages] == ["eu"]
    page = pages[0]
    assert page.runbook_url == "https://asrwatch.example/runbooks/slo-burn-availability"
    again = evaluate_once(engine, settings, T + timedelta(minutes=15), [hook])
    assert again.started == []  # still firing: no new episode
    assert page.fingerprint in {a.fingerprint for a in again.firing}
    assert next(a for a in again.firing if a.fingerprint == page.fingerprint).starts_at == page.starts_at

    later = T + timedelta(minutes=50)
    done = evaluate_once(engine, settings, later, [hook])
    resolved = [a for a in done.resolved if a.fingerprint == page.fingerprint]
    assert resolved and resolved[0].ends_at == later
    assert calls[-1][0] == later and "page" in calls[-1][2]

    record_routing(engine, page.fingerprint, page.starts_at, ["oncall-pager"])
    with OrmSession(engine) as db:
        rows = db.scalars(select(SLOAlertState).where(SLOAlertState.fingerprint == page.fingerprint)).all()
    assert len(rows) == 1
    assert rows[0].starts_at == page.starts_at and rows[0].resolved_at == later
    assert rows[0].routed_to == ["oncall-pager"]
    assert rows[0].labels == {"alertname": "SLOErrorBudgetBurn", "slo": "avail", "severity": "page", "region": "eu"}


def test_an_episode_that_late_data_extends_is_reopened_not_duplicated(store):
    engine, _ = store
    at = datetime(2030, 1, 1, tzinfo=timezone.utc)
    labels = {"alertname": "SLOErrorBudgetBurn", "slo": "reopen", "severity": "ticket", "region": "eu"}
    alert = Alert(name="SLOErrorBudgetBurn", severity="ticket", labels=labels, summary="s", runbook_url="/r",
                  starts_at=at)
    assert [a.fingerprint for a in record_transitions(engine, [alert], at + timedelta(minutes=1)).started] == \
        [alert.fingerprint]
    assert record_transitions(engine, [], at + timedelta(minutes=2)).resolved[0].fingerprint == alert.fingerprint
    again = record_transitions(engine, [alert], at + timedelta(minutes=3))
    assert [a.fingerprint for a in again.started] == [alert.fingerprint]
    with OrmSession(engine) as db:
        rows = db.scalars(select(SLOAlertState).where(SLOAlertState.slo == "reopen")).all()
    assert len(rows) == 1 and rows[0].resolved_at is None


def test_an_episode_the_source_did_not_judge_stays_open_and_firing(store):
    """`sli_source: prometheus` (`slo.prometheus_source.held_open`): a group whose recordings are
    missing neither resolves in the store nor leaves the hooks' firing list (the router would
    send a resolve for it)."""
    engine, _ = store
    at = datetime(2031, 1, 1, tzinfo=timezone.utc)
    labels = {"alertname": "SLOErrorBudgetBurn", "slo": "held", "severity": "page", "region": "eu"}
    alert = Alert(name="SLOErrorBudgetBurn", severity="page", labels=labels, summary="s", runbook_url="/r",
                  starts_at=at)
    record_transitions(engine, [alert], at)
    kept = record_transitions(engine, [], at + timedelta(minutes=1), held=lambda slo, lab: slo == "held")
    assert not kept.resolved and [a.fingerprint for a in kept.firing] == [alert.fingerprint]
    assert kept.firing[0].starts_at == at
    resolved = record_transitions(engine, [], at + timedelta(minutes=2), held=lambda slo, lab: False)
    assert [a.fingerprint for a in resolved.resolved] == [alert.fingerprint]
