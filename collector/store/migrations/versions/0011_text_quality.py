"""CER and entity recall: per-sample counts and rollup sums (#20).

Revision ID: 0011
Revises: 0010

Samples scored before this revision keep NULL counts: their texts are stored redacted, so they
cannot be scored again exactly. Rollups start their new sums at zero, and CER is read from
`cer_pairs`, which then holds only samples scored since: a window that straddles the upgrade
reports CER and entity recall over the samples that have them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SAMPLE_COLUMNS = ("char_errors", "ref_chars", "entity_occurrences", "entities_found")
ROLLUP_COUNTERS = ("cer_errors", "cer_chars", "entity_occurrences", "entities_found")
ROLLUP_TABLES = ("rollups", "rollups_hourly")


def upgrade() -> None:
    for name in SAMPLE_COLUMNS:
        op.add_column("samples", sa.Column(name, sa.Integer(), nullable=True))
    for table in ROLLUP_TABLES:
        for name in ROLLUP_COUNTERS:
            op.add_column(table, sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        op.add_column(table, sa.Column("cer_pairs", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    for table in ROLLUP_TABLES:
        with op.batch_alter_table(table) as batch:
            for name in (*ROLLUP_COUNTERS, "cer_pairs"):
                batch.drop_column(name)
    with op.batch_alter_table("samples") as batch:
        for name in SAMPLE_COLUMNS:
            batch.drop_column(name)
