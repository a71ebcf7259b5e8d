"""Cache hits and the paid-API fallback on sessions and rollups (#21 item 3).

Revision ID: 0015
Revises: 0014

`sessions.cache_hit` and `sessions.backend` are what the sender said (NULL: not said, as for every
session stored before this revision). Rollups start their counters at zero, so a cache hit rate or
fallback share over a window that straddles the upgrade is over the sessions that reported since.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ROLLUP_COUNTERS = ("cache_lookups", "cache_hits", "backend_sessions", "fallback_sessions")
ROLLUP_TABLES = ("rollups", "rollups_hourly")


def upgrade() -> None:
    op.add_column("sessions", sa.Column("cache_hit", sa.Boolean(), nullable=True))
    op.add_column("sessions", sa.Column("backend", sa.String(16), nullable=True))
    for table in ROLLUP_TABLES:
        for name in ROLLUP_COUNTERS:
            op.add_column(table, sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        op.add_column(table, sa.Column("api_audio_seconds", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    for table in ROLLUP_TABLES:
        with op.batch_alter_table(table) as batch:
            for name in (*ROLLUP_COUNTERS, "api_audio_seconds"):
                batch.drop_column(name)
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("backend")
        batch.drop_column("cache_hit")
