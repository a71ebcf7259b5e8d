"""Maintenance windows drop exactly their events from the SLO engine (`slo.sli_source.tiered_family`),
on SQLite and PostgreSQL: `slo_statuses` with windows from the config and the API equals the dense
per-minute reference (`tests/slo_dense_reference.load_series`) with the covered minutes of the
covered groups zeroed by hand, every budget, burn rate and alert included. Windows lie in hours
already compacted to `rollups_hourly` (so hourly rows are replaced by their minutes), in the
minute tail, on partial hours and across midnight; one applies to one SLO of two that share
their counts (so they may not share a series), one to groups by label, one through a pinned
filter, and one to none (its label is on a dimension no SLO can tell apart)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from slo_dense_reference import load_series

from asrwatch.settings import Settings
from collector.store.compaction import compact
from collector.store.database import make_engine, migrate
from collector.store.ingest import store_sessions
from collector.store.schemas import SessionIn
from slo import maintenance_store
from slo.burn_timeline import timeline
from slo.evaluation import evaluate_slo
from slo.maintenance import MaintenanceWindow, WindowSpec, config_windows
from slo.series import SLISeries, floor_minute
from slo.series_cache import SeriesCache
from slo.snapshot import runbook_base, slo_statuses
from slo.spec import min_events_for, slos_from_settings

AT = datetime(2026, 10, 31, 15, 47, 30, tzinfo=timezone.utc)
END = floor_minute(AT)
DAYS = 9
SLOS = [
    {"name": "avail", "sli": "availability", "objective": 0.99, "window": "30d", "group_by": ["region", "model_version"]},
    # The same counts as `avail` (one spec_key): a window for `avail` alone must not reach it.
    {"name": "avail-strict", "sli": "availability", "objective": 0.995, "window": "30d",
     "group_by": ["region", "model_version"]},
    {"name": "lat-web", "sli": "latency", "threshold_ms": 1500, "objective": 0.95, "window": "7d",
     "filters": {"channel": "web"}, "group_by": ["region"]},
    {"name": "decode", "sli": "decode_errors", "objective": 0.99, "window": "30d"},
]


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


CONFIGURED = [  # from the config
    {"name": "pg-upgrade", "reason": "database upgrade", "starts_at": "2026-10-25T10:17:00Z",
     "ends_at": "2026-10-25T12:43:00Z"},  # compacted hours, partial at both ends; every SLO, all traffic
    {"name": "tenant-move", "starts_at": "2026-10-30T08:00:00Z", "ends_at": "2026-10-30T09:00:00Z",
     "labels": {"tenant": "acme"}},  # no SLO groups by tenant: applies to none
]
STORED = [  # through the API
    {"name": "eu-failover", "starts_at": (END - timedelta(minutes=50)).isoformat(),
     "ends_at": (END - timedelta(minutes=10)).isoformat(), "labels": {"region": "eu"}},  # the minute tail
    {"name": "avail-only", "starts_at": "2026-10-23T22:50:00Z", "ends_at": "2026-10-24T01:10:00Z",
     "slos": ["avail"]},  # across midnight, compacted
    {"name": "us-web", "starts_at": (END - timedelta(hours=3)).isoformat(),
     "ends_at": (END - timedelta(hours=2, minutes=30)).isoformat(), "labels": {"channel": "web", "region": "us"}},
]
SETTINGS = Settings(database_url="sqlite://", slos=SLOS, slo_min_events=3, maintenance_windows=CONFIGURED)
PLAIN = Settings(database_url="sqlite://", slos=SLOS, slo_min_events=3)


def _session(i: str, ts: datetime, rng: random.Random, *, region=None, status=None, channel=None) -> SessionIn:
    return SessionIn.model_validate({
        "session_id": i, "ts": ts.isoformat(), "model_version": rng.choice(["v1", "v2"]),
        "region": region or rng.choice(["eu", "us"]), "channel": channel or rng.choice(["web", "telephony"]),
        "tenant": rng.choice(["acme", "globex"]),
        "status": status or rng.choices(["ok", "decode_error", "timeout"], [0.97, 0.02, 0.01])[0],
        "final_latency_ms": rng.lognormvariate(6.8, 0.5), "hypothesis": "turn on the lights"})


def _burst(prefix: str, start: datetime, end: datetime, n: int, rng: random.Random, **kw) -> list[SessionIn]:
    span = (end - start).total_seconds()
    return [_session(f"{prefix}{k}", start + timedelta(seconds=span * k / n), rng, status=rng.choice(
        ["timeout", "decode_error"]), **kw) for k in range(n)]


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    rng = random.Random(3)
    first = END - timedelta(days=DAYS)
    sessions = [_session(f"s{k}", first + timedelta(seconds=rng.uniform(0, DAYS * 86400 + 300)), rng)
                for k in range(4000)]
    # Failures inside every window, and (for contrast) the same kind just outside the first.
    sessions += _burst("pg", _t("2026-10-25T10:17:00"), _t("2026-10-25T12:43:00"), 400, rng)
    sessions += _burst("near", _t("2026-10-25T12:43:00"), _t("2026-10-25T12:58:00"), 30, rng)
    sessions += _burst("acme", _t("2026-10-30T08:00:00"), _t("2026-10-30T09:00:00"), 60, rng)
    sessions += _burst("eu", END - timedelta(minutes=50), END - timedelta(minutes=10), 300, rng, region="eu")
    sessions += _burst("mid", _t("2026-10-23T22:50:00"), _t("2026-10-24T01:10:00"), 300, rng)
    sessions += [_session(f"slow{k}", END - timedelta(hours=3) + timedelta(seconds=6 * k), rng, region="us",
                          channel="web") for k in range(300)]
    store_sessions(engine, sessions, AT)
    compact(engine, END - timedelta(days=1))
    for spec in STORED:
        maintenance_store.create(engine, WindowSpec.model_validate(spec), "api:test", AT)
    yield engine
    engine.dispose()


def _applies(window: MaintenanceWindow, spec) -> dict[str, str] | None:
    """Written apart from `slo.maintenance`: the labels a group must hold, or None."""
    if window.slos and spec.name not in window.slos:
        return None
    need = {}
    for dim, value in window.labels:
        if dim in spec.group_by:
            need[dim] = value
        elif spec.filter_values().get(dim) != [value]:
            return None
    return need


def _reference(engine, settings: Settings, windows: list[MaintenanceWindow]) -> list[dict]:
    out = []
    for spec in slos_from_settings(settings):
        dense = load_series(engine, spec, AT)
        good, total = dense.good.copy(), dense.total.copy()
        for window in windows:
            need = _applies(window, spec)
            if need is None:
                continue
            lo = max(0, dense.index_of(window.starts_at))
            hi = min(dense.minutes, dense.index_of(window.ends_at))
            for g in range(len(dense.groups)):
                if all(dense.group_labels(g)[d] == v for d, v in need.items()) and lo < hi:
                    good[g, lo:hi] = 0
                    total[g, lo:hi] = 0
        keep = np.flatnonzero(total.sum(axis=1) > 0)
        series = SLISeries(dense.start, dense.group_by, tuple(dense.groups[i] for i in keep), good[keep], total[keep])
        groups = evaluate_slo(spec, series, AT, min_events=min_events_for(spec, settings),
                              runbook_base=runbook_base(settings))
        out.append({"name": spec.name, "groups": [g.to_dict() for g in groups]})
    return out


def _statuses(engine, settings: Settings, cache: SeriesCache | None = None) -> list[dict]:
    return [{"name": s.spec.name, "groups": [g.to_dict() for g in s.groups]}
            for s in slo_statuses(engine, settings, AT, cache)]


def test_statuses_with_windows_equal_the_dense_reference_with_their_minutes_zeroed(engine):
    with engine.connect() as conn:
        windows = maintenance_store.windows_between(conn, config_windows(SETTINGS), None, None)
    assert len(windows) == 5
    expected = _reference(engine, SETTINGS, windows)
    cache = SeriesCache()
    assert _statuses(engine, SETTINGS, cache) == expected
    assert _statuses(engine, SETTINGS, cache) == expected  # warm: the cache keeps what was read, unfiltered

    # Without the config's windows, the stored ones still apply (and only they).
    stored = [w for w in windows if w.source == "api"]
    assert len(stored) == 3
    assert _statuses(engine, PLAIN, cache) == _reference(engine, PLAIN, stored) != expected
    # The windows matter: the dense answer without any differs.
    plain = _reference(engine, PLAIN, [])
    assert plain != expected
    by_name = {s["name"]: s for s in expected}
    plain_by_name = {s["name"]: s for s in plain}
    # `avail-only` applies to `avail` alone: `avail-strict` (same counts) sees its burst.
    avail = {tuple(g["group"].items()): g["events"] for g in by_name["avail"]["groups"]}
    strict = {tuple(g["group"].items()): g["events"] for g in by_name["avail-strict"]["groups"]}
    assert sum(strict.values()) > sum(avail.values())
    # eu-failover's burst pages without the window, not with it.
    pages = [a for g in plain_by_name["avail"]["groups"] if g["group"]["region"] == "eu" for a in g["alerts"]
             if a["severity"] == "page"]
    assert pages
    assert not [a for g in by_name["avail"]["groups"] if g["group"]["region"] == "eu" for a in g["alerts"]
                if a["severity"] == "page"]

    # The series (burn-down) at AT reads the same windows: its budget is /slos' budget.
    spec = next(s for s in slos_from_settings(SETTINGS) if s.name == "avail")
    found = timeline(engine, spec, [AT], {}, cache, min_events=3, configured=config_windows(SETTINGS))
    budgets = {tuple(g["group"].items()): g["points"][0]["error_budget_remaining"] for g in found.groups}
    assert budgets == {tuple(g["group"].items()): g["error_budget_remaining"] for g in by_name["avail"]["groups"]}
