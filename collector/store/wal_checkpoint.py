"""SQLite WAL checkpoints off the request path.

In WAL mode every commit appends its pages to the `-wal` file, and whichever connection commits
past `wal_autocheckpoint` pages copies the WAL back into the database file before its commit
returns. With the default of 1,000 pages (4 MiB) that was every third ingest batch, inside the
request a sender waits for, and about a tenth of ingest time on average. The collector's engines
raise the threshold to `database.WAL_AUTOCHECKPOINT_PAGES`, and the server runs a
`WalCheckpointer` every second as a background job: a PASSIVE checkpoint copies what it can
without waiting for, or holding, a lock that writers or readers take. Its connection is its own
(outside the pool, whose connections keep their page caches) and stays open, so its close is
never the last one (which would checkpoint in full and delete the WAL under an exclusive lock).
Durability is the same either way: a commit is durable once it is in the WAL. When the job cannot
keep up, or a process runs without it (the CLI's), writers still checkpoint past the raised
threshold; `journal_size_limit` then truncates the WAL back to 4 MiB when it starts over.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from sqlalchemy.engine import Engine

from collector.store.database import WAL_AUTOCHECKPOINT_PAGES, sqlite_file

log = logging.getLogger("collector.store")


def checkpointed_file(engine: Engine) -> Path | None:
    """The SQLite file the engine writes, or None: PostgreSQL, an in-memory database, or a file
    opened read-only (`mode=ro`, `immutable=1`), which a checkpoint must not write."""
    if engine.dialect.name != "sqlite":
        return None
    query = engine.url.query
    if query.get("mode") == "ro" or query.get("immutable") == "1":
        return None
    return sqlite_file(str(engine.url))


class WalCheckpointer:
    """PASSIVE checkpoints of one SQLite file, on a connection opened at the first pass."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._failing: str | None = None  # the reason last logged, until a pass succeeds

    def run(self) -> tuple[int, int] | None:
        """One checkpoint: (WAL frames, frames now in the database file), or None when the file
        does not exist yet, is not in WAL mode, or the pass failed (logged when it starts failing
        or fails for another reason: a full disk would otherwise log every second)."""
        if not self.path.exists():
            return None
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self.path, timeout=1, check_same_thread=False)  # one pass at a time
            # fetchall: the statement ends, so this connection holds no read snapshot between passes
            # (one would keep writers from starting the WAL over).
            [(_busy, frames, done)] = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            if self._failing != str(exc):
                self._failing = str(exc)
                log.warning("WAL checkpoint of %s failed: %s (writers still checkpoint past %d pages)",
                            self.path, exc, WAL_AUTOCHECKPOINT_PAGES)
            return None
        self._failing = None
        return None if frames < 0 else (frames, done)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
