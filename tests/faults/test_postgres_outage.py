"""PostgreSQL unreachable mid-load: the collector answers 503 + Retry-After and is not ready,
the three senders (the Python client, `asrwatch simulate`, the probe's poster) retry or spool,
and once PostgreSQL is reachable again every session they were handed is stored exactly once,
with rollups that agree, by the same collector process (its connection pool recovers).

The shared PostgreSQL server is never restarted: the collector reaches it through a TCP proxy
that the test cuts (listener and every open connection closed, as in a server restart) and
restores.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone

import httpx
import pytest
from live_collector import running_collector
from polling import wait_for
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url
from tcp_proxy import TcpProxy

from collector.client import CollectorClient, CollectorError
from collector.store.models import Rollup, Sample, Session
from inference_probe.posting import ProbePoster
from inference_probe.records import sample_record, session_id_for, session_record
from simulator.fleet import FleetConfig
from simulator.generate import generate
from simulator.run import scenario_set

pytestmark = pytest.mark.postgres

SIM = {"start": datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc), "hours": 0.2, "rate": 90.0, "seed": 7,
       "otlp_fraction": 0.1}
TS = "2026-11-20T09:05:00Z"


def _simulator_command(url: str, token: str) -> list[str]:
    # Live mode (--speed): the simulated fleet keeps posting before, during and after the cut.
    return [sys.executable, "-m", "asrwatch", "simulate", "--collector", url, "--token", token,
            "--scenario", "steady", "--start", SIM["start"].isoformat(), "--hours", str(SIM["hours"]),
            "--rate", str(SIM["rate"]), "--seed", str(SIM["seed"]), "--otlp-fraction", str(SIM["otlp_fraction"]),
            "--speed", "150", "--batch-size", "100", "--quiet"]


def _simulator_expected() -> tuple[set[str], set[str]]:
    """The simulator is deterministic for a seed: regenerate what it sends (sessions, samples)."""
    fleet = FleetConfig()
    sessions, samples = set(), set()
    active = scenario_set("steady", SIM["start"], SIM["hours"])
    for batch in generate(active, SIM["start"], SIM["hours"], SIM["rate"], SIM["seed"], fleet=fleet,
                          otlp_fraction=SIM["otlp_fraction"]):
        sessions.update(r["session_id"] for r in batch.sessions)
        sessions.update(t.record["session_id"] for t in batch.traced)
        samples.update(s.session_id for s in batch.samples)
    return sessions, samples


class ClientSender(threading.Thread):
    """An ASR server embedding the Python client: small batches, short retries, a spool."""

    def __init__(self, url: str, token: str, spool) -> None:
        super().__init__(daemon=True)
        self.client = CollectorClient(url, token, spool_dir=spool, max_retries=2, backoff_s=0.05,
                                      max_backoff_s=0.2, timeout_s=10)
        self.handed: set[str] = set()
        self.acknowledged: set[str] = set()
        self.spooled: set[str] = set()
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        batch = 0
        while not self.stop.is_set():
            ids = [f"client-b{batch}-{i}" for i in range(50)]
            records = [{"session_id": sid, "ts": TS, "model_version": "client-mv", "status": "ok",
                        "final_latency_ms": 120.0 + i} for i, sid in enumerate(ids)]
            self.handed.update(ids)
            try:
                result = self.client.post_sessions(records)
            except CollectorError as exc:  # anything but ack or spool is a loss to the sender
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return
            if result.get("spooled") == len(ids):
                self.spooled.update(ids)
            elif result.get("accepted", 0) + result.get("duplicates", 0) == len(ids):
                self.acknowledged.update(ids)
            else:
                self.errors.append(f"batch {batch}: unexpected answer {result}")
            batch += 1
            time.sleep(0.02)


def _probe_records(run_id: str, n: int) -> tuple[list[dict], list[dict]]:
    sessions, samples = [], []
    for i in range(n):
        sid = session_id_for(run_id, f"utt{i:03d}", "noise_0db")
        sessions.append(session_record(session_id=sid, ts=datetime(2026, 11, 20, 9, 6, tzinfo=timezone.utc),
                                       model_version="probe-mv", channel="noise_0db", audio_seconds=3.0,
                                       final_latency_ms=800.0, status="ok", confidence=0.9, snr_db=0.0,
                                       hypothesis="turn the lights off", trace_id=None))
        samples.append(sample_record(sid, "turn the lights off please", "turn the lights off"))
    return sessions, samples


def _count_like(engine, pattern: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(Session.session_id.like(pattern))).scalar()


def _stored(database_url: str) -> dict:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        ids = Counter(conn.execute(select(Session.session_id)).scalars())
        sessions_by_mv = dict(conn.execute(
            select(Session.model_version, func.count()).group_by(Session.model_version)).all())
        rolled_by_mv = {mv: int(n) for mv, n in conn.execute(
            select(Rollup.model_version, func.sum(Rollup.sessions)).group_by(Rollup.model_version)).all()}
        samples = Counter(conn.execute(select(Sample.session_id)).scalars())
        samples_by_mv = dict(conn.execute(select(Session.model_version, func.count()).select_from(Sample)
                                          .join(Session, Session.session_id == Sample.session_id)
                                          .group_by(Session.model_version)).all())
        labeled_by_mv = {mv: int(n) for mv, n in conn.execute(
            select(Rollup.model_version, func.sum(Rollup.wer_utterances)).group_by(Rollup.model_version)).all()
            if n}
    engine.dispose()
    return {"ids": ids, "sessions_by_mv": sessions_by_mv, "rolled_by_mv": rolled_by_mv, "samples": samples,
            "samples_by_mv": samples_by_mv, "labeled_by_mv": labeled_by_mv}


def test_postgres_unreachable_mid_load_then_back_loses_nothing(tmp_path, postgres_url):
    target = make_url(postgres_url)
    with TcpProxy(target.host, target.port or 5432) as proxy:
        via_proxy = target.set(port=proxy.port).render_as_string(hide_password=False)
        with running_collector(tmp_path, database_url=via_proxy) as live:
            pid = live.process.pid
            token = live.tokens["ingest"]
            client = ClientSender(live.url, token, tmp_path / "client-spool")
            simulator = subprocess.Popen(_simulator_command(live.url, token), stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
            try:
                client.start()
                direct = create_engine(postgres_url)  # the test's own view of the database, not via the proxy
                wait_for(lambda: len(client.acknowledged) >= 200, 60, "the client's first acknowledged batches", every_s=0.05)
                wait_for(lambda: _count_like(direct, "sim-%") > 0, 60, "the simulator's first stored sessions", every_s=0.05)

                proxy.cut()  # PostgreSQL is now unreachable: open connections reset, new ones refused
                auth = {"Authorization": f"Bearer {token}"}
                with httpx.Client(base_url=live.url, headers=auth, timeout=10) as http:
                    down = http.post("/api/v1/sessions", json=[{"session_id": "during-outage", "ts": TS,
                                                                 "model_version": "direct", "status": "ok"}])
                    not_ready = http.get("/readyz")
                probe_spool = tmp_path / "probe-spool"
                probe_sessions, probe_samples = _probe_records("outage", 30)
                poster = ProbePoster(live.url, token, probe_spool, post_retries=0, post_backoff_s=0.05)
                probe_info = poster.finish(probe_sessions, probe_samples)
                wait_for(lambda: client.spooled, 30, "the client to spool a batch", every_s=0.05)
                time.sleep(1.0)  # the simulator posts every 0.4 s of wall time: let it meet the outage
                simulator_mid_run = simulator.poll() is None
                acknowledged_before = len(client.acknowledged)
                proxy.restore()

                wait_for(lambda: httpx.get(live.url + "/readyz", timeout=5).status_code == 200, 60, "readiness again", every_s=0.05)
                wait_for(lambda: len(client.acknowledged) > acknowledged_before, 60, "the client's acks after the outage", every_s=0.05)
                client.stop.set()
                client.join(30)
                replayed_after = client.client.replay_spool()
                sim_out, sim_err = simulator.communicate(timeout=120)
                replay = ProbePoster(live.url, token, probe_spool, post_retries=2, post_backoff_s=0.05)
                replayed_probe = replay.info["replayed_records"]
                replay.close()
                again = httpx.post(live.url + "/api/v1/sessions", headers=auth,
                                   json=[{"session_id": "after-outage", "ts": TS, "model_version": "direct",
                                          "status": "ok"}], timeout=10)
            finally:
                if simulator.poll() is None:  # a failed wait above: do not leave it posting
                    simulator.kill()
                    simulator.wait(10)
            assert live.process.poll() is None and live.process.pid == pid  # recovered without a restart
            direct.dispose()

    # While PostgreSQL was away: a clear 503 telling senders when to come back, and not ready.
    assert down.status_code == 503 and down.headers.get("retry-after", "").isdigit(), down.text
    assert "database unavailable" in down.json()["detail"]
    assert not_ready.status_code == 503 and not_ready.json()["status"] == "unavailable"
    assert again.status_code == 200 and again.json()["accepted"] == 1

    # The senders: the client spooled what it could not deliver and replayed it; the probe
    # spooled its whole run and the next run delivered it; the simulator retried through.
    assert client.errors == []
    assert client.client.spooled() == [] and replayed_after == 0  # replayed on the client's next send
    assert probe_info["sessions"]["spooled"] == 30 and probe_info["samples"]["spooled"] == 30
    assert replayed_probe == 60
    assert simulator_mid_run and simulator.returncode == 0, sim_err
    assert "rejected 0" in sim_out, sim_out

    stored = _stored(postgres_url)
    sim_sessions, sim_samples = _simulator_expected()
    probe_ids = {r["session_id"] for r in probe_sessions}
    # Everything handed to a sender is stored exactly once (count by session_id).
    for name, expected in (("client", client.handed), ("simulator", sim_sessions), ("probe", probe_ids)):
        missing = expected - set(stored["ids"])
        assert not missing, f"{name}: {len(missing)} sessions lost, e.g. {sorted(missing)[:3]}"
    assert client.acknowledged | client.spooled == client.handed
    assert all(n == 1 for n in stored["ids"].values())
    assert sum(stored["ids"].values()) == len(client.handed | sim_sessions | probe_ids) + 1  # + "after-outage"
    assert sim_samples | probe_ids == set(stored["samples"]) and all(n == 1 for n in stored["samples"].values())
    # Rollups agree with the stored rows: nothing folded twice by a retried request.
    assert stored["rolled_by_mv"] == stored["sessions_by_mv"]
    assert stored["labeled_by_mv"] == stored["samples_by_mv"]
