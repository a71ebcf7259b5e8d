"""hourly rollups, the compaction mark and per-hour revisions.

Revision ID: 0006
Revises: 0005

Existing minute rollups stay as they are; the compactor fills `rollups_hourly` behind the mark,
starting from the oldest minute, so an upgrade needs no backfill step.
"""

import sqlalchemy as sa
from alembic import op

from collector.store.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COUNTERS = [
    "sessions", "status_ok", "status_partial", "status_decode_error", "status_dropped", "status_timeout",
    "successful_turns", "shadow_sessions", "retries", "empty_hypotheses", "partial_rewrites",
    "confidence_count", "snr_count", "wer_utterances", "wer_substitutions", "wer_deletions",
    "wer_insertions", "wer_words",
]
SUMS = ["audio_seconds", "gpu_seconds", "confidence_sum", "snr_sum"]
HISTOGRAMS = ["latency_hist", "first_partial_hist", "queue_hist", "confidence_hist", "snr_hist", "wer_pairs"]


def upgrade() -> None:
    op.create_table(
        "rollups_hourly",
        sa.Column("rollup_key", sa.String(512), primary_key=True),
        sa.Column("hour", UTCDateTime(), nullable=False),
        *[sa.Column(dim, sa.String(128 if dim == "model_version" else 64), nullable=False)
          for dim in ("model_version", "region", "channel", "tenant", "language", "pool")],
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS],
        *[sa.Column(name, sa.Float(), nullable=False) for name in SUMS],
        *[sa.Column(name, sa.JSON(), nullable=False) for name in HISTOGRAMS],
    )
    op.create_index("ix_rollups_hourly_hour", "rollups_hourly", ["hour"])
    op.create_index("ix_rollups_hourly_model_version_hour", "rollups_hourly", ["model_version", "hour"])
    compaction = op.create_table(
        "rollup_compaction",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("through", UTCDateTime(), nullable=True),
    )
    op.bulk_insert(compaction, [{"id": 1, "through": None}])
    op.create_table(
        "rollup_hours",
        sa.Column("hour", UTCDateTime(), primary_key=True),
        sa.Column("revision", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    for table in ("rollup_hours", "rollup_compaction", "rollups_hourly"):
        op.drop_table(table)
