"""SLO alert state (see slo/models.py).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from collector.store.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "slo_alert_state",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("slo", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("last_evaluated_at", UTCDateTime(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("runbook_url", sa.String(512), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=True),
        sa.Column("routed_to", sa.JSON(), nullable=True),
    )
    op.create_index("ux_slo_alert_state_episode", "slo_alert_state", ["fingerprint", "starts_at"], unique=True)
    op.create_index("ix_slo_alert_state_open", "slo_alert_state", ["resolved_at", "fingerprint"])


def downgrade() -> None:
    op.drop_index("ix_slo_alert_state_open", table_name="slo_alert_state")
    op.drop_index("ux_slo_alert_state_episode", table_name="slo_alert_state")
    op.drop_table("slo_alert_state")
