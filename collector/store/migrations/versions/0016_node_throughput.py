"""Throughput and load per node (#21 item 2): session fields and the node rollups.

Revision ID: 0016
Revises: 0015

`sessions.node`, `concurrent_streams` and `gpu_utilization` are what the sender said (NULL: not
said, as for every session stored before). `node_rollups` starts empty: throughput per node and
pool is counted from the sessions stored after the upgrade.
"""

import sqlalchemy as sa
from alembic import op

from collector.store.models import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("node", sa.String(64), nullable=True))
    op.add_column("sessions", sa.Column("concurrent_streams", sa.Integer(), nullable=True))
    op.add_column("sessions", sa.Column("gpu_utilization", sa.Float(), nullable=True))
    op.create_table(
        "node_rollups",
        sa.Column("minute", UTCDateTime(), primary_key=True),
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("pool", sa.String(64), primary_key=True),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("audio_seconds", sa.Float(), nullable=False),
        sa.Column("gpu_seconds", sa.Float(), nullable=False),
        sa.Column("queue_ms_sum", sa.Float(), nullable=False),
        sa.Column("queue_count", sa.Integer(), nullable=False),
        sa.Column("streams_sum", sa.BigInteger(), nullable=False),
        sa.Column("streams_count", sa.Integer(), nullable=False),
        sa.Column("streams_max", sa.Integer(), nullable=False),
        sa.Column("gpu_utilization_sum", sa.Float(), nullable=False),
        sa.Column("gpu_utilization_count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("node_rollups")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("gpu_utilization")
        batch.drop_column("concurrent_streams")
        batch.drop_column("node")
