"""`asrwatch demo --headless --lockstep` runs the closed loop for a short span and says what fired.

In lockstep the replay runs as fast as the machine allows and the collector's jobs pass at fixed
event minutes, so the outcome depends on the seed and `--start`, not on the machine's load.
"""

import json
import subprocess
import sys

from live_collector import free_port

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
