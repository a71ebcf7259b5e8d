"""Drift tables (migration 0005_drift): pinned baselines and finding state across scans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from collector.store import Base


class DriftBaseline(Base):
    """A model version's pinned reference window (instead of the 7 days before `at`)."""

    __tablename__ = "drift_baselines"

    model_version: Mapped[str] = mapped_column(String(128), primary_key=True)
    reference_start: Mapped[datetime]
    reference_end: Mapped[datetime]
    pinned_at: Mapped[datetime]
    pinned_by: Mapped[str] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text, default="")


class DriftFindingState(Base):
    """One ticket-worthy finding across evaluations: opened once, refreshed while it
    recurs, resolved when a scan no longer shows it, so the router hears each change once."""

    __tablename__ = "drift_findings"

    fingerprint: Mapped[str] = mapped_column(String(32), primary_key=True)
    alertname: Mapped[str] = mapped_column(String(64))
    feature: Mapped[str] = mapped_column(String(64))
    slice_key: Mapped[str] = mapped_column(String(512))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # open | resolved
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    summary: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, Any] | None]

    __table_args__ = (Index("ix_drift_findings_status", "status"),)


class DriftReportRecord(Base):
    """The drift loop's last pass per drift config (migration 0007): a restarted collector, or
    a replica that does not lead, answers a live request from it instead of scanning again."""

    __tablename__ = "drift_reports"

    config_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the config
    at: Mapped[datetime]
    report: Mapped[str] = mapped_column(Text)  # ScanReport.to_dict() as JSON text (NaN kept)
    written_at: Mapped[datetime]
