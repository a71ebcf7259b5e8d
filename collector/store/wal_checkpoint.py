"""SQLite WAL checkpoints off the request path.

In WAL mode every commit appends its pages to the `-wal` file, and whichever connection commits
past `wal_autocheckpoint` pages copies the WAL back into the database file before its commit
returns. With the default of 1,000 pages (4 MiB) that was every third ingest batch, inside the
request a sender waits for, and about a tenth of ingest time on average. The collector's engines
raise the threshold to `database.WAL_AUTOCHECKPOINT_PAGES`, and the server
runs `checkpoint` every second as a background job: a PASSIVE checkpoint copies what it can
without taking any lock that writers or readers wait for, on a connection of its own (outside
the pool, whose connections keep their page caches). Durability is the same either way: a
commit is durable once it is in the WAL. When the job cannot keep up (or a process runs without
it, as the CLI's do), writers still checkpoint at the raised threshold (40 MiB of WAL).
"""

from __future__ import annotations

import logging
import sqlite3

from sqlalchemy.engine import Engine

from collector.store.database import WAL_AUTOCHECKPOINT_PAGES, sqlite_file

log = logging.getLogger("collector.store")

_last_error: dict[str, str] = {}


def checkpoint(engine: Engine) -> tuple[int, int] | None:
    """One PASSIVE checkpoint of the engine's SQLite file: (WAL frames, frames checkpointed), or
    None for PostgreSQL, an in-memory database, or a pass that failed (logged once per new
    reason: a full disk would otherwise log every second)."""
    path = sqlite_file(str(engine.url)) if engine.dialect.name == "sqlite" else None
    if path is None or not path.exists():
        return None
    try:
        conn = sqlite3.connect(path, timeout=1)
        try:
            _busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if _last_error.get(str(path)) != str(exc):
            _last_error[str(path)] = str(exc)
            log.warning("WAL checkpoint of %s failed: %s (writers still checkpoint past %d pages)",
                        path, exc, WAL_AUTOCHECKPOINT_PAGES)
        return None
    _last_error.pop(str(path), None)
    return frames, done
