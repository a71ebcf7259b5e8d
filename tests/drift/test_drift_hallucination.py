"""The `hallucination` drift feature: the flagged share of each slice's sessions checked at
ingest, on the simulator's `hallucination-burst` (far_field) stored through the ingest path."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from collector.api import runbooks
from drift.config import DriftConfig
from drift.features import hallucination_levels
from drift.service import scan_database

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
from drift_simulated import AT, simulate  # noqa: E402

SHORT = DriftConfig(current_hours=1, reference_days=2 / 24)


def test_levels_leave_unchecked_sessions_out():
    encoded = hallucination_levels(np.array([np.nan, 0.0, 3.0, 4.0, np.nan, 0.0]))
    assert encoded.levels == ["clean", "flagged"]
    assert encoded.codes.tolist() == [-1, 0, 1, 1, -1, 0]


def test_a_hallucination_burst_is_a_ticket_on_its_channel(tmp_path):
    engine, truths, _ = simulate(tmp_path, ["hallucination-burst"], hours=3, onset_hours=2, rate=40,
                                 label_fraction=1.0)
    (truth,) = truths
    report = scan_database(engine, SHORT, AT)
    tickets = [f for f in report.tickets() if f.feature == "hallucination"]
    assert [f.slice_key for f in tickets] == ["channel=far_field"] == [
        ",".join(f"{k}={v}" for k, v in truth.where.items())]
    (finding,) = tickets
    assert finding.reference_value == {"clean": 1.0, "flagged": 0.0}
    assert abs(finding.current_value["flagged"] - truth.expected["hallucinated_share"]) < 0.06
    assert "'flagged' 0.0% ->" in finding.summary and finding.example_session_ids
    assert runbooks.resolve(finding.to_alert(AT).runbook_url.rsplit("/", 1)[1]) == "slo-burn-hallucination"
    # Nothing else drifted in hallucinations: the other channels' findings are absent or explained.
    others = [f for f in report.findings if f.feature == "hallucination" and f.severity != "info"]
    assert others == tickets
    engine.dispose()
