"""Two replicas on one PostgreSQL both run the SLO evaluator: exactly one leads (advisory
lock, shown as `asrwatch_slo_evaluator_leader` on /metrics); kill -9 of the leader hands the
lead to the other, which carries on the open alert episode instead of recording it again."""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from collector.store.database import make_engine
from slo.models import SLOAlertState

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside this file
from polling import wait_for  # noqa: E402
from replicas import replicas  # noqa: E402

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 3, 12, 0, tzinfo=timezone.utc)  # event time; the watermark clock follows the data
CONFIG = {
    "slos": [{"name": "avail", "sli": "availability", "objective": 0.99, "window": "1d",
              "group_by": ["region"], "min_events": 20}],
    "evaluator_interval_s": 0.3,
    "evaluator_clock": "watermark",
}
GAUGE = re.compile(r"^asrwatch_slo_evaluator_leader (\S+)$", re.M)
TIMEOUT_S = 90  # generous: the machine is shared; the test waits for states, never times them


def sessions(first_minute: int, last_minute: int, outage_from: int | None) -> list[dict]:
    out = []
    for minute in range(first_minute, last_minute):
        for region in ("eu", "us"):
            for i in range(8):
                outage = region == "eu" and outage_from is not None and minute >= outage_from
                out.append({"session_id": f"lead-{minute}-{region}-{i}",
                            "ts": (T0 + timedelta(minutes=minute, seconds=7 * i)).isoformat(),
                            "model_version": "v1", "region": region,
                            "status": "timeout" if outage and i % 2 else "ok"})
    return out


def leader_flags(live) -> list[float | None]:
    """Each replica's gauge; None for a replica that does not answer (killed)."""
    flags = []
    for replica in live:
        if replica.process.poll() is not None:
            flags.append(None)
            continue
        with replica.client("read") as http:
            match = GAUGE.search(http.get("/metrics").text)
        flags.append(float(match.group(1)) if match else None)
    return flags


def one_leader(flags: list[float | None]) -> list[float | None] | None:
    return flags if sorted(flags, key=str) == [0.0, 1.0] else None


def episodes(engine) -> list[SLOAlertState]:
    with engine.connect() as conn:
        return list(conn.execute(select(SLOAlertState)).all())


def test_one_evaluator_leader_and_failover_after_kill_9(tmp_path, postgres_url):
    engine = make_engine(postgres_url)
    try:
        with replicas(tmp_path, postgres_url, 2, CONFIG) as live:
            flags = wait_for(lambda: one_leader(leader_flags(live)), TIMEOUT_S, "one replica reports leader=1, the other 0")
            leader = flags.index(1.0)
            for _ in range(10):  # and it stays that way: the lead does not alternate between passes
                assert leader_flags(live) == flags
                time.sleep(0.1)

            # Ingest through the follower: any replica takes writes, only the leader evaluates.
            with live[1 - leader].client("ingest") as http:
                r = http.post("/api/v1/sessions", json=sessions(-120, 0, outage_from=-15))
                assert r.status_code == 200 and r.json()["accepted"] == 120 * 2 * 8, r.text
            page = wait_for(lambda: [e for e in episodes(engine) if e.severity == "page" and e.resolved_at is None],
                            TIMEOUT_S, "the leader records the eu page")
            assert [e.labels["region"] for e in page] == ["eu"]
            before = {(e.fingerprint, e.starts_at) for e in episodes(engine)}

            live[leader].kill()
            survivor = live[1 - leader]
            wait_for(lambda: leader_flags(live)[1 - leader] == 1.0, TIMEOUT_S, "the survivor takes the lead")

            # Recovery data moves the watermark on: the 5m window is clean, the page resolves,
            # and it is the survivor that records it.
            with survivor.client("ingest") as http:
                r = http.post("/api/v1/sessions", json=sessions(0, 20, outage_from=None))
                assert r.status_code == 200 and r.json()["accepted"] == 20 * 2 * 8, r.text
            (closed,) = wait_for(lambda: [e for e in episodes(engine) if e.fingerprint == page[0].fingerprint
                                          and e.resolved_at is not None], TIMEOUT_S, "the survivor resolves the page")
            with survivor.client("read") as http:
                resolved = http.get("/api/v1/alerts", params={"state": "resolved",
                                                              "at": closed.resolved_at.isoformat()}).json()["alerts"]
            logs = [replica.log() for replica in live]
    finally:
        after = episodes(engine)
        engine.dispose()

    # Each alert's episode was recorded once, by whichever replica led, and kept its starts_at
    # across the failover; the resolution is a transition on that same row.
    assert sorted((e.fingerprint, e.starts_at) for e in after) == sorted(before)
    assert len({e.fingerprint for e in after}) == len(after)
    (page_row,) = [e for e in after if e.fingerprint == page[0].fingerprint]
    assert page_row.starts_at == page[0].starts_at and page_row.resolved_at is not None
    assert [a["fingerprint"] for a in resolved if a["severity"] == "page"] == [page_row.fingerprint]
    assert logs[leader].count("is now the leader") == 1
    assert logs[1 - leader].count("is now the leader") == 1  # once, after the kill
