"""drift baselines and findings.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from collector.store.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drift_baselines",
        sa.Column("model_version", sa.String(128), primary_key=True),
        sa.Column("reference_start", UTCDateTime(), nullable=False),
        sa.Column("reference_end", UTCDateTime(), nullable=False),
        sa.Column("pinned_at", UTCDateTime(), nullable=False),
        sa.Column("pinned_by", sa.String(128), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_table(
        "drift_findings",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("alertname", sa.String(64), nullable=False),
        sa.Column("feature", sa.String(64), nullable=False),
        sa.Column("slice_key", sa.String(512), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
    )
    op.create_index("ix_drift_findings_status", "drift_findings", ["status"])


def downgrade() -> None:
    op.drop_index("ix_drift_findings_status", table_name="drift_findings")
    op.drop_table("drift_findings")
    op.drop_table("drift_baselines")
