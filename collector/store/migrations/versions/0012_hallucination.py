"""Label-free hallucination flags on sessions and rollups (#20).

Revision ID: 0012
Revises: 0011

`sessions.hallucination` is the reason bitmask of `collector.measures.hallucination`, computed at
ingest on the hypothesis as sent. Sessions stored before this revision keep NULL (not checked):
their texts are stored redacted, so they cannot be checked again as they were sent. Rollups
start their counters at zero, so the hallucination rate of a window that straddles the upgrade
is over the sessions checked since.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ROLLUP_COUNTERS = ("hallucination_checked", "hallucination_flagged", "hallucination_compression",
                   "hallucination_loop", "hallucination_no_speech")
ROLLUP_TABLES = ("rollups", "rollups_hourly")


def upgrade() -> None:
    op.add_column("sessions", sa.Column("hallucination", sa.Integer(), nullable=True))
    for table in ROLLUP_TABLES:
        for name in ROLLUP_COUNTERS:
            op.add_column(table, sa.Column(name, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    for table in ROLLUP_TABLES:
        with op.batch_alter_table(table) as batch:
            for name in ROLLUP_COUNTERS:
                batch.drop_column(name)
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("hallucination")
