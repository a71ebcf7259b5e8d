"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL.

Alembic's autogenerate comparison (alembic/autogenerate/compare.py) between the migrated
database and the models' metadata: a column a model gained without a migration (or a migration
without the model) shows as a difference, before any query meets it in production.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table

import collector.store.leader  # noqa: F401  (its table is on the shared metadata)
import drift.models  # noqa: F401
import slo.models  # noqa: F401
import slo.rollout.models  # noqa: F401
import slo.router.models  # noqa: F401
from collector.store import partitions
from collector.store.database import make_engine, migrate
from collector.store.models import Base
from postgres import create_database, drop_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'schema.db'}" if request.param == "sqlite" else create_database()
    engine = make_engine(url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        if request.param == "postgresql":
            drop_database(url)


def _partition(name: str) -> bool:
    """A partition of `sessions` (PostgreSQL, migration 0019): made as data arrives, no model's."""
    return name == partitions.DEFAULT or partitions.day_of_partition(name) is not None


def _differences(engine, metadata: MetaData) -> list:
    with engine.connect() as conn:
        # Types are left out: the models' UTC type decorator reads back as the dialect's own type.
        found = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    return [d for d in found if not (d[0] in ("remove_table", "remove_index")
                                     and _partition(d[1].name if d[0] == "remove_table" else d[1].table.name))]


def test_migrations_create_what_the_models_declare(migrated) -> None:
    assert _differences(migrated, Base.metadata) == []


def test_the_comparison_sees_a_missing_migration(migrated) -> None:
    extra = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(extra)
    Table("sessions", extra, Column("undeclared_by_any_migration", Integer), extend_existing=True)
    diff = _differences(migrated, extra)
    assert [(d[0], d[3].name) for d in diff if d[0] == "add_column"] == [("add_column", "undeclared_by_any_migration")]
