"""One acting evaluator across replicas.

PostgreSQL: `pg_try_advisory_lock` held on a dedicated connection for as long as this
process leads; if the process dies its connection closes and the lock is released by the
server, so another replica takes over on its next try.
SQLite (one host, typically one process): a process-local lock plus a lease row with an
expiry, renewed on every `acquire()` while leading; a lease whose holder was a process on this
host that no longer runs (a crash, kill -9) is taken over at once instead of at its expiry.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

_LOCAL: dict[str, threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()
# host:pid:instance — the instance tells this process from an earlier one that had the same pid
# (a container restarted with the same hostname often reuses the pid).
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def process_gone(process_id: str) -> bool:
    """True when `process_id` (see PROCESS_ID) names a process on this host that is no longer
    running. False when it may still run, or runs elsewhere: only time can tell then."""
    try:
        host, pid_text, _instance = process_id.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return process_id != PROCESS_ID
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class LeaderLock:
    def __init__(self, engine: Engine, name: str = "asrwatch-evaluator", *, lease_s: float = 60.0,
                 holder: str | None = None) -> None:
        self.engine = engine
        self.name = name
        self.lease_s = lease_s
        self.holder = holder or PROCESS_ID
        self._conn: Connection | None = None
        self._local_held = False
        self._mutex = threading.Lock()  # one LeaderLock may be shared by the loop and API threads

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def is_leader(self) -> bool:
        return self._conn is not None if self.postgres else self._local_held

    def acquire(self, at: datetime | None = None) -> bool:
        """Try to lead (or keep leading). Never blocks on another process."""
        with self._mutex:
            if self.postgres:
                return self._acquire_pg()
            return self._acquire_sqlite(at or datetime.now(timezone.utc))

    def release(self) -> None:
        with self._mutex:
            self._release()

    def _release(self) -> None:
        if self.postgres:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.name)})
                    self._conn.commit()
                finally:
                    self._conn.close()
                    self._conn = None
            return
        if self._local_held:
            from sqlalchemy import delete

            from collector.store.models import LeaderLease

            with self.engine.begin() as conn:
                conn.execute(delete(LeaderLease).where(LeaderLease.name == self.name,
                                                       LeaderLease.holder == self.holder))
            self._local_held = False
            _local_lock(self.name).release()

    def __enter__(self) -> "LeaderLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _acquire_pg(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except Exception:
                # The connection dropped, and with it the lock: compete again.
                self._conn.invalidate()
                self._conn = None
        conn = self.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(self.name)}).scalar()
            conn.commit()
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def _acquire_sqlite(self, at: datetime) -> bool:
        from sqlalchemy import select

        from collector.store.models import LeaderLease

        if not self._local_held:
            if not _local_lock(self.name).acquire(blocking=False):
                return False
            self._local_held = True
        expires = at + timedelta(seconds=self.lease_s)
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                row = conn.execute(select(LeaderLease).where(LeaderLease.name == self.name)).first()
                if row is None:
                    conn.execute(LeaderLease.__table__.insert().values(name=self.name, holder=self.holder,
                                                                      expires_at=expires))
                elif row.holder == self.holder or row.expires_at <= at or process_gone(row.holder):
                    conn.execute(LeaderLease.__table__.update().where(LeaderLease.name == self.name)
                                 .values(holder=self.holder, expires_at=expires))
                else:
                    self._local_held = False
                    _local_lock(self.name).release()
                    return False
        return True


def _local_lock(name: str) -> threading.Lock:
    with _LOCAL_GUARD:
        return _LOCAL.setdefault(name, threading.Lock())
