"""Engines and migrations: SQLite (WAL) embedded by default, PostgreSQL via psycopg 3."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.sql.dml import Insert

from collector.store.histogram_text import add_histogram_text
from collector.store.per_engine import PerEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
WAL_AUTOCHECKPOINT_PAGES = 10_000  # 40 MiB of WAL at SQLite's 4 KiB pages
_MIGRATION_LOCK_ID = 0x61737277  # "asrw": serializes concurrent replicas running migrations


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_file(database_url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # LIFO: the pool hands out the connection used last. In WAL mode a connection drops its
        # page cache whenever another one has written since, so ingest going round the pool
        # (as FIFO does, with the background loops holding connections too) read cold pages on
        # every batch; about 5% of ingest time.
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_use_lifo=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    # A database that stops answering (a blackholed network) must fail fast into a 503 with
    # Retry-After, not hang the request: bounded connect time and TCP keepalive.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                         connect_args={"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 10,
                                       "keepalives_interval": 5, "keepalives_count": 3})


def sqlite_file(database_url: str) -> Path | None:
    """The SQLite database file, also for URI filenames (`sqlite:///file:/data/a.db?mode=ro&uri=true`)."""
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
        database = "/" + database.lstrip("/") if database.startswith("//") else database
    return Path(database)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # let the "begin" listener issue BEGIN IMMEDIATE
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a process crash (kill -9); only an OS crash can lose the tail.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # Checkpoints run in the server's background job (`collector.store.wal_checkpoint`); a writer
    # copies the WAL back itself only past this many pages (the default, 1,000, was every third batch).
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    # A WAL that grew that far is cut back to 4 MiB when it starts over, not kept at its peak.
    cur.execute(f"PRAGMA journal_size_limit={4 * 2**20}")
    cur.close()
    # The rollup upsert adds histograms in SQL (collector.store.rollups._upsert_sql).
    dbapi_conn.create_function("asrwatch_hist_add", 2, add_histogram_text, deterministic=True)


def _sqlite_begin(conn) -> None:
    # pysqlite's own transaction handling is off (see _sqlite_pragmas): issue BEGIN ourselves.
    # IMMEDIATE by default: a transaction that reads and then writes (any ORM session) would
    # otherwise fail with "database is locked" when another writer committed in between, since
    # SQLite cannot upgrade a stale read snapshot. Pure readers opt out via `read_connection`.
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")


def dialect_insert(conn: Connection, table: Table) -> Insert:
    """The connection's own INSERT for `table`: both dialects' have ON CONFLICT."""
    return insert_for(conn.dialect.name, table)


def insert_for(dialect: str, table: Table) -> Insert:
    """The dialect's INSERT for `table` (`dialect_insert`, for statements built once per dialect)."""
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: takes SQLite's write lock up front, commits on exit."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


_INGEST_TURNS: PerEngine[threading.Lock] = PerEngine(threading.Lock)


def ingest_turn(engine: Engine) -> AbstractContextManager:
    """On SQLite, batches of one process are validated and stored one at a time. SQLite stores
    one at a time anyway, and Python runs one thread at a time: two batches side by side only
    trade the interpreter lock back and forth (the insert hands it over for every row), and
    two concurrent senders got less through than one. PostgreSQL overlaps batches usefully:
    each waits on the network while another computes."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    return _INGEST_TURNS.get(engine)


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reading only: on SQLite it takes no write lock, so long reads (drift
    scans, SLO windows) never hold up ingest."""
    with engine.connect() as conn:
        yield conn.execution_options(sqlite_begin="DEFERRED")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent, safe with several replicas)."""
    config = alembic_config(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            try:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
                conn.commit()
    else:
        command.upgrade(config, "head")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@dataclass(frozen=True)
class StorageProblem:
    """A write failure that retrying alone will not fix: an operator must act."""

    status: int  # 507 disk full, 503 read-only
    detail: str


DISK_FULL = StorageProblem(507, "storage full: the database has no space left on its disk, so nothing in this "
                                "request was stored; free space on the database volume, then retry")
READ_ONLY = StorageProblem(503, "database is read-only, so nothing in this request was stored; make it writable "
                                "(file permissions, mount options, or point at a writable PostgreSQL primary), "
                                "then retry")


def storage_problem(exc: BaseException, engine: Engine) -> StorageProblem | None:
    """Name a disk-full or read-only failure from the driver's error code (SQLite's error name,
    PostgreSQL's SQLSTATE), or, for SQLite's generic I/O errors, from the database's file
    system. None for anything else (an outage: the caller answers a plain 503)."""
    orig = getattr(exc, "orig", None) or exc
    sqlstate = getattr(orig, "sqlstate", None) or ""
    name = getattr(orig, "sqlite_errorname", None) or ""
    if sqlstate == "53100" or name == "SQLITE_FULL":
        return DISK_FULL
    if sqlstate == "25006" or name.startswith("SQLITE_READONLY"):
        return READ_ONLY
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")) and is_sqlite(engine):
        path = sqlite_file(engine.url.render_as_string(hide_password=False))
        try:
            fs = os.statvfs(path.parent if path is not None else ".")
        except OSError:
            return None
        if fs.f_flag & os.ST_RDONLY:
            return READ_ONLY
        if fs.f_bavail == 0:
            return DISK_FULL
    return None
