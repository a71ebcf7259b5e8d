"""`asrwatch serve` shows its own INFO lines (compaction, drift passes), not only uvicorn's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.live_collector import running_collector
from tests.polling import wait_for


def test_serve_logs_its_own_info_lines_with_logger_names(tmp_path: Path) -> None:
    # A session three hours old: its hour is behind the compaction horizon, so the first
    # compaction pass (one second after start) compacts it and says so at INFO.
    with running_collector(tmp_path, {"compaction_interval_s": 1}) as collector:
        ts = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
        with collector.client("ingest") as client:
            response = client.post("/api/v1/sessions", json=[
                {"session_id": "s-1", "ts": ts, "model_version": "v1", "status": "ok", "final_latency_ms": 300}])
        assert response.status_code == 200, response.text
        line = wait_for(lambda: next((line for line in collector.log().splitlines() if "compacted" in line), None),
                        timeout_s=60, what="a compaction line in the collector's log")
        assert " INFO collector.store.compaction: compacted " in line
