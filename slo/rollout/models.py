"""Rollout tables (migration 0004_rollouts): rollouts and actions taken."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from collector.store import Base, LeaderLease  # noqa: F401  (the lease lives with the store's lock)

_ID = BigInteger().with_variant(Integer, "sqlite")


class RolloutRow(Base):
    __tablename__ = "rollouts"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    baseline_version: Mapped[str] = mapped_column(String(128))
    canary_version: Mapped[str] = mapped_column(String(128))
    slice_by: Mapped[list[Any]] = mapped_column(JSON)
    protected_slices: Mapped[list[Any]] = mapped_column(JSON)
    min_utterances: Mapped[int] = mapped_column(Integer)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON)
    since: Mapped[datetime | None]  # event-time start of the judged window (None: `at - lookback`)
    lookback_s: Mapped[float] = mapped_column(Float)
    dry_run: Mapped[bool]
    state: Mapped[str] = mapped_column(String(16))  # active | rolled_back
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime]
    last_decision: Mapped[str | None] = mapped_column(String(16))
    last_verdict: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_evaluated_at: Mapped[datetime | None]


class RolloutAction(Base):
    """One actuator run for one rollout decision. Unique per (rollout, action, actuator), so
    a second evaluator (or a retry) cannot act twice."""

    __tablename__ = "rollout_actions"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    rollout: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    actuator: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    dry_run: Mapped[bool]
    ok: Mapped[bool]
    detail: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ux_rollout_actions_once", "rollout", "action", "actuator", unique=True),)
