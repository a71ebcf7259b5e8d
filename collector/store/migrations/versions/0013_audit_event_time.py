"""audit_log.event_at: the event time an automatic action judged, beside `at`, its wall clock.

Revision ID: 0013
Revises: 0012

Rollbacks were logged at the evaluation clock's time and registrations at the wall clock's, in
one column: in a replay a rollout seemed rolled back before it was registered. Existing rows
keep `at` as written and no event time (which of them were judged in event time is not known).
"""

import sqlalchemy as sa
from alembic import op

from collector.store.models import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("event_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("event_at")
