"""`asrwatch serve` end to end: the SLO and alert endpoints answer the same whenever asked
for the same `at`, and the evaluator inside the server records the firing page."""

from __future__ import annotations

import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from live_collector import running_collector  # noqa: E402

from collector.store.database import make_engine  # noqa: E402
from slo.models import SLOAlertState  # noqa: E402

CONFIG = {
    "slos": [{"name": "avail", "sli": "availability", "objective": 0.99, "window": "1d",
              "group_by": ["region"], "min_events": 20}],
    "evaluator_interval_s": 0.5,
    "runbook_base_url": "http://runbooks.example",
}


def _sessions(now: datetime) -> list[dict]:
    rng = random.Random(3)
    out = []
    for minute in range(-120, 0):
        for region in ("eu", "us"):
            for i in range(8):
                outage = region == "eu" and minute >= -15
                out.append({
                    "session_id": f"live-{minute}-{region}-{i}",
                    "ts": (now + timedelta(minutes=minute, seconds=rng.randrange(60))).isoformat(),
                    "model_version": "v1", "region": region,
                    "status": "timeout" if outage and i % 2 else "ok",
                })
    return out


def test_api_is_pure_in_at_and_the_evaluator_records_the_page(tmp_path):
    with running_collector(tmp_path, CONFIG) as live:
        now = datetime.now(timezone.utc)
        with live.client("ingest") as ingest:
            response = ingest.post("/api/v1/sessions", json=_sessions(now))
            assert response.status_code == 200, response.text
            assert response.json()["accepted"] == 120 * 2 * 8
        at = now.replace(second=0, microsecond=0).isoformat()
        with live.client("read") as read:
            assert read.get("/api/v1/alerts", headers={"Authorization": ""}).status_code == 401
            slos_1 = read.get("/api/v1/slos", params={"at": at}).json()
            alerts_1 = read.get("/api/v1/alerts", params={"state": "firing", "at": at}).json()
            time.sleep(1.5)
            slos_2 = read.get("/api/v1/slos", params={"at": at}).json()
            alerts_2 = read.get("/api/v1/alerts", params={"state": "firing", "at": at}).json()
            assert slos_1 == slos_2
            assert [a["fingerprint"] for a in alerts_1["alerts"]] == [a["fingerprint"] for a in alerts_2["alerts"]]
            assert [{k: v for k, v in a.items() if k != "routed_to"} for a in alerts_1["alerts"]] == \
                   [{k: v for k, v in a.items() if k != "routed_to"} for a in alerts_2["alerts"]]

            (slo,) = slos_1["slos"]
            groups = {g["group"]["region"]: g for g in slo["groups"]}
            assert set(groups["eu"]["burn_rates"]) == {"5m", "30m", "1h", "2h", "6h", "1d", "3d"}
            assert groups["eu"]["burn_rates"]["5m"] > 14.4 and groups["us"]["burn_rates"]["5m"] == 0
            assert groups["us"]["error_budget_remaining"] == 1.0
            assert [a["severity"] for a in groups["eu"]["alerts"]] == ["page"]

            (page,) = alerts_1["alerts"]
            assert page["severity"] == "page" and page["name"] == "SLOErrorBudgetBurn"
            assert page["labels"] == {"alertname": "SLOErrorBudgetBurn", "slo": "avail", "severity": "page",
                                      "region": "eu"}
            assert page["runbook_url"] == "http://runbooks.example/slo-burn-availability"
            assert "of the 1d budget left" in page["summary"]
            assert page["routed_to"] == []

            # Before the outage nothing fired, whenever asked.
            earlier = (now - timedelta(minutes=30)).isoformat()
            assert read.get("/api/v1/alerts", params={"at": earlier}).json()["alerts"] == []
            bad = read.get("/api/v1/alerts", params={"at": "yesterday"})
            assert bad.status_code == 422 and "at" in bad.text

        engine = make_engine(live.database_url)
        deadline = time.monotonic() + 30
        rows = []
        while time.monotonic() < deadline and not rows:
            with OrmSession(engine) as db:
                rows = db.scalars(select(SLOAlertState).where(SLOAlertState.severity == "page")).all()
            time.sleep(0.3)
        engine.dispose()
        assert rows, live.log()
        assert rows[0].fingerprint == page["fingerprint"] and rows[0].resolved_at is None
