"""`sli_source: prometheus` against a real Prometheus (Debian's 2.42) scraping two collector replicas.

Two `asrwatch serve` replicas on one PostgreSQL database, both in `prometheus` mode, take the
traffic in turns; Prometheus scrapes both every second and evaluates the rules `asrwatch slo rules`
exports for the same config every second. The SLO's 12h window scales the alert tiers to minutes
(page: 1m & 1m at 14.4x, 6m & 1m at 6x; ticket: 24m & 2m at 3x, 72m & 6m at 1x), so one bad minute
is a page and the minute after it a ticket. At each minute boundary the replica's
`/api/v1/slos?at=` (Prometheus) and the in-process engine on the same database (`local`) must
fire the same alerts, and so must a third collector on SQLite that takes no traffic but reads the
same Prometheus; each evaluator records them (the judge's burn-rate veto reads that record), and
the burn chart's series (`/api/v1/slos/{name}/series`, range queries) fire where the local
timeline does. Then Prometheus stops: the SLO endpoints answer 503 naming the source and the open
ticket does not resolve.

Traffic is sent only between seconds 3 and 50 of each minute, with event time = now, so every
session is in the same minute for both sources and Prometheus has scraped it before the boundary.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import yaml
from live_collector import free_port, running_collector
from prerequisites import need_program
from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scale"))
from replicas import replicas  # noqa: E402

from asrwatch.settings import PrometheusSettings, Settings  # noqa: E402
from collector.store.database import make_engine  # noqa: E402
from slo.burn_timeline import timeline  # noqa: E402
from slo.models import SLOAlertState  # noqa: E402
from slo.prometheus_source import PrometheusAPI, SLISourceUnavailable  # noqa: E402
from slo.rollout.service import canary_pages  # noqa: E402
from slo.series_cache import SeriesCache  # noqa: E402
from slo.snapshot import firing_alerts, slo_statuses  # noqa: E402
from slo.spec import min_events_for, parse_slo  # noqa: E402

pytestmark = pytest.mark.postgres
SLOS = [{"name": "availability", "sli": "availability", "objective": 0.95, "window": "12h",
         "group_by": ["region", "model_version"]}]
UNLOADED = {"name": "final-latency", "sli": "latency", "threshold_ms": 1000, "objective": 0.99, "window": "12h"}
VERSION = {"eu": "v2", "us": "v1"}  # eu runs the canary, whose bad minute must page
SEND_FROM, SEND_UNTIL = 3, 50  # seconds of each minute traffic is sent in


def _minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


class Traffic:
    """Sessions every 0.25 s, to the replicas in turn; eu fails while `bad` is set."""

    def __init__(self, targets: list[tuple[str, str]]) -> None:
        self.targets, self.bad, self.stop, self.sent = targets, threading.Event(), threading.Event(), 0
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        clients = [httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
                   for url, token in self.targets]
        i = 0
        while not self.stop.is_set():
            now = datetime.now(timezone.utc)
            if SEND_FROM <= now.second < SEND_UNTIL:
                batch = [{"session_id": f"s{i}-{k}", "ts": now.isoformat(), "model_version": VERSION[region],
                          "region": region, "channel": "web", "final_latency_ms": 300.0,
                          "status": "timeout" if region == "eu" and self.bad.is_set() else "ok"}
                         for k, region in enumerate(["eu", "us"] * 3)]
                response = clients[i % len(clients)].post("/api/v1/sessions", json=batch)
                if response.status_code != 200 or response.json()["accepted"] != len(batch):
                    self.errors.append(f"{response.status_code} {response.text[:200]}")
                self.sent += len(batch)
                i += 1
            time.sleep(0.25)


def _firing(statuses) -> set[tuple[str, str, str, str]]:
    return {(a.labels["slo"], a.labels["region"], a.labels["model_version"], a.severity) for a in firing_alerts(statuses)}


def _api_firing(answer: dict) -> set[tuple[str, str, str, str]]:
    return {(a["labels"]["slo"], a["labels"]["region"], a["labels"]["model_version"], a["severity"])
            for s in answer["slos"] for g in s["groups"] for a in g["alerts"]}


def _until(t: datetime) -> None:
    time.sleep(max(0.0, (t - datetime.now(timezone.utc)).total_seconds()))


def test_prometheus_source_fires_as_local_and_keeps_alerts_when_unreachable(tmp_path, postgres_url):
    need_program("prometheus")
    prom_port = free_port()  # reserved now: the replicas' config names it before Prometheus starts
    config = {"slos": SLOS, "sli_source": "prometheus", "prometheus": {"url": f"http://127.0.0.1:{prom_port}"},
              "evaluator_interval_s": 1, "metrics_label_values_max": 50}
    local = Settings(database_url=postgres_url, slos=SLOS)
    # Two replicas on PostgreSQL take the traffic; a third collector, on SQLite and sent nothing,
    # reads the same Prometheus: its answers and its evaluator's episodes must be the same.
    # Its config also has an SLO whose rules Prometheus was never given: named, not judged.
    lone_config = {**config, "slos": SLOS + [UNLOADED]}
    with replicas(tmp_path, postgres_url, 2, config) as live, running_collector(tmp_path / "sqlite", lone_config) as lone:
        targets = [(r.url, r.tokens["ingest"]) for r in live]
        scrape = [(r.url, r.tokens["read"]) for r in live]
        rules = tmp_path / "rules.yml"
        exported = subprocess.run([sys.executable, "-m", "asrwatch", "slo", "rules", "--config", str(live[0].config_path)],
                                  capture_output=True, text=True, check=True)
        rules.write_text(exported.stdout)
        # Prometheus on the port the replicas were told (free_port released it; nothing took it since).
        prom, prom_url = _prometheus_on(tmp_path, scrape, rules, prom_port)
        engine = make_engine(postgres_url)
        traffic = Traffic(targets)
        try:
            # A query Prometheus refuses is an error naming the source and Prometheus' reason.
            with pytest.raises(SLISourceUnavailable, match=r"HTTP 400 bad_data: .*parse error"):
                PrometheusAPI(PrometheusSettings(url=prom_url)).query("sum(", datetime.now(timezone.utc))
            now = datetime.now(timezone.utc)
            # Minute A (good; at least 15 s of it), then B (eu fails), then C (good again).
            a = _minute(now) if now.second < SEND_UNTIL - 15 else _minute(now) + timedelta(minutes=1)
            b, c, end = a + timedelta(minutes=1), a + timedelta(minutes=2), a + timedelta(minutes=3)
            traffic.thread.start()
            expected = {b: set(), c: {("availability", "eu", "v2", "page")}, end: {("availability", "eu", "v2", "ticket")}}
            reader = live[0].client("read")
            readers = [reader, lone.client("read")]
            for boundary, want in expected.items():
                _until(boundary - timedelta(seconds=60 - SEND_FROM + 1))  # minute's start: set the phase
                if boundary == c:
                    traffic.bad.set()
                elif boundary == end:
                    traffic.bad.clear()
                _until(boundary + timedelta(seconds=2))  # Prometheus evaluated past the boundary
                assert _firing(slo_statuses(engine, local, boundary)) == want, f"local at {boundary}"
                for client in readers:
                    answer = client.get("/api/v1/slos", params={"at": boundary.isoformat()})
                    assert answer.status_code == 200, answer.text
                    assert answer.json()["slos"][0]["sli_source"] == "prometheus"
                    assert _api_firing(answer.json()) == want, f"prometheus at {boundary}: {answer.json()}"
                    assert answer.json()["slos"][0]["source_problem"] is None
                unloaded = answer.json()["slos"][1]  # the SQLite collector's second SLO
                assert unloaded["groups"] == [] and "no recordings" in unloaded["source_problem"]
            assert not traffic.errors, traffic.errors[:3]

            # The evaluator (the leader replica, every second) recorded both episodes from Prometheus:
            # the page from inside minute B (Prometheus judges continuously, the local engine by the
            # minute) until C, the ticket since C; the judge's veto reads the page from that record.
            sqlite = make_engine(lone.database_url)
            with OrmSession(engine) as db, OrmSession(sqlite) as lone_db:
                rows = list(db.scalars(select(SLOAlertState)))
                lone_rows = list(lone_db.scalars(select(SLOAlertState)))
            sqlite.dispose()
            assert {(r.fingerprint, r.severity) for r in lone_rows} == {(r.fingerprint, r.severity) for r in rows}
            pages = [r for r in rows if r.severity == "page"]
            open_tickets = [r for r in rows if r.severity == "ticket" and r.resolved_at is None]
            assert len(pages) == 1 and len(open_tickets) == 1, [(r.severity, r.starts_at, r.resolved_at) for r in rows]
            page, ticket = pages[0], open_tickets[0]
            assert b < page.starts_at <= c and page.resolved_at is not None and c < page.resolved_at <= end
            assert c < ticket.starts_at <= end
            assert page.labels["region"] == "eu" and ticket.labels["region"] == "eu"
            # A ticket may also have fired for seconds early in B, before the 1m burn reached the
            # page threshold (a sub-minute episode the minute-by-minute engine never sees); it
            # resolved when the page began.
            assert all(
                r.resolved_at is not None and b <= r.starts_at < c for r in rows if r.severity == "ticket" and r is not ticket)
            assert canary_pages(engine, "v2", c) and not canary_pages(engine, "v1", c)

            # The burn chart's series come from Prometheus too (range queries), and fire where the
            # local engine's timeline does, minute by minute.
            answer = reader.get("/api/v1/slos/availability/series", params={
                "since": a.isoformat(), "until": end.isoformat(), "step": "1m", "group": "region=eu"})
            assert answer.status_code == 200, answer.text
            (eu,) = answer.json()["groups"]
            points = {p["t"]: p for p in eu["points"]}
            mine = timeline(engine, parse_slo(SLOS[0]), [b, c, end], {"region": "eu"}, SeriesCache(),
                            min_events=min_events_for(parse_slo(SLOS[0]), local))
            local_firing = {p["t"]: p["firing"] for p in mine.groups[0]["points"]}
            assert {t: points[t]["firing"] for t in local_firing} == local_firing == {
                b.isoformat(): None, c.isoformat(): "page", end.isoformat(): "ticket"}
            assert points[c.isoformat()]["burn_rates"]["1m"] == pytest.approx(1 / 0.05)  # every eu session failed

            # Prometheus goes away: the SLO endpoints say so by name, and nothing resolves.
            prom.send_signal(signal.SIGTERM)
            prom.wait(30)
            time.sleep(3)  # three evaluator passes
            for client in readers:
                for path in ("/api/v1/slos", "/api/v1/alerts", "/api/v1/slos/availability/series"):
                    down = client.get(path)
                    assert down.status_code == 503, down.text
                    assert "prometheus" in down.json()["detail"] and prom_url in down.json()["detail"]
            with OrmSession(engine) as db:
                still = db.get(SLOAlertState, ticket.id)
                assert still is not None and still.resolved_at is None
            sqlite = make_engine(lone.database_url)
            with OrmSession(sqlite) as lone_db:
                assert [r.severity for r in lone_db.scalars(select(SLOAlertState).where(
                    SLOAlertState.resolved_at.is_(None)))] == ["ticket"]
            sqlite.dispose()
            metrics = "".join(r.client("read").get("/metrics").text for r in live)
            assert 'asrwatch_sli_source_up{source="prometheus"} 0.0' in metrics
        finally:
            traffic.stop.set()
            if prom.poll() is None:
                prom.kill()
            engine.dispose()


def _prometheus_on(tmp_path: Path, targets: list[tuple[str, str]], rules: Path, port: int) -> tuple[subprocess.Popen, str]:
    jobs = [{"job_name": f"asrwatch-{i}", "scrape_interval": "1s", "static_configs": [{"targets": [url.split("//")[1]]}],
             "authorization": {"credentials": token}} for i, (url, token) in enumerate(targets)]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                                      "rule_files": [str(rules)], "scrape_configs": jobs}))
    log = open(tmp_path / "prometheus.log", "wb")
    process = subprocess.Popen(
        [need_program("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("prometheus not ready:\n" + (tmp_path / "prometheus.log").read_text()[-3000:])
