"""The maintenance windows' SQL: the API's windows stored in `maintenance_windows`, read beside
the config's (`slo.maintenance`), and created and ended with their audit rows in one
transaction (so a window never changes without its record)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Engine

from collector.store import AuditEntry, MaintenanceWindowRow, audit, read_connection, write_transaction
from slo.maintenance import MaintenanceWindow, WindowSpec, as_windows
from slo.series import floor_minute

CREATE, END, REMOVE = "maintenance.create", "maintenance.end", "maintenance.remove"


def stored_windows(conn: Connection, since: datetime | None = None, until: datetime | None = None
                   ) -> list[MaintenanceWindow]:
    """The stored windows overlapping [since, until) (either bound optional), by start."""
    table = MaintenanceWindowRow.__table__
    query = select(table).order_by(table.c.starts_at, table.c.id)
    if since is not None:
        query = query.where(table.c.ends_at > since)
    if until is not None:
        query = query.where(table.c.starts_at < until)
    return as_windows(conn.execute(query).mappings())


def windows_between(conn: Connection, configured: Sequence[MaintenanceWindow], since: datetime | None,
                    until: datetime | None) -> list[MaintenanceWindow]:
    """The config's and the stored windows overlapping [since, until), by start."""
    mine = [w for w in configured if (since is None or w.ends_at > since) and (until is None or w.starts_at < until)]
    return sorted(mine + stored_windows(conn, since, until), key=lambda w: (w.starts_at, w.id))


def list_windows(engine: Engine, configured: Sequence[MaintenanceWindow], since: datetime | None,
                 until: datetime | None) -> list[MaintenanceWindow]:
    with read_connection(engine) as conn:
        return windows_between(conn, configured, since, until)


def create(engine: Engine, spec: WindowSpec, actor: str, at: datetime) -> MaintenanceWindow:
    """Store the window and its audit row (`maintenance.create`, actor and the window)."""
    window = spec.window(f"mw-{uuid.uuid4().hex[:16]}", "api", actor[:128], at)
    with write_transaction(engine) as conn:
        conn.execute(MaintenanceWindowRow.__table__.insert().values(
            id=window.id, name=window.name, reason=window.reason, starts_at=window.starts_at,
            ends_at=window.ends_at, slos=list(window.slos), labels=dict(window.labels),
            created_by=window.created_by, created_at=at))
        _audit(conn, audit.entry(at, actor, CREATE, window.id, window.reason or window.name,
                                 _evidence(window)))
    return window


def end(engine: Engine, window_id: str, actor: str, now: datetime, at: datetime, remove_past: bool = False
        ) -> tuple[Literal["maintenance.end", "maintenance.remove", "unchanged"], MaintenanceWindow] | None:
    """DELETE: a window active at `now` (the collector's clock, event time) ends then; one not
    started yet is removed; one already over stays as it is ("unchanged", nothing audited), so a
    retried DELETE of an active window does not turn its end into a removal, unless
    `remove_past` asks for that (its events then count in budgets and alerts again). None when
    there is no such stored window. `at` is the wall clock, for the audit row."""
    table = MaintenanceWindowRow.__table__
    minute = floor_minute(now)
    with write_transaction(engine) as conn:
        row = conn.execute(select(table).where(table.c.id == window_id)).mappings().first()
        if row is None:
            return None
        (window,) = as_windows([row])
        if window.starts_at < minute < window.ends_at:
            conn.execute(update(table).where(table.c.id == window_id).values(ends_at=minute))
            action: Literal["maintenance.end", "maintenance.remove", "unchanged"] = END
            reason = f"ended at {minute.isoformat()} (event time) via API"
            window = replace(window, ends_at=minute)
        elif minute <= window.starts_at or remove_past:
            conn.execute(delete(table).where(table.c.id == window_id))
            action = REMOVE
            reason = "removed via API" + (" (over: its events count again)" if minute > window.starts_at else "")
        else:
            return "unchanged", window
        _audit(conn, audit.entry(at, actor, action, window_id, reason, _evidence(window)))
    return action, window


def _evidence(window: MaintenanceWindow) -> dict:
    return {"name": window.name, "starts_at": window.starts_at.isoformat(), "ends_at": window.ends_at.isoformat(),
            "slos": list(window.slos), "labels": dict(window.labels)}


def _audit(conn: Connection, entry: AuditEntry) -> None:
    # The ORM row `audit.entry` builds, inserted on this connection: one transaction with the window.
    table = AuditEntry.__table__
    conn.execute(table.insert().values({c.name: getattr(entry, c.name) for c in table.columns if c.name != "id"}))
