"""`asrwatch demo`: the whole closed loop on the embedded default, in a few minutes.

A collector (SQLite under ./asrwatch-data/) with the bundled demo config runs the SLO
evaluator, the alert router, the rollout judge, drift and the cost watch. A simulated fleet
replays a day in compressed event time with four incidents; the reference probe transcribes
golden audio; the console shows it all. The loop closes for real: the canary's far-field
slice burns its availability budget -> page -> the judge rolls the canary back through the
traffic-router file -> the simulator moves its traffic to the stable model -> the burn
stops and the page resolves. The evaluators judge in event time (the ingest watermark).

Paced (the default) the replay follows the wall clock, for people watching the console, and the
collector's jobs run on their wall-clock timers: how many passes fall in an event hour depends
on the machine's load. `--lockstep` replays as fast as it runs and, after each simulated minute,
runs the jobs that are due in event time (`asrwatch.jobs.Lockstep`, at `LOCKSTEP_SCALE`),
so every machine sees the same passes at the same event minutes and, with `--start` (and no
probe: it stamps its sessions with the clock it finds on the wall clock), the same summary.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import typer

from asrwatch.demo_summary import format_summary, summarize
from asrwatch.jobs import Lockstep
from asrwatch.settings import load_settings

DEMO_CONFIG = Path(__file__).with_name("demo_config.yaml")
ROLLOUT_NAME = "whisper-large-v3-2026-11-15"

# Incidents on the replayed span, as fractions of it: (scenario, onset, end or None).
INCIDENTS = (
    ("canary-far-field-endpointing", 0.10, None),
    ("regional-regression", 0.30, None),
    ("gpu-cost-spike", 0.50, 0.70),
    ("latency-saturation", 0.75, 0.85),
)

# The lockstep replay's cadence: each job's timer (the demo config's wall seconds) stretched 240x
# into event time, the passes a paced replay at 240x (10 h in 2.5 min) gets on an idle machine:
# the SLO evaluator, cost watch and rollout judge every 8 event minutes, drift every 20, rollup
# compaction every 4 h. Read as plain event seconds the timers would run every job each simulated
# minute, and a drift pass scans hours of sessions: the replay would take several times longer.
LOCKSTEP_SCALE = 240.0
LIVE_LOG_EVERY_MINUTES = 10  # the lockstep replay prints what fired every this many event minutes


def scenario_specs(hours: float) -> list[str]:
    def at(fraction: float) -> str:
        return f"{round(hours * 60 * fraction)}m"

    return [f"{name}@{at(onset)}" + (f"-{at(end)}" if end else "") for name, onset, end in INCIDENTS]


@dataclass
class DemoRun:
    url: str
    start: datetime
    hours: float
    speed: float | None  # event seconds per wall second; None: lockstep, as fast as it runs
    data_dir: Path
    stop: threading.Event = field(default_factory=threading.Event)
    truths: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def event_time(self, wall_elapsed_s: float) -> datetime:
        end = self.start + timedelta(hours=self.hours)
        return end if self.speed is None else min(self.start + timedelta(seconds=wall_elapsed_s * self.speed), end)


def _say(message: str, at: datetime | None = None) -> None:
    stamp = f"[{at:%H:%M} event] " if at else ""
    typer.echo(f"{stamp}{message}")


def _fresh_data_dir(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in ("demo.db", "demo.db-wal", "demo.db-shm", "traffic-router.json", "demo-summary.json"):
        (data_dir / name).unlink(missing_ok=True)
    shutil.rmtree(data_dir / "probe-spool", ignore_errors=True)
    return data_dir


def _stop(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"asrwatch demo: {message}", err=True)
    return typer.Exit(code)


def _bind_collector_port(port: int) -> socket.socket:
    """Hold the collector's port before anything else happens, or stop: the simulated fleet must
    only ever reach the collector this demo starts, never whatever else listens on the port (it
    used to log "address already in use" and post its sessions to that). The socket is bound as
    uvicorn binds its own (`uvicorn.config.Config.bind_socket`: SO_REUSEADDR, which on Linux
    still refuses a port another socket listens on) and handed to it, so there is no window
    between the check and the server. Port 0 takes a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise _stop(f"port {port} on 127.0.0.1 is not free ({exc.strerror or exc}): another process "
                    f"listens there, and the demo sends its simulated fleet only to a collector it "
                    f"starts itself. Stop that process or choose another port: --port 0 takes a free one.") from None
    sock.set_inheritable(True)
    return sock


