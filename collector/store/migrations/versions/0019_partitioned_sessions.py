"""PostgreSQL at size (#23 item 3): `sessions` partitioned by event day.

Revision ID: 0019
Revises: 0018

PostgreSQL only (SQLite has no partitions; nothing changes there). The existing table is renamed
aside, a table partitioned by range of `ts` takes its name with the same columns, a partition per
UTC day that holds sessions and a DEFAULT partition, the rows are copied over and the old table
dropped, in the migration's one transaction. A partitioned table's primary key must hold the
partition key, so it is (session_id, ts) (`collector.store.partitions` says what that means for
duplicates). Downgrade copies the rows back into a plain table keyed by session_id.
"""

import sqlalchemy as sa
from alembic import op

from collector.store.partitions import DEFAULT, PARENT, partition_ddl

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

INDEXES = {"ix_sessions_ts": "ts", "ix_sessions_model_version_ts": "model_version, ts",
           "ix_sessions_trace_id": "trace_id"}


def _rename_aside(old: str) -> None:
    op.execute(f"ALTER TABLE {PARENT} RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT sessions_pkey TO {old}_pkey")
    for index in INDEXES:
        op.execute(f"ALTER INDEX IF EXISTS {index} RENAME TO {index}_{old}")


def _indexes() -> None:
    for index, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {index} ON {PARENT} ({columns})")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rename_aside("sessions_unpartitioned")
    op.execute(f"CREATE TABLE {PARENT} (LIKE sessions_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (ts)")
    op.execute(f"ALTER TABLE {PARENT} ADD CONSTRAINT sessions_pkey PRIMARY KEY (session_id, ts)")
    _indexes()
    days = op.get_bind().execute(sa.text(
        "SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM sessions_unpartitioned ORDER BY 1")).scalars().all()
    for day in days:
        op.execute(partition_ddl(day))
    op.execute(f"CREATE TABLE {DEFAULT} PARTITION OF {PARENT} DEFAULT")
    op.execute(f"INSERT INTO {PARENT} SELECT * FROM sessions_unpartitioned")
    op.execute("DROP TABLE sessions_unpartitioned")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rename_aside("sessions_partitioned")
    op.execute(f"CREATE TABLE {PARENT} (LIKE sessions_partitioned INCLUDING DEFAULTS)")
    op.execute(f"ALTER TABLE {PARENT} ADD CONSTRAINT sessions_pkey PRIMARY KEY (session_id)")
    _indexes()
    # The same id at two event times (possible while partitioned): the earliest is kept.
    op.execute(f"INSERT INTO {PARENT} SELECT DISTINCT ON (session_id) * FROM sessions_partitioned "
               "ORDER BY session_id, ts")
    op.execute("DROP TABLE sessions_partitioned")
