"""dimension_values: the values each slice dimension admitted to its cardinality budget.

Revision ID: 0009
Revises: 0008

Backfilled with every value the minute and hourly rollups hold already, so an upgraded store
keeps its existing slices as themselves (even past the budget: they were stored before it).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

DIMENSIONS = ("model_version", "region", "channel", "tenant", "language", "pool")


def upgrade() -> None:
    op.create_table(
        "dimension_values",
        sa.Column("dimension", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(128), primary_key=True),
    )
    selects = " UNION ".join(f"SELECT '{dim}' AS d, {dim} AS v FROM {table}"
                             for table in ("rollups", "rollups_hourly") for dim in DIMENSIONS)
    # 'unknown' (unset) and '__other__' are never counted against a budget.
    op.execute(f"INSERT INTO dimension_values (dimension, value) SELECT d, v FROM ({selects}) AS u "
               "WHERE v NOT IN ('unknown', '__other__')")


def downgrade() -> None:
    op.drop_table("dimension_values")
