"""Fresh PostgreSQL databases for tests, on the server on loopback.

Where no server is reachable the tests that need one are skipped with the reason, except
under CI (`CI=true`), where that is a failure: CI must run the storage tests on both engines.
"""

from __future__ import annotations

import os
import secrets

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from prerequisites import missing

ADMIN_URL = os.environ.get("ASRWATCH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _unreachable(admin_url: str, reason: str) -> None:
    missing(f"PostgreSQL unreachable at {make_url(admin_url).render_as_string(hide_password=True)}: {reason}")


def create_database(prefix: str = "asrwatch_t", admin_url: str = ADMIN_URL) -> str:
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as exc:  # any failure to reach the server
        _unreachable(admin_url, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, admin_url: str = ADMIN_URL) -> None:
    name = make_url(url).database
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
