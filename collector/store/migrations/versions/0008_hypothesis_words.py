"""sessions.hypothesis_words: the transcript's word count, stored at ingest for drift.

Revision ID: 0008
Revises: 0007

Existing rows are counted here in SQL with the definition drift's scan used until now (and
`collector.measures.word_count` keeps): NULL without text, 0 when blank after trimming spaces, else
the single spaces in the space-trimmed text plus one. Rows whose text retention removed have
no count, as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TRIMMED = "length(trim(hypothesis))"
BACKFILL = (
    f"UPDATE sessions SET hypothesis_words = CASE WHEN {_TRIMMED} = 0 THEN 0 "
    f"ELSE {_TRIMMED} - length(replace(trim(hypothesis), ' ', '')) + 1 END "
    "WHERE hypothesis IS NOT NULL"
)


def upgrade() -> None:
    op.add_column("sessions", sa.Column("hypothesis_words", sa.Integer(), nullable=True))
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("hypothesis_words")
