"""The drift loop's last pass, kept in the store (table `drift_reports`, one row per drift config).

A scan of a million sessions takes tens of seconds, so a console page loaded right after a
collector start must not wait for one: the loop writes each pass here, and any replica (the
one that leads the loop or not, a restarted one) answers a live request from the newest pass
that is fresh enough. The report is kept as the JSON the API answers with (`ScanReport.to_dict`),
written with the standard library so that floats, NaN included, read back exactly as they
were; an answer from the store is the answer the scan gave.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.store import dialect_insert, read_connection, write_transaction
from drift.config import DriftConfig
from drift.models import DriftReportRecord
from drift.scan import ScanReport


@dataclass(frozen=True)
class StoredReport:
    at: datetime
    report: dict[str, Any]  # what `ScanReport.to_dict()` gave


def config_key(config: DriftConfig) -> str:
    """One row per question the loop answers: the same config, the same key on every replica."""
    return hashlib.sha256(repr(config).encode()).hexdigest()


def save_report(engine: Engine, config: DriftConfig, report: ScanReport, written_at: datetime) -> None:
    """Keep `report` as the config's last pass. The last written wins, not the latest `at`: the
    evaluation clock can step back (the wall clock, then a replay's watermark once data arrives)."""
    body = json.dumps(report.to_dict())
    row = {"config_key": config_key(config), "at": report.at, "report": body, "written_at": written_at}
    table = DriftReportRecord.__table__
    # One upsert under the write lock taken up front: an ingest committing in between cannot make
    # SQLite refuse the write, and two replicas during a leader change cannot both insert the key.
    with write_transaction(engine) as conn:
        conn.execute(dialect_insert(conn, table).values(row).on_conflict_do_update(
            index_elements=["config_key"], set_={k: row[k] for k in ("at", "report", "written_at")}))


def stored_at(engine: Engine, config: DriftConfig) -> datetime | None:
    """When the config's last stored pass ends (without reading the report)."""
    t = DriftReportRecord.__table__.c
    with read_connection(engine) as conn:
        return conn.execute(select(t.at).where(t.config_key == config_key(config))).scalar()


def latest_report(engine: Engine, config: DriftConfig, since: datetime, until: datetime) -> StoredReport | None:
    """The config's last stored pass if it ends in [since, until] (the caller's freshness)."""
    t = DriftReportRecord.__table__.c
    with read_connection(engine) as conn:
        row = conn.execute(select(t.at, t.report).where(t.config_key == config_key(config), t.at >= since,
                                                        t.at <= until)).first()
    return None if row is None else StoredReport(row.at, json.loads(row.report))
