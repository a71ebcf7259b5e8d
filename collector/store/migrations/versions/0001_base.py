"""Base schema: sessions, stages, samples, per-minute rollups, audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from collector.store.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(128), primary_key=True),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("language", sa.String(64), nullable=False),
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("audio_seconds", sa.Float()),
        sa.Column("first_partial_ms", sa.Float()),
        sa.Column("final_latency_ms", sa.Float()),
        sa.Column("queue_ms", sa.Float()),
        sa.Column("partial_rewrites", sa.Integer()),
        sa.Column("confidence", sa.Float()),
        sa.Column("snr_db", sa.Float()),
        sa.Column("gpu_seconds", sa.Float()),
        sa.Column("turn_success", sa.Boolean()),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("hypothesis", sa.Text()),
        sa.Column("trace_id", sa.String(32)),
        sa.Column("attributes", sa.JSON()),
    )
    op.create_index("ix_sessions_ts", "sessions", ["ts"])
    op.create_index("ix_sessions_model_version_ts", "sessions", ["model_version", "ts"])
    op.create_index("ix_sessions_trace_id", "sessions", ["trace_id"])

    op.create_table(
        "stages",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("parent_span_id", sa.String(16)),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("attributes", sa.JSON()),
    )
    op.create_index("ux_stages_trace_span", "stages", ["trace_id", "span_id"], unique=True)

    op.create_table(
        "samples",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("reference", sa.Text()),
        sa.Column("hypothesis", sa.Text()),
        sa.Column("wer", sa.Float(), nullable=False),
        sa.Column("substitutions", sa.Integer(), nullable=False),
        sa.Column("deletions", sa.Integer(), nullable=False),
        sa.Column("insertions", sa.Integer(), nullable=False),
        sa.Column("ref_words", sa.Integer(), nullable=False),
    )
    op.create_index("ux_samples_session_source", "samples", ["session_id", "source"], unique=True)
    op.create_index("ix_samples_ts", "samples", ["ts"])

    counters = [
        "sessions", "status_ok", "status_partial", "status_decode_error", "status_dropped",
        "status_timeout", "successful_turns", "shadow_sessions", "retries", "empty_hypotheses",
        "partial_rewrites", "confidence_count", "snr_count", "wer_utterances", "wer_substitutions",
        "wer_deletions", "wer_insertions", "wer_words",
    ]
    sums = ["audio_seconds", "gpu_seconds", "confidence_sum", "snr_sum"]
    hists = ["latency_hist", "first_partial_hist", "queue_hist", "confidence_hist", "snr_hist", "wer_pairs"]
    op.create_table(
        "rollups",
        sa.Column("rollup_key", sa.String(512), primary_key=True),
        sa.Column("minute", UTCDateTime(), nullable=False),
        *[sa.Column(dim, sa.String(128 if dim == "model_version" else 64), nullable=False)
          for dim in ("model_version", "region", "channel", "tenant", "language", "pool")],
        *[sa.Column(name, sa.Integer(), nullable=False) for name in counters],
        *[sa.Column(name, sa.Float(), nullable=False) for name in sums],
        *[sa.Column(name, sa.JSON(), nullable=False) for name in hists],
    )
    op.create_index("ix_rollups_minute", "rollups", ["minute"])
    op.create_index("ix_rollups_model_version_minute", "rollups", ["model_version", "minute"])

    op.create_table(
        "audit_log",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON()),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    for table in ("audit_log", "rollups", "samples", "stages", "sessions"):
        op.drop_table(table)
