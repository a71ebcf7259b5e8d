"""alert router: notifications, silences, tickets.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from collector.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "router_notifications",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("receiver", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("group_key", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("alerts", sa.JSON(), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_router_notifications_at", "router_notifications", ["at"])
    op.create_table(
        "router_silences",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expired_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_router_silences_ends_at", "router_silences", ["ends_at"])
    op.create_table(
        "router_tickets",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("group_key", sa.String(512), nullable=False),
        sa.Column("receiver", sa.String(128), nullable=False),
        sa.Column("team", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("alerts", sa.JSON(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_router_tickets_group_status", "router_tickets", ["group_key", "status"])


def downgrade() -> None:
    op.drop_table("router_tickets")
    op.drop_table("router_silences")
    op.drop_table("router_notifications")
