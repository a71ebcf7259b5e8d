"""Diarization (#20): per-sample DER components, speaker counts and anonymized segments, and
rollup sums and per-session pairs.

Revision ID: 0010
Revises: 0009

Samples stored before this revision had no segments: their diarization columns stay NULL.
Rollups start their diarization sums at zero. The millisecond sums are 64-bit: one busy slice's
hour can hold more than 2**31 ms (about 600 hours) of reference speech.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SAMPLE_FLOATS = ("der_missed_s", "der_false_alarm_s", "der_confusion_s", "der_speech_s")
SAMPLE_INTEGERS = ("ref_speakers", "hyp_speakers")
SAMPLE_SEGMENTS = ("reference_segments", "hypothesis_segments")
ROLLUP_COUNTERS = ("diar_sessions", "diar_speaker_errors")
ROLLUP_MILLISECONDS = ("diar_missed_ms", "diar_false_alarm_ms", "diar_confusion_ms", "diar_speech_ms")
ROLLUP_TABLES = ("rollups", "rollups_hourly")


def upgrade() -> None:
    for name in SAMPLE_FLOATS:
        op.add_column("samples", sa.Column(name, sa.Float(), nullable=True))
    for name in SAMPLE_INTEGERS:
        op.add_column("samples", sa.Column(name, sa.Integer(), nullable=True))
    for name in SAMPLE_SEGMENTS:
        op.add_column("samples", sa.Column(name, sa.JSON(), nullable=True))
    for table in ROLLUP_TABLES:
        for name in ROLLUP_COUNTERS:
            op.add_column(table, sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        for name in ROLLUP_MILLISECONDS:
            op.add_column(table, sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
        op.add_column(table, sa.Column("diar_pairs", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    for table in ROLLUP_TABLES:
        with op.batch_alter_table(table) as batch:
            for name in (*ROLLUP_COUNTERS, *ROLLUP_MILLISECONDS, "diar_pairs"):
                batch.drop_column(name)
    with op.batch_alter_table("samples") as batch:
        for name in (*SAMPLE_FLOATS, *SAMPLE_INTEGERS, *SAMPLE_SEGMENTS):
            batch.drop_column(name)
