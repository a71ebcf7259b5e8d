"""The rollout judge under sampled session storage (#23 item 2), on SQLite and PostgreSQL: the
counts come from the rollups (every session), the latency samples from the stored sessions; each
arm says how many of its sessions were stored beside those counted, and the verdict says it
worked on a sample. The canary of an active rollout is stored whole, the baseline sampled."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from collector.store import (Session, StorePolicy, configure_sampling, dimensions_of, sampled_in,
                             score_and_store_samples, store_sessions)
from collector.store.database import make_engine, migrate
from collector.store.schemas import SampleIn, SessionIn
from slo.rollout import service
from slo.rollout.data import load_slices

T = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
AT = T + timedelta(hours=2)
PRICE = lambda pool: 2.5  # noqa: E731
RATE = 0.2
SENT = {("v1", "eu"): 240, ("v1", "us"): 160, ("v2", "eu"): 120, ("v2", "us"): 80}


def _fill(engine) -> None:
    sessions, samples = [], []
    for (version, region), n in SENT.items():
        for i in range(n):
            sid = f"{version}-{region}-{i}"
            labeled = i % 9 == 4
            sessions.append(SessionIn.model_validate({
                "session_id": sid, "ts": (T + timedelta(seconds=i * 7)).isoformat(), "model_version": version,
                "region": region, "status": "timeout" if i % 25 == 0 else "ok", "final_latency_ms": 300.0 + i,
                "hypothesis": "turn on the lights", "attributes": {"labeled": True} if labeled else None}))
            if labeled:
                samples.append(SampleIn.model_validate({"session_id": sid, "reference": "turn on the light"}))
    store_sessions(engine, sessions, T)
    _, rejected = score_and_store_samples(engine, list(enumerate(samples)), "basic", T)
    assert not rejected


def _stored(engine, version: str, region: str | None = None, share: bool = False) -> int:
    """Stored rows of the version (with `share`, only those in the hashed share: the unbiased
    sample the judge compares, without the always-kept failures and labeled sessions)."""
    query = select(Session.session_id).where(Session.model_version == version, Session.ts >= T, Session.ts < AT)
    if region is not None:
        query = query.where(Session.region == region)
    with engine.connect() as conn:
        ids = conn.execute(query).scalars().all()
    return sum(sampled_in(i, RATE) for i in ids) if share else len(ids)


def _register(engine) -> None:
    spec = service.parse_spec({"name": "asr-v2", "baseline_version": "v1", "canary_version": "v2",
                               "slice_by": ["region"], "since": T.isoformat()}, dimensions_of(engine))
    service.register(engine, spec, actor="test", at=T)


def test_each_arm_says_how_many_of_its_sessions_were_stored(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    configure_sampling(engine, StorePolicy("sample", RATE))
    _register(engine)  # active before the canary's sessions arrive: they are all stored
    _fill(engine)
    slices = load_slices(engine, baseline="v1", canary="v2", slice_by=["region"], since=T, until=AT,
                         price_per_gpu_hour=PRICE)
    got = {s.key["region"]: s for s in slices}
    assert set(got) == {"eu", "us"}
    for region, s in got.items():
        assert s.sample_rate == RATE
        assert (s.canary.stored, s.canary.sessions) == (SENT[("v2", region)], SENT[("v2", region)])
        assert (s.baseline.stored, s.baseline.sessions) == (_stored(engine, "v1", region, share=True),
                                                            SENT[("v1", region)])
        assert s.baseline.stored < _stored(engine, "v1", region)  # the always-kept rows are left out
        assert len(s.baseline.latency_ms) == s.baseline.stored
        assert s.baseline.stored < s.baseline.sessions  # the baseline is sampled
        assert len(s.baseline.latency_ms) == s.baseline.stored

    verdict = service.verdict_for(engine, "asr-v2", AT, price_per_gpu_hour=PRICE)
    baseline_sent = SENT[("v1", "eu")] + SENT[("v1", "us")]
    canary_sent = SENT[("v2", "eu")] + SENT[("v2", "us")]
    assert verdict.to_dict()["sample"] == {
        "sample_rate": RATE, "canary": {"stored": _stored(engine, "v2"), "counted": canary_sent},
        "baseline": {"stored": _stored(engine, "v1", share=True), "counted": baseline_sent}}
    assert _stored(engine, "v2") == canary_sent
    summary = verdict.metrics["baseline"]
    assert (summary["stored_sessions"], summary["sessions"]) == (_stored(engine, "v1", share=True), baseline_sent)
    assert verdict.metrics["slices"]["region=us"]["baseline"]["stored_sessions"] == \
        _stored(engine, "v1", "us", share=True)
    engine.dispose()


def test_a_store_of_every_session_judges_no_sample(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    _register(engine)
    _fill(engine)
    slices = load_slices(engine, baseline="v1", canary="v2", slice_by=["region"], since=T, until=AT,
                         price_per_gpu_hour=PRICE)
    assert all(s.sample_rate is None and s.canary.stored is None and s.baseline.stored is None for s in slices)
    verdict = service.verdict_for(engine, "asr-v2", AT, price_per_gpu_hour=PRICE)
    assert verdict.to_dict()["sample"] is None and "stored_sessions" not in verdict.metrics["baseline"]
    assert verdict.metrics["baseline"]["latency_samples"] == SENT[("v1", "eu")] + SENT[("v1", "us")]
    engine.dispose()
