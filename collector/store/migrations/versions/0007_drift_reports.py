"""drift reports: the drift loop's last pass per drift config.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from collector.store.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drift_reports",
        sa.Column("config_key", sa.String(64), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("written_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("drift_reports")