def _start_collector(settings, sock: socket.socket, lockstep: Lockstep | None = None):
    import uvicorn

    from asrwatch.server import create_app

    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, lockstep=lockstep), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="collector", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not thread.is_alive():  # uvicorn exits its thread when start-up fails
            raise _stop(f"the collector failed to start on port {port}; see the log above")
        if server.started:  # listening on our own socket: /readyz can only be ours
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    return server, thread, url
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    raise _stop("the collector did not become ready in 120 s")


def _register_canary(url: str) -> None:
    from simulator.fleet import FleetConfig

    fleet = FleetConfig()
    body = {"name": ROLLOUT_NAME, "baseline_version": fleet.stable_version,
            "canary_version": fleet.canary_version, "slice_by": ["channel", "region"],
            "protected_slices": [{"channel": "far_field"}], "min_utterances": 200,
            # The judge runs its own availability tests only on 1600/4 = 400 canary sessions, so in
            # the demo the loop runs as designed: the burn-rate page on the canary's far-field
            # slice comes first, and the page forces the rollback.
            "thresholds": {"min_sessions": 1600}}
    response = httpx.post(url + "/api/v1/rollouts", json=body, timeout=30)
    response.raise_for_status()


def _simulate(run: DemoRun, rate: float, seed: int, after_minute: Callable[[datetime], None] | None = None) -> None:
    from simulator.run import simulate

    try:
        report = simulate(run.url, None, scenario_specs(run.hours), start=run.start, hours=run.hours, rate=rate,
                          seed=seed, speed=run.speed, router_file=str(run.data_dir / "traffic-router.json"),
                          label_fraction=0.2, otlp_fraction=0.02, progress=False, stop=run.stop,
                          after_minute=after_minute)
        run.truths[:] = [t.as_dict() for t in report.truths]
    except Exception as exc:  # report, keep the rest of the demo running
        run.errors.append(f"simulator: {type(exc).__name__}: {exc}")


def _probe(run: DemoRun, limit: int) -> None:
    try:
        from inference_probe.run import run_probe
    except ImportError as exc:
        run.errors.append(f"probe skipped: install the probe extra ({exc.name} missing)")
        return
    try:
        # Stamp the probe's sessions with the replay's event time, not the wall clock, so they
        # do not move the evaluators' watermark ahead of the simulated fleet.
        with httpx.Client(base_url=run.url, timeout=30) as http:
            mark = http.get("/api/v1/clock").json().get("watermark")
        at = datetime.fromisoformat(mark.replace("Z", "+00:00")) if mark else run.start
        result = run_probe(run.url, limit=limit, slices="clean,noise_10db,far_field,telephony",
                           at=at, show_progress=False,
                           spool_dir=run.data_dir / "probe-spool")
        _say("probe: WER per slice on the golden set (" + result.model_version + ")\n" + result.table())
    except Exception as exc:
        run.errors.append(f"probe: {type(exc).__name__}: {exc}")


