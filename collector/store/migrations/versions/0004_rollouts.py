"""rollouts, actions, leader lease.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from collector.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("baseline_version", sa.String(128), nullable=False),
        sa.Column("canary_version", sa.String(128), nullable=False),
        sa.Column("slice_by", sa.JSON(), nullable=False),
        sa.Column("protected_slices", sa.JSON(), nullable=False),
        sa.Column("min_utterances", sa.Integer(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=True),
        sa.Column("lookback_s", sa.Float(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("last_decision", sa.String(16), nullable=True),
        sa.Column("last_verdict", sa.JSON(), nullable=True),
        sa.Column("last_evaluated_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "rollout_actions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("rollout", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actuator", sa.String(128), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ux_rollout_actions_once", "rollout_actions", ["rollout", "action", "actuator"], unique=True)
    op.create_table(
        "leader_lease",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leader_lease")
    op.drop_table("rollout_actions")
    op.drop_table("rollouts")
