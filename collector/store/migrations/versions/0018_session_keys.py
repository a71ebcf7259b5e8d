"""Sampled session storage (#23 item 2): the ids of sessions counted but not stored.

Revision ID: 0018
Revises: 0017

With `store.sessions: sample` a session outside the stored share is folded into the rollups and
counted on /metrics, and only its id is kept here (`collector.store.sampling`), so a retried batch
is counted once. Rows are pruned `store.dedupe_hours` after receipt.
"""

import sqlalchemy as sa
from alembic import op

from collector.store.models import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_keys",
        sa.Column("session_id", sa.String(128), primary_key=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_session_keys_received_at", "session_keys", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_session_keys_received_at", table_name="session_keys")
    op.drop_table("session_keys")
