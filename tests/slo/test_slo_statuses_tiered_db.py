"""`slo_statuses` (shared two-resolution series: hourly rollups, minute tail, minutes read on
demand through the series cache) gives exactly what the dense per-minute path gives
(`load_series` + `evaluate_slo` per SLO, each read whole from the minute rollups): every SLI,
budget, burn rate and alert with its starts_at. On SQLite and PostgreSQL, with data over 33 days,
gaps, many groups, a chronic incident whose ticket began weeks ago, windows of 1d, 7d, 28d and
30d, hours not compacted yet, late data for compacted hours, and a warm cache later on."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from slo_dense_reference import load_series

from asrwatch.settings import Settings
from collector.store.compaction import compact
from collector.store.database import make_engine, migrate
from collector.store.ingest import score_and_store_samples, store_sessions
from collector.store.schemas import SampleIn, SessionIn
from slo import sli_source
from slo.evaluation import evaluate_slo
from slo.series_cache import SeriesCache
from slo.snapshot import runbook_base, slo_statuses
from slo.spec import min_events_for, slos_from_settings

AT = datetime(2026, 10, 31, 15, 47, 30, tzinfo=timezone.utc)
DAYS = 33
WORDS = "turn on the kitchen lights and set a timer for ten minutes please".split()
DIMS = ["region", "model_version", "channel"]
SLOS = [
    {"name": "avail-30d", "sli": "availability", "objective": 0.9, "window": "30d", "group_by": DIMS},
    {"name": "avail-7d", "sli": "availability", "objective": 0.99, "window": "7d", "group_by": DIMS},
    {"name": "lat-28d", "sli": "latency", "threshold_ms": 1500, "objective": 0.95, "window": "28d",
     "group_by": ["region", "model_version"]},
    {"name": "lat-7d-strict", "sli": "latency", "threshold_ms": 800, "objective": 0.9, "window": "7d",
     "group_by": ["region", "model_version"]},  # read in the same pass as lat-28d, its own series
    {"name": "lat-web", "sli": "latency", "threshold_ms": 1000, "objective": 0.9, "window": "30d",
     "filters": {"channel": ["web", "mobile"]}, "group_by": ["model_version"]},
    {"name": "dec-1d", "sli": "decode_errors", "objective": 0.99, "window": "1d", "group_by": ["region"]},
    {"name": "quality", "sli": "quality", "max_wer": 0.2, "objective": 0.9, "window": "30d",
     "group_by": ["model_version"]},
    {"name": "quality-loose", "sli": "quality", "max_wer": 0.5, "objective": 0.8, "window": "28d",
     "group_by": ["model_version"]},
    {"name": "all", "sli": "first_partial_latency", "threshold_ms": 300, "objective": 0.99, "window": "30d"},
]
SETTINGS = Settings(database_url="sqlite://", slos=SLOS, slo_min_events=3, runbook_base_url="/runbooks",
                    slo_min_bad_events=0)


def _session(i: str, ts: datetime, rng: random.Random, *, region=None, model=None, channel=None,
             status=None, slow=1.0) -> SessionIn:
    return SessionIn.model_validate({
        "session_id": i, "ts": ts.isoformat(),
        "model_version": model or rng.choice(["v1", "v2", "v3", "v4"]),
        "region": region or rng.choice(["eu", "us", "ap"]),
        "channel": channel or rng.choice(["web", "telephony", "mobile"]),
        "status": status or rng.choices(["ok", "decode_error", "timeout"], [0.95, 0.03, 0.02])[0],
        "final_latency_ms": rng.lognormvariate(6.8, 0.5) * slow,
        "first_partial_ms": rng.lognormvariate(5.3, 0.4) * slow,
        "hypothesis": " ".join(rng.sample(WORDS, rng.randrange(0, 5)))})


def _fill(engine, rng: random.Random, prefix: str, start: datetime, end: datetime, n: int) -> None:
    sessions, samples = [], []
    span = (end - start).total_seconds()
    for k in range(n):
        ts = start + timedelta(seconds=rng.uniform(0, span))
        if rng.random() < 0.15:  # gaps: a fifth of the days are quiet
            continue
        recent = (AT - ts) < timedelta(hours=5)
        sessions.append(_session(f"{prefix}{k}", ts, rng, status="timeout" if recent and rng.random() < 0.4 else None,
                                 slow=3.0 if recent else 1.0))
        if rng.random() < 0.25:
            samples.append(SampleIn.model_validate({"session_id": f"{prefix}{k}",
                                                    "reference": " ".join(rng.sample(WORDS, rng.randrange(1, 6)))}))
    store_sessions(engine, sessions, AT)
    score_and_store_samples(engine, list(enumerate(samples)), "basic", AT)


def _chronic(engine, rng: random.Random) -> None:
    """One slice failing every fifth session, every 10 minutes for 33 days: a ticket for weeks."""
    first = AT - timedelta(days=DAYS)
    sessions = [_session(f"c{k}", first + timedelta(minutes=10 * k), rng, region="eu", model="v9", channel="web",
                         status="timeout" if k % 5 == 0 else "ok")
                for k in range(DAYS * 144)]
    store_sessions(engine, sessions, AT)


def _reference(engine, at: datetime) -> list[dict]:
    out = []
    for spec in slos_from_settings(SETTINGS):
        groups = evaluate_slo(spec, load_series(engine, spec, at), at, min_events=min_events_for(spec, SETTINGS),
                              runbook_base=runbook_base(SETTINGS))
        out.append({"name": spec.name, "groups": [g.to_dict() for g in groups]})
    return out


def _tiered(engine, at: datetime, cache: SeriesCache | None) -> list[dict]:
    return [{"name": s.spec.name, "groups": [g.to_dict() for g in s.groups]}
            for s in slo_statuses(engine, SETTINGS, at, cache)]


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    rng = random.Random(17)
    _fill(engine, rng, "s", AT - timedelta(days=DAYS), AT + timedelta(minutes=5), 2500)
    _chronic(engine, rng)
    yield engine
    engine.dispose()


def test_statuses_equal_the_dense_path(engine, monkeypatch):
    rng = random.Random(5)
    cache = SeriesCache()
    compact(engine, AT - timedelta(days=6))  # the hourly span's last days are not compacted yet
    expected = _reference(engine, AT)
    assert _tiered(engine, AT, None) == expected
    assert _tiered(engine, AT, cache) == expected

    alerts = [a for s in expected for g in s["groups"] for a in g["alerts"]]
    assert {a["severity"] for a in alerts} == {"page", "ticket"}
    chronic = [a for a in alerts if a["labels"].get("model_version") == "v9" and a["labels"]["slo"] == "avail-30d"]
    assert chronic and datetime.fromisoformat(chronic[0]["starts_at"]) < AT - timedelta(days=20)
    assert sum(len(s["groups"]) for s in expected) > 60

    compact(engine, AT)
    assert _tiered(engine, AT, cache) == expected  # the same answer from hourly rows

    # Late data for compacted hours (bumps their revisions) and a later evaluation, warm.
    _fill(engine, rng, "late", AT - timedelta(days=29, hours=3), AT - timedelta(days=25), 300)
    _fill(engine, rng, "late-tail", AT - timedelta(days=2, hours=2), AT - timedelta(days=2), 40)  # in the tail
    later = AT + timedelta(minutes=7)
    expected_later = _reference(engine, later)
    assert expected_later != expected
    reads, plain_read = [], sli_source._read_set
    monkeypatch.setattr(sli_source, "_read_set", lambda conn, specs, ranges, origin, hourly=False: (
        reads.append((hourly, list(ranges))) or plain_read(conn, specs, ranges, origin, hourly)))
    assert _tiered(engine, later, cache) == expected_later
    # The stale hours and the minutes not compacted yet come in one query per read of minutes.
    assert any(not hourly and len(ranges) > 1 and ranges[-1][1] == later.replace(second=0, microsecond=0)
               for hourly, ranges in reads), reads
    monkeypatch.setattr(sli_source, "_read_set", plain_read)
    assert _tiered(engine, later, cache) == expected_later  # all from the cache now


def test_minutes_read_on_demand_come_from_the_snapshot_the_statuses_read(engine, monkeypatch):
    """Late data committed after the hourly and tail reads, just before the first minutes read
    on demand (a window's first hour or the chronic ticket's replay, weeks back): every read of
    the call sees the snapshot, so the statuses are the dense path's as of before the write."""
    compact(engine, AT)
    expected = _reference(engine, AT)
    rng, written = random.Random(9), []
    # A burst of good sessions in the chronic slice 15 days ago: its 3-day ratio drops under the
    # ticket's threshold for three days, so the ticket would seem to start 12 days ago, not weeks.
    burst = [_session(f"burst{k}", AT - timedelta(days=15) + timedelta(seconds=k / 20), rng, region="eu",
                      model="v9", channel="web", status="ok") for k in range(600)]
    plain = sli_source.tiered_series

    def late_write_before_the_first_minute_read(*args):
        *rest, minutes = args

        def source(since, until):
            if not written:
                store_sessions(engine, burst, AT)  # its own connection: commits now
                written.append(since)
            return minutes(since, until)

        return plain(*rest, source)

    monkeypatch.setattr(sli_source, "tiered_series", late_write_before_the_first_minute_read)
    assert _tiered(engine, AT, None) == expected
    assert written, "minutes were read on demand after the write"
    after = _reference(engine, AT)
    assert after != expected  # the burst changes the answer of a read that would see it
    monkeypatch.setattr(sli_source, "tiered_series", plain)
    assert _tiered(engine, AT, None) == after
