"""How the report's tests seed a live collector: two hours of simulated traffic in last month with
one incident, judged in event time so its evaluator records the incident's alert episodes."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from live_collector import LiveCollector

SLOS = [
    {"name": "availability", "sli": "availability", "objective": 0.995, "window": "30d"},
    {"name": "final-latency", "sli": "latency", "threshold_ms": 2000, "objective": 0.99, "window": "30d",
     "group_by": ["region"]},
    {"name": "transcript-quality", "sli": "quality", "max_wer": 0.3, "objective": 0.95, "window": "30d",
     "group_by": ["model_version"]},
]
# Watermark mode: the evaluator judges at the newest ingested event minute, so replayed traffic
# last month raises (and resolves) its alerts in event time, as a live fleet's would have.
CONFIG = {"slos": SLOS, "evaluator_interval_s": 1, "evaluator_clock": "watermark"}
HOURS = 2
INCIDENT = "decode-failures@30m-70m"  # a fleet-wide decode failure: pages on availability
CANARY = "benign-canary@0m"  # a second model version from the start: two WER bars
INCIDENT_ONSET, INCIDENT_END = timedelta(minutes=30), timedelta(minutes=70)


def last_month(now: datetime) -> str:
    first = now.replace(day=1)
    previous = first - timedelta(days=1)
    return f"{previous.year:04d}-{previous.month:02d}"


@dataclass
class Seeded:
    live: LiveCollector
    month: str
    start: datetime  # the simulated span, inside `month`
    end: datetime

    def get(self, path: str, **params) -> object:
        """The read API's own answer: what the report must show."""
        response = httpx.get(self.live.url + path, params=params, timeout=120,
                             headers={"Authorization": f"Bearer {self.live.tokens['read']}"})
        response.raise_for_status()
        return response.json()


def pause_for_the_evaluator(start: datetime):
    """The simulator posts far faster than event time passes; every 5 event minutes around the
    incident it waits a little over one evaluator interval, so passes judge the incident's
    onset and its end (the engine dates an episode's start back to the burn's own onset)."""

    def after_minute(at: datetime) -> None:
        offset = at - start
        if INCIDENT_ONSET <= offset <= INCIDENT_END + timedelta(minutes=30) and offset.seconds // 60 % 5 == 0:
            time.sleep(1.3)

    return after_minute


def run_report(seeded: Seeded, out_dir: Path, month: str, pdf: bool = True) -> subprocess.CompletedProcess:
    """`asrwatch report` as a user runs it, the token in the environment (never on argv)."""
    argv = [sys.executable, "-m", "asrwatch", "report", "--month", month, "--api", seeded.live.url,
            "--out", str(out_dir / "report.html")]
    if pdf:
        argv += ["--pdf", str(out_dir / "report.pdf")]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(out_dir), "ASRWATCH_TOKEN": seeded.live.tokens["read"]}
    return subprocess.run(argv, cwd=out_dir, capture_output=True, text=True, timeout=600, env=env)