def _start_console(url: str, port: int) -> subprocess.Popen | None:
    try:
        import streamlit  # noqa: F401
    except ImportError:
        _say("console skipped: install the console extra (pip install -e '.[console]')")
        return None
    return subprocess.Popen([sys.executable, "-m", "asrwatch", "console", "--api", url, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


class LiveLog:
    """Prints what fires, resolves, notifies and rolls back, once each."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.seen: set[str] = set()

    def _new(self, key: str) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def clock(self) -> datetime | None:
        try:
            value = self.http.get("/api/v1/clock").json()["evaluation_time"]
        except (httpx.HTTPError, ValueError, KeyError):
            return None
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    def poll(self) -> datetime | None:
        at = self.clock()
        if at is None:
            return None
        try:
            alerts = self.http.get("/api/v1/alerts", params={"state": "all", "at": at.isoformat()}).json()
            tickets = self.http.get("/api/v1/tickets", params={"limit": 200}).json()
            audit = self.http.get("/api/v1/audit", params={"action": "rollout.rollback"}).json()
        except (httpx.HTTPError, ValueError):
            return at
        for alert in alerts if isinstance(alerts, list) else alerts.get("alerts", []):
            where = ", ".join(f"{k}={v}" for k, v in alert["labels"].items() if k not in ("alertname", "severity"))
            if self._new("fire:" + alert["fingerprint"] + alert["starts_at"]):
                _say(f"{alert['severity'].upper():6} {alert['name']} {where}: {alert['summary'][:160]}", at)
            if alert.get("ends_at") and self._new("end:" + alert["fingerprint"] + alert["starts_at"]):
                _say(f"RESOLVED {alert['severity']} {alert['name']} {where}", at)
        for ticket in tickets:
            if self._new(f"ticket:{ticket['id']}"):
                team = f" (team {ticket['team']})" if ticket.get("team") else ""
                _say(f"notified {ticket['receiver']}{team}: {ticket['title'][:150]}", at)
        for entry in audit:
            if self._new(f"audit:{entry['id']}"):
                _say(f"ROLLBACK {entry['target']}: {entry['reason'][:200]}", at)
        return at


class Progress:
    """Says how far the replay has come in event time, at each tenth of the span: without it the
    demo printed nothing for minutes when no alert fired."""

    STEPS = 10

    def __init__(self, start: datetime, hours: float) -> None:
        self.start, self.hours, self.said = start, hours, 0

    def fraction(self, at: datetime) -> float:
        return min(1.0, max(0.0, (at - self.start).total_seconds() / (self.hours * 3600)))

    def update(self, at: datetime | None) -> None:
        if at is None:
            return
        step = int(self.fraction(at) * self.STEPS + 1e-9)
        if step > self.said:
            self.said = step
            reached = self.fraction(at) * self.hours
            _say(f"progress: {reached:.1f} of {self.hours:g} h replayed ({step * 100 // self.STEPS}%)", at)


def _lockstep_hook(driver: Lockstep, log: LiveLog, progress: Progress) -> Callable[[datetime], None]:
    """The simulator's hook: the jobs due at this event minute, then, now and then, what fired."""
    def after_minute(at: datetime) -> None:
        driver.advance(at)
        if int(at.timestamp()) // 60 % LIVE_LOG_EVERY_MINUTES == 0:
            log.poll()
        progress.update(at + timedelta(minutes=1))  # this minute is replayed

    return after_minute


def _collect(http: httpx.Client, at: datetime) -> tuple[list, list, list]:
    alerts = http.get("/api/v1/alerts", params={"state": "all", "at": at.isoformat()}).json()
    alerts = alerts if isinstance(alerts, list) else alerts.get("alerts", [])
    tickets = http.get("/api/v1/tickets", params={"limit": 1000}).json()
    from simulator.fleet import FleetConfig

    canary = FleetConfig().canary_version
    rollbacks = [{"at": e.get("event_at") or e["at"], "canary_version": canary, "reason": e["reason"]}
                 for e in http.get("/api/v1/audit", params={"action": "rollout.rollback"}).json()]
    return alerts, tickets, rollbacks


def _watermark(http: httpx.Client) -> datetime | None:
    try:
        mark = http.get("/api/v1/clock").json().get("watermark")
    except (httpx.HTTPError, ValueError):
        return None
    return datetime.fromisoformat(mark.replace("Z", "+00:00")) if mark else None


def replay_shortfall(start: datetime, hours: float, watermark: datetime | None) -> str | None:
    """How much of the span the fleet's sessions never reached ("at 18:40 event time, 5.3 h
    short"), or None when they reached its last minutes. The watermark is the newest event time
    ingested: a paced replay that fell behind the wall clock is cut off at its deadline."""
    end = start + timedelta(hours=hours)
    if watermark is not None and watermark >= end - timedelta(minutes=2):
        return None
    if watermark is None:
        return "before any session was stored"
    return f"at {watermark:%H:%M} event time, {(end - watermark).total_seconds() / 3600:.1f} h short of {end:%H:%M}"


def reopen_instructions(data_dir: Path, had_console: bool) -> str:
    """How to look at this run again: the collector and the console stop with the demo, and the
    data stays in `data_dir`. The collector serves the demo's database with the demo's config."""
    database = (data_dir / "demo.db").resolve()
    stopped = "The collector and the console stopped" if had_console else "The collector stopped"
    return (f"{stopped} with the demo; the run's data stays in {database}. To look at it again:\n"
            f"  ASRWATCH_DATABASE_URL=sqlite:///{database} asrwatch serve --config {DEMO_CONFIG.resolve()} --port 8080\n"
            "  asrwatch console --api http://127.0.0.1:8080      (in a second terminal; then http://127.0.0.1:8501)")


def replay_start(start: datetime | None, hours: float, now: datetime) -> datetime:
    """Where the replay starts: `start` (its span must end by `now`: the evaluators' clock never
    runs ahead of the wall clock), by default `hours` before `now`; on a whole minute."""
    now = now.replace(second=0, microsecond=0)
    if start is None:
        return now - timedelta(hours=hours)
    if start.tzinfo is None:
        raise ValueError("start: must name its time zone (e.g. 2026-11-21T00:00:00Z)")
    if start + timedelta(hours=hours) > now:
        raise ValueError(f"start: the replayed span must end by now ({now.isoformat()}), "
                         f"not at {(start + timedelta(hours=hours)).isoformat()}")
    return start.astimezone(timezone.utc).replace(second=0, microsecond=0)


def run_demo(*, port: int, console_port: int, headless: bool, minutes: float, hours: float, rate: float,
             seed: int, probe_limit: int, data_dir: Path, lockstep: bool = False,
             start: datetime | None = None) -> dict[str, Any]:
    start = replay_start(start, hours, datetime.now(timezone.utc))
    # First the port: a demo already running there keeps its data directory too.
    sock = _bind_collector_port(port)
    data_dir = _fresh_data_dir(data_dir)
    settings = load_settings(DEMO_CONFIG, database_url=f"sqlite:///{data_dir / 'demo.db'}",
                             traffic_router_file=str(data_dir / "traffic-router.json"),
                             rollout_actuators=[{"kind": "traffic_file", "path": str(data_dir / "traffic-router.json")}])
    driver = Lockstep(scale=LOCKSTEP_SCALE) if lockstep else None
    server, server_thread, url = _start_collector(settings, sock, driver)
    _register_canary(url)
    run = DemoRun(url=url, start=start, hours=hours, speed=None if lockstep else hours * 3600 / (minutes * 60),
                  data_dir=data_dir)
    if run.speed is None:
        _say(f"asrwatch demo: replaying {hours:g} h of a simulated fleet in lockstep "
             "(as fast as it runs; the jobs pass at fixed event minutes)")
    else:
        _say(f"asrwatch demo: replaying {hours:g} h of a simulated fleet in {minutes:g} min ({run.speed:.0f}x)")
    _say(f"  API      {url}/docs   (alerts: {url}/api/v1/alerts?state=all)")
    console = None if headless else _start_console(url, console_port)
    if console is not None:
        _say(f"  console  http://127.0.0.1:{console_port}")
    _say("  incidents: " + ", ".join(scenario_specs(hours)))

    wall_start = time.monotonic()
    http = httpx.Client(base_url=url, timeout=60)
    log = LiveLog(http)
    progress = Progress(start, hours)
    hook = None if driver is None else _lockstep_hook(driver, log, progress)
    workers = [threading.Thread(target=_simulate, args=(run, rate, seed, hook), name="simulator", daemon=True)]
    if probe_limit > 0:
        workers.append(threading.Thread(target=_probe, args=(run, probe_limit), name="probe", daemon=True))
    for worker in workers:
        worker.start()
    interrupted = False
    try:
        if driver is not None:
            # The hook polls the live log in event time; this thread only waits for the replay.
            while workers[0].is_alive():
                workers[0].join(timeout=1.0)
        else:
            while workers[0].is_alive() and time.monotonic() - wall_start < minutes * 60 + 30:
                time.sleep(1.0)
                progress.update(log.poll())
            time.sleep(2 * settings.evaluator_interval_s + 1)  # let the evaluators see the last minutes
    except KeyboardInterrupt:
        interrupted = True
        _say("stopping...")
    finally:
        run.stop.set()
        for worker in workers:
            worker.join(timeout=120 if not interrupted else 10)
    at = log.poll() or run.event_time(time.monotonic() - wall_start)
    short = replay_shortfall(start, hours, _watermark(http))
    if short is not None and not interrupted:
        _say(f"WARNING: the replay stopped early, {short}: what follows covers only the replayed part. "
             "The machine could not keep pace; rerun with more --minutes, or with --lockstep (as fast as it runs).")
    alerts, tickets, rollbacks = _collect(http, at)
    summary = summarize(run.truths, alerts, tickets, rollbacks)
    summary["errors"] = run.errors
    summary["replay_shortfall"] = short
    (data_dir / "demo-summary.json").write_text(json.dumps(summary, indent=2, default=str))
    typer.echo(format_summary(summary))
    for error in run.errors:
        typer.echo(f"  note: {error}")
    http.close()
    if console is not None:
        os.killpg(console.pid, signal.SIGTERM)
    typer.echo(reopen_instructions(data_dir, console is not None))
    if driver is not None:
        driver.close()
    server.should_exit = True
    server_thread.join(timeout=30)
    return summary


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        headless: bool = typer.Option(False, help="No console; run for --minutes, print a summary, exit"),
        minutes: float = typer.Option(8.0, help="Wall-clock minutes the replayed span takes (paced)"),
        hours: float = typer.Option(24.0, help="Event-time hours replayed"),
        rate: float = typer.Option(150.0, help="Sessions per simulated minute"),
        seed: int = typer.Option(7, help="Simulator seed"),
        probe_limit: int = typer.Option(8, help="Golden utterances the probe transcribes (0: no probe)"),
        port: int = typer.Option(8080, help="Collector port (0: a free one); the demo stops if it is taken"),
        console_port: int = typer.Option(8501, help="Console port"),
        data_dir: Path = typer.Option(Path("./asrwatch-data"), help="Where the demo's SQLite database lives"),
        lockstep: bool = typer.Option(False, help="Replay as fast as it runs, the collector's jobs at fixed event "
                                                  "minutes (the same passes on any machine; ignores --minutes)"),
        start: str | None = typer.Option(None, help="Event time the replay starts (ISO 8601 with zone; default: "
                                                    "--hours before now); with --lockstep, the same summary each run"),
    ) -> None:
        """Run the whole closed loop: collector, evaluators, simulated fleet with incidents, probe, console."""
        try:
            begin = datetime.fromisoformat(start.replace("Z", "+00:00")) if start else None
            replay_start(begin, hours, datetime.now(timezone.utc))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--start") from None
        run_demo(port=port, console_port=console_port, headless=headless, minutes=minutes, hours=hours,
                 rate=rate, seed=seed, probe_limit=probe_limit, data_dir=data_dir, lockstep=lockstep, start=begin)
