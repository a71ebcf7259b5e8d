"""Router tables (migration 0003_router): notification log, silences, tickets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from collector.store import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class NotificationLog(Base):
    """One delivery of one notification to one receiver (after its retries)."""

    __tablename__ = "router_notifications"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    receiver: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    group_key: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))  # firing | resolved
    alerts: Mapped[list[Any]] = mapped_column(JSON)  # [{fingerprint, alertname, severity, status}]
    delivered: Mapped[bool]
    attempts: Mapped[int] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_router_notifications_at", "at"),)


class SilenceRow(Base):
    __tablename__ = "router_silences"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    matchers: Mapped[list[Any]] = mapped_column(JSON)  # Alertmanager v2 matcher dicts
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expired_at: Mapped[datetime | None]  # set by DELETE; the row is kept for the record

    __table_args__ = (Index("ix_router_silences_ends_at", "ends_at"),)


class TicketRow(Base):
    """A ticket for a model team: one open ticket per notification group."""

    __tablename__ = "router_tickets"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    group_key: Mapped[str] = mapped_column(String(512))
    receiver: Mapped[str] = mapped_column(String(128))
    team: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # open | closed
    title: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    alerts: Mapped[list[Any]] = mapped_column(JSON)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_router_tickets_group_status", "group_key", "status"),)
