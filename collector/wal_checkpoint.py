"""SQLite WAL checkpoints in a background thread, off the ingest path.

By default the commit that takes the write-ahead log past 1000 pages (4 MB) also copies the log
back into the database file and syncs it, and the sender waits for that. With batches of 100 a
commit took 1.1 ms on average that way, and 0.3 ms without it (measured here, `bench/ingest.py`).
An ingesting collector instead checkpoints from one thread per database file, every
`INTERVAL_S` (PASSIVE: it neither waits for nor blocks readers and writers), and each
connection's automatic checkpoint stays only as a backstop (`BACKSTOP_PAGES`, set by
`collector.database`). Durability is unchanged: with synchronous=NORMAL a commit survives a
crash of the process once it is in the log, checkpointed or not.
"""

from __future__ import annotations

import logging
import threading
import weakref
from pathlib import Path

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

INTERVAL_S = 0.5
BACKSTOP_PAGES = 10_000  # 40 MB of log: reached only when no checkpointer runs (or it falls behind)

_RUNNING: dict[Path, threading.Thread] = {}
_GUARD = threading.Lock()


def start_checkpointer(engine: Engine, path: Path) -> None:
    """Checkpoint `path` every INTERVAL_S while `engine` exists and the file does (idempotent)."""
    path = path.resolve()
    with _GUARD:
        thread = _RUNNING.get(path)
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(target=_run, args=(weakref.ref(engine), path), daemon=True,
                                  name=f"wal-checkpoint {path.name}")
        _RUNNING[path] = thread
        thread.start()


def _run(engine_ref: weakref.ref, path: Path) -> None:
    stop = threading.Event()
    while not stop.wait(INTERVAL_S):
        engine = engine_ref()
        if engine is None or not path.exists():
            break
        try:
            checkpoint(engine)
        except Exception:  # a locked or vanished database: the next pass (or the backstop) tries again
            log.debug("WAL checkpoint of %s failed", path, exc_info=True)
        del engine  # hold no reference while sleeping, so the engine can go away
    with _GUARD:
        if _RUNNING.get(path) is threading.current_thread():
            del _RUNNING[path]


def checkpoint(engine: Engine) -> tuple[int, int, int]:
    """One PASSIVE checkpoint, outside any transaction: (busy, log pages, pages checkpointed)."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        row = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        cursor.close()
        return tuple(row)
    finally:
        connection.close()
