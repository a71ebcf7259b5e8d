"""The SLO engine's table: alert state transitions recorded by the evaluator."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from collector.store import Base
from slo.alert import Alert


class SLOAlertState(Base):
    """One firing episode of an alert: opened at starts_at, closed at resolved_at (None while
    firing). `routed_to` is filled by the alert router with the receivers it notified."""

    __tablename__ = "slo_alert_state"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    slo: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    starts_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    last_evaluated_at: Mapped[datetime]
    summary: Mapped[str] = mapped_column(Text, default="")
    runbook_url: Mapped[str] = mapped_column(String(512), default="")
    annotations: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    routed_to: Mapped[list[str] | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ux_slo_alert_state_episode", "fingerprint", "starts_at", unique=True),
        Index("ix_slo_alert_state_open", "resolved_at", "fingerprint"),
    )

    def to_alert(self) -> Alert:
        """The episode as an Alert, as it was last recorded (`ends_at` = its resolution, if any)."""
        return Alert(name=self.name, severity=self.severity, labels=dict(self.labels),  # type: ignore[arg-type]
                     summary=self.summary, runbook_url=self.runbook_url, starts_at=self.starts_at,
                     ends_at=self.resolved_at, annotations=dict(self.annotations or {}))
