"""`asrwatch demo --headless --lockstep` runs the closed loop for a short span and says what fired.

In lockstep the replay runs as fast as the machine allows and the collector's jobs pass at fixed
event minutes, so the outcome depends on the seed and `--start`, not on the machine's load.
"""

import json
import os
import subprocess
import sys

import httpx

from live_collector import free_port
from polling import wait_for

# A fixed span in the past: the same traffic (the simulator seeds each minute by its timestamp),
# so the same summary, on every run.
START = "2026-11-20T08:00:00Z"


def test_headless_demo_closes_the_loop(tmp_path):
    data_dir = tmp_path / "asrwatch-data"
    result = subprocess.run(
        [sys.executable, "-m", "asrwatch", "demo", "--headless", "--lockstep", "--start", START, "--hours", "5",
         "--rate", "120", "--probe-limit", "0", "--port", str(free_port()), "--data-dir", str(data_dir)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "asrwatch demo summary" in result.stdout
    summary = json.loads((data_dir / "demo-summary.json").read_text())
    incidents = {i["scenario"]: i for i in summary["incidents"]}

    canary = incidents["canary-far-field-endpointing"]
    assert canary["pages"] >= 1, summary                       # burn-rate page on the canary's slice
    assert canary["minutes_to_rollback"] is not None           # the judge rolled it back
    assert canary["page_resolved"], summary                    # traffic moved, burn stopped, page resolved
    assert summary["rollbacks"] == 1

    routing = json.dumps(summary["tickets_by_title"])
    assert "speech-core" in summary["ticket_teams"]            # drift/WER ticket reaches the owning team
    assert "sa-east" in routing                                # ... for the regional regression
    assert "finops" in summary["ticket_teams"] and "CostRegression" in routing  # cost ticket with drivers

    assert summary["unexplained_alerts"] == [], summary["unexplained_alerts"]  # nothing fired for benign parts
    token_free = result.stdout + result.stderr
    assert "Traceback" not in token_free

    # It said how far it had come, all the way, and did not stop early.
    assert "progress: 5.0 of 5 h replayed (100%)" in result.stdout and "stopped early" not in result.stdout
    assert summary["replay_shortfall"] is None
    assert "RESOLVED page " in result.stdout                  # the canary's page resolved, severity named
    # Each ticket is credited to an incident, the regional one's to the regional regression.
    credited = dict(zip(summary["tickets_by_title"], summary["ticket_incidents"]))
    assert all(credited.values()), credited
    assert any("sa-east" in title and incident == "regional-regression" for title, incident in credited.items())

    # The way back it prints works: a collector on the demo's database answers with the same tickets.
    serve = next(line.strip() for line in result.stdout.splitlines() if "asrwatch serve --config" in line)
    env_assignment, command = serve.split(" ", 1)
    name, value = env_assignment.split("=", 1)
    argv = command.split()
    port = free_port()
    argv[argv.index("--port") + 1] = str(port)
    with subprocess.Popen([sys.executable, "-m", *argv], env={**os.environ, name: value}, cwd=tmp_path,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as collector:
        try:
            tickets = wait_for(lambda: _get_json(f"http://127.0.0.1:{port}/api/v1/tickets?limit=1000"), 60,
                               "the reopened collector answering")
            assert len(tickets) == summary["tickets"]
        finally:
            collector.terminate()


def _get_json(url: str):
    try:
        response = httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None
