from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/live_collector.py, tests/postgres.py

from postgres import create_database, drop_database  # noqa: E402


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """A fresh, empty database on each engine: the same test runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'asrwatch.db'}"
        return
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture
def postgres_url():
    url = create_database()
    yield url
    drop_database(url)
