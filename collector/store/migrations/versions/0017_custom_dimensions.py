"""Dimensions from config (#21 item 1): slot columns on sessions and rollups, and their names.

Revision ID: 0017
Revises: 0016

A configured dimension (`dimensions:`) is stored in a slot column, `dim1` to `dim8`, that
`dimension_slots` assigns it the first time a collector starts with it, so adding one to a
running deployment needs no SQL. Sessions stored before hold NULL and rollup rows `unknown` in
every slot, which is what a dimension added later reads for them.

Rollup keys end with the slots' values (`collector.store.rollups.key_of`): the stored keys get
`|unknown` eight times, so late data for an old minute adds to its row rather than starting a
second one. Keys grow longer than 512 characters with long values: the column is widened.
"""

import sqlalchemy as sa
from alembic import op

from collector.store.models import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

SLOTS = tuple(f"dim{i}" for i in range(1, 9))
ROLLUP_TABLES = ("rollups", "rollups_hourly")
KEY_SUFFIX = "|unknown" * len(SLOTS)


def upgrade() -> None:
    op.create_table(
        "dimension_slots",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("slot", sa.String(8), nullable=False, unique=True),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
    )
    for slot in SLOTS:
        op.add_column("sessions", sa.Column(slot, sa.String(64), nullable=True))
    for table in ROLLUP_TABLES:
        for slot in SLOTS:
            op.add_column(table, sa.Column(slot, sa.String(64), nullable=False, server_default="unknown"))
        if op.get_bind().dialect.name == "postgresql":
            op.alter_column(table, "rollup_key", type_=sa.String(1200), existing_nullable=False)
        op.execute(sa.text(f"UPDATE {table} SET rollup_key = rollup_key || :suffix").bindparams(suffix=KEY_SUFFIX))


def downgrade() -> None:
    bind = op.get_bind()
    for table in ROLLUP_TABLES:
        # Slices that differ only in a slot would share a key once the slots are gone, and
        # dropping them would lose their sessions from every total: refuse instead.
        sliced = bind.execute(sa.text(f"SELECT count(*) FROM {table} WHERE "
                                      + " OR ".join(f"{s} <> 'unknown'" for s in SLOTS))).scalar()
        if sliced:
            raise RuntimeError(f"downgrade below 0017: {table} holds {sliced} rows sliced by configured dimensions; "
                               "their counts would be lost (rebuild the rollups without them first)")
        op.execute(sa.text(f"UPDATE {table} SET rollup_key = substr(rollup_key, 1, length(rollup_key) - :n)")
                   .bindparams(n=len(KEY_SUFFIX)))
        with op.batch_alter_table(table) as batch:
            for slot in SLOTS:
                batch.drop_column(slot)
    with op.batch_alter_table("sessions") as batch:
        for slot in SLOTS:
            batch.drop_column(slot)
    op.drop_table("dimension_slots")
