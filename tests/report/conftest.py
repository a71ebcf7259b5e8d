"""A live collector per engine seeded with last month's traffic (`report_seed`), and the report
`asrwatch report` writes from it, HTML and PDF, as a user runs it."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
from live_collector import running_collector  # noqa: E402
from postgres import create_database, drop_database  # noqa: E402
from report_seed import (CANARY, CONFIG, HOURS, INCIDENT, Seeded, last_month,  # noqa: E402
                         pause_for_the_evaluator, run_report)


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def seeded(request, tmp_path_factory) -> Seeded:
    from simulator.fleet import FleetConfig
    from simulator.run import simulate

    database_url = None if request.param == "sqlite" else create_database()
    month = last_month(datetime.now(timezone.utc))
    year, mon = (int(p) for p in month.split("-"))
    start = datetime(year, mon, 10, 8, 0, tzinfo=timezone.utc)
    try:
        with running_collector(tmp_path_factory.mktemp(f"report-{request.param}"), CONFIG, database_url) as live:
            result = simulate(live.url, live.tokens["ingest"], [INCIDENT, CANARY], start=start, hours=HOURS,
                              rate=30, seed=11, fleet=FleetConfig(label_fraction=0.2), progress=False,
                              after_minute=pause_for_the_evaluator(start))
            assert result.stats.rejected == 0 and not result.stopped_early
            time.sleep(2)  # a last evaluator pass at the final watermark
            yield Seeded(live, month, start, result.end)
    finally:
        if database_url:
            drop_database(database_url)


@pytest.fixture(scope="session")
def written(seeded, tmp_path_factory) -> Path:
    """The month's report (HTML and PDF), written once per engine."""
    out = tmp_path_factory.mktemp("report-out")
    done = run_report(seeded, out, seeded.month)
    assert done.returncode == 0, done.stderr
    assert seeded.live.tokens["read"] not in done.stderr + done.stdout
    return out
