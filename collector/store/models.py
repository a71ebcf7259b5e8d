"""SQLAlchemy 2.0 typed models. Schema changes go through Alembic (`collector/store/migrations`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Index, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from collector.measures import hypothesis_words


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which drops tzinfo) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: asrwatch stores timezone-aware UTC only")
        value = value.astimezone(timezone.utc)
        # SQLite compares the stored text, so keep one format without offset there.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


def _hypothesis_words(context: Any) -> int | None:
    """An insert through SQLAlchemy that leaves the count out stores its hypothesis' count, so
    the column never disagrees with the text (ingest's raw inserts set it themselves)."""
    return hypothesis_words(context.get_current_parameters().get("hypothesis"))


class Session(Base):
    """One ASR session as the server (or probe) reported it."""

    __tablename__ = "sessions"

    session_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ts: Mapped[datetime]
    received_at: Mapped[datetime]
    model_version: Mapped[str] = mapped_column(String(128))
    region: Mapped[str] = mapped_column(String(64))
    tenant: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(64))
    pool: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    audio_seconds: Mapped[float | None] = mapped_column(Float)
    first_partial_ms: Mapped[float | None] = mapped_column(Float)
    final_latency_ms: Mapped[float | None] = mapped_column(Float)
    queue_ms: Mapped[float | None] = mapped_column(Float)
    partial_rewrites: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[float | None] = mapped_column(Float)
    snr_db: Mapped[float | None] = mapped_column(Float)
    gpu_seconds: Mapped[float | None] = mapped_column(Float)
    turn_success: Mapped[bool | None]
    shadow: Mapped[bool] = mapped_column(default=False)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    hypothesis: Mapped[str | None] = mapped_column(Text)
    # Words of `hypothesis` (`collector.measures.word_count`), NULL with it: drift reads this, not the text.
    hypothesis_words: Mapped[int | None] = mapped_column(Integer, default=_hypothesis_words)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    attributes: Mapped[dict[str, Any] | None]
    # Label-free hallucination reasons of `hypothesis` as sent (`collector.measures.hallucination`
    # bitmask; 0: checked, none), NULL without a hypothesis or stored before migration 0012.
    hallucination: Mapped[int | None] = mapped_column(Integer)
    # Fleets that mix self-hosted ASR with a paid API (migration 0015): whether a cache answered the
    # session, and which backend served it (`schemas.BACKENDS`); NULL when the sender did not say.
    cache_hit: Mapped[bool | None]
    backend: Mapped[str | None] = mapped_column(String(16))
    # Load where the session ran (migration 0016): the node, the streams it was serving when the
    # session started, and its GPU utilisation (0..1), as the sender saw them.
    node: Mapped[str | None] = mapped_column(String(64))
    concurrent_streams: Mapped[int | None] = mapped_column(Integer)
    gpu_utilization: Mapped[float | None] = mapped_column(Float)
    # The configured dimensions' values (`collector.store.dimensions`: `dimensions:` in the config,
    # read from `attributes`), one slot each; NULL where the sender left it unset or the slot was
    # not assigned yet when the session was stored (both read `unknown`). Migration 0017.
    dim1: Mapped[str | None] = mapped_column(String(64))
    dim2: Mapped[str | None] = mapped_column(String(64))
    dim3: Mapped[str | None] = mapped_column(String(64))
    dim4: Mapped[str | None] = mapped_column(String(64))
    dim5: Mapped[str | None] = mapped_column(String(64))
    dim6: Mapped[str | None] = mapped_column(String(64))
    dim7: Mapped[str | None] = mapped_column(String(64))
    dim8: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_sessions_ts", "ts"),
        Index("ix_sessions_model_version_ts", "model_version", "ts"),
        Index("ix_sessions_trace_id", "trace_id"),
    )


class Stage(Base):
    """A child span of a session's trace (ingest, preprocess, features, inference, decode...)."""

    __tablename__ = "stages"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str] = mapped_column(String(16))
    parent_span_id: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    start: Mapped[datetime]
    duration_ms: Mapped[float] = mapped_column(Float)
    attributes: Mapped[dict[str, Any] | None]

    __table_args__ = (
        Index("ux_stages_trace_span", "trace_id", "span_id", unique=True),
    )


class Sample(Base):
    """A labeled transcript scored against its session's hypothesis."""

    __tablename__ = "samples"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime]
    received_at: Mapped[datetime]
    reference: Mapped[str | None] = mapped_column(Text)
    hypothesis: Mapped[str | None] = mapped_column(Text)
    wer: Mapped[float] = mapped_column(Float)
    substitutions: Mapped[int] = mapped_column(Integer)
    deletions: Mapped[int] = mapped_column(Integer)
    insertions: Mapped[int] = mapped_column(Integer)
    ref_words: Mapped[int] = mapped_column(Integer)
    # Character errors and reference characters (CER), and the reference's entity occurrences
    # and how many the hypothesis found: NULL on samples scored before migration 0011.
    char_errors: Mapped[int | None] = mapped_column(Integer)
    ref_chars: Mapped[int | None] = mapped_column(Integer)
    entity_occurrences: Mapped[int | None] = mapped_column(Integer)
    entities_found: Mapped[int | None] = mapped_column(Integer)

    # Diarization (migration 0010), NULL on samples without segments: the DER components in
    # seconds as pyannote.metrics gave them, the speaker counts, and the segments with the
    # speakers' anonymous ids (`collector.measures.diarization.anonymize`), [[speaker, start, end]].
    der_missed_s: Mapped[float | None] = mapped_column(Float)
    der_false_alarm_s: Mapped[float | None] = mapped_column(Float)
    der_confusion_s: Mapped[float | None] = mapped_column(Float)
    der_speech_s: Mapped[float | None] = mapped_column(Float)
    ref_speakers: Mapped[int | None] = mapped_column(Integer)
    hyp_speakers: Mapped[int | None] = mapped_column(Integer)
    reference_segments: Mapped[list[Any] | None] = mapped_column(JSON)
    hypothesis_segments: Mapped[list[Any] | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ux_samples_session_source", "session_id", "source", unique=True),
        Index("ix_samples_ts", "ts"),
    )


class RollupValues:
    """The slice and the aggregates a rollup row holds, per minute (`Rollup`) or per compacted
    hour (`HourlyRollup`).

    Histograms are sparse JSON maps `{bucket_code: count}` (see `collector.measures.histogram`);
    `wer_pairs` maps `"errors:ref_words"` to the number of labeled utterances with that pair,
    which is enough for exact corpus WER, per-utterance thresholds and bootstrap intervals.
    """

    rollup_key: Mapped[str] = mapped_column(String(1200), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(128))
    region: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    tenant: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(64))
    pool: Mapped[str] = mapped_column(String(64))
    # The configured dimensions' slots (`collector.store.dimensions`), `unknown` where unset,
    # unassigned, or stored before the slot was assigned (migration 0017).
    dim1: Mapped[str] = mapped_column(String(64), default="unknown", server_default="unknown")
    dim2: Mapped[str] = mapped_column(String(64), default="unknown", server_default="unknown")
    dim3: Mapped[str] = mapped_column(String(64), default="unknown", server_default="unknown")
    dim4: Mapped[str] = mapped_column(String(64), default="unknown", server_default="unknown")
    dim5: Mapped[str] = mapped_column(String(64), default="unknown", server_default="unknown")
    dim6: Mapped[str] = mapped_column(String(64), default="unknown", server_default="unknown")
    dim7: Mapped[str] = mapped_column(String(64), default="unknown", server_default="unknown")
    dim8: Mapped[str] = mapped_column(String(64), default="unknown", server_default="unknown")

    sessions: Mapped[int] = mapped_column(Integer, default=0)
    status_ok: Mapped[int] = mapped_column(Integer, default=0)
    status_partial: Mapped[int] = mapped_column(Integer, default=0)
    status_decode_error: Mapped[int] = mapped_column(Integer, default=0)
    status_dropped: Mapped[int] = mapped_column(Integer, default=0)
    status_timeout: Mapped[int] = mapped_column(Integer, default=0)
    successful_turns: Mapped[int] = mapped_column(Integer, default=0)
    shadow_sessions: Mapped[int] = mapped_column(Integer, default=0)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    empty_hypotheses: Mapped[int] = mapped_column(Integer, default=0)
    partial_rewrites: Mapped[int] = mapped_column(Integer, default=0)
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    gpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    confidence_sum: Mapped[float] = mapped_column(Float, default=0.0)
    confidence_count: Mapped[int] = mapped_column(Integer, default=0)
    snr_sum: Mapped[float] = mapped_column(Float, default=0.0)
    snr_count: Mapped[int] = mapped_column(Integer, default=0)

    latency_hist: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_partial_hist: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    queue_hist: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    confidence_hist: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    snr_hist: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    wer_utterances: Mapped[int] = mapped_column(Integer, default=0)
    wer_substitutions: Mapped[int] = mapped_column(Integer, default=0)
    wer_deletions: Mapped[int] = mapped_column(Integer, default=0)
    wer_insertions: Mapped[int] = mapped_column(Integer, default=0)
    wer_words: Mapped[int] = mapped_column(Integer, default=0)
    wer_pairs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Label-free hallucination checks (migration 0012): sessions with a hypothesis checked, those
    # flagged for any reason, and per reason (`collector.measures.hallucination`).
    hallucination_checked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    hallucination_flagged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    hallucination_compression: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    hallucination_loop: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    hallucination_no_speech: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Cache and fallback (migration 0015): sessions that said whether a cache answered and those it
    # did; sessions that named their backend, those the paid API served, and that API's audio.
    cache_lookups: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cache_hits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    backend_sessions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fallback_sessions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    api_audio_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # CER and entity recall (migration 0011): summed character errors and reference characters,
    # `cer_pairs` as `wer_pairs` with characters for words, and entity occurrences and finds.
    cer_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cer_chars: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cer_pairs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    entity_occurrences: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    entities_found: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Diarization (migration 0010): diarized sessions, their DER components in whole milliseconds
    # (64-bit: an hour of a busy slice holds more than 2**31 ms of speech), the summed speaker-count
    # error, and `diar_pairs` as `wer_pairs` with `"error_ms:speech_ms"` per session.
    diar_sessions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    diar_missed_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    diar_false_alarm_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    diar_confusion_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    diar_speech_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    diar_speaker_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    diar_pairs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")


class Rollup(RollupValues, Base):
    """Per event-time minute x slice aggregates, maintained at ingest."""

    __tablename__ = "rollups"

    minute: Mapped[datetime]

    __table_args__ = (
        Index("ix_rollups_minute", "minute"),
        Index("ix_rollups_model_version_minute", "model_version", "minute"),
    )


class HourlyRollup(RollupValues, Base):
    """Per event-time hour x slice: the sum of the hour's minute rollups, written by the compactor
    once the hour is behind `RollupCompaction.through` and kept exact by ingest after that (late
    data adds to both). Long windows read these for their whole hours and minutes only at the
    edges: a day is about 24 rows per slice instead of 1440."""

    __tablename__ = "rollups_hourly"

    hour: Mapped[datetime]

    __table_args__ = (
        Index("ix_rollups_hourly_hour", "hour"),
        Index("ix_rollups_hourly_model_version_hour", "model_version", "hour"),
    )


class RollupCompaction(Base):
    """One row: every hour before `through` has its `HourlyRollup` rows (None: none yet).
    On PostgreSQL ingest reads it FOR SHARE and the compactor moves it FOR UPDATE, so a batch
    either lands before an hour is compacted or sees the hour as compacted and adds to it too."""

    __tablename__ = "rollup_compaction"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    through: Mapped[datetime | None]


class NodeRollup(Base):
    """Per event-time minute x node x pool: throughput and load, folded at ingest
    (`collector.store.node_rollups`). Apart from the slice rollups because nodes come and go
    with autoscaling: as a slice dimension they would multiply every slice's rows. Window reads
    go by the primary key, which leads with the minute; rows stay per minute (no compaction)."""

    __tablename__ = "node_rollups"

    minute: Mapped[datetime] = mapped_column(primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    pool: Mapped[str] = mapped_column(String(64), primary_key=True)
    sessions: Mapped[int] = mapped_column(Integer, default=0)
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    gpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    queue_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
    queue_count: Mapped[int] = mapped_column(Integer, default=0)
    streams_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    streams_count: Mapped[int] = mapped_column(Integer, default=0)
    streams_max: Mapped[int] = mapped_column(Integer, default=0)
    gpu_utilization_sum: Mapped[float] = mapped_column(Float, default=0.0)
    gpu_utilization_count: Mapped[int] = mapped_column(Integer, default=0)


class RollupHour(Base):
    """A compacted hour's revision, bumped whenever late data changes it: caches of anything
    computed from an hour's minutes (the SLO series) stay valid while the revision does."""

    __tablename__ = "rollup_hours"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)


class AuditEntry(Base):
    """Who did what, why, with which evidence, and when. Append-only.

    `at` is the wall clock when the action was taken; `event_at` the event time an automatic
    action judged (the evaluation clock: in a replay, hours behind the wall clock). One column
    for both made a rollout look rolled back before it was registered (migration 0013)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    event_at: Mapped[datetime | None]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, Any] | None]

    __table_args__ = (Index("ix_audit_log_at", "at"),)


class MaintenanceWindowRow(Base):
    """A maintenance window created through the API (`slo.maintenance`; the config's windows are
    not stored). Its events count in no SLO's budget nor alert. DELETE ends an active window
    (ends_at moves to then) and removes one not started yet; both are in the audit log."""

    __tablename__ = "maintenance_windows"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    slos: Mapped[list[Any]] = mapped_column(JSON)  # SLO names; empty: every SLO
    labels: Mapped[dict[str, Any]]  # {dimension: value}; empty: all traffic
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_maintenance_windows_ends_at", "ends_at"),)


SLICE_DIMENSIONS = ("model_version", "region", "channel", "tenant", "language")
ROLLUP_DIMENSIONS = SLICE_DIMENSIONS + ("pool",)  # the fixed dimensions, by name
# Slot columns of the configured dimensions (`collector.store.dimensions` maps names to them).
CUSTOM_SLOTS = tuple(f"dim{i}" for i in range(1, 9))
# Every slice column of a rollup row, in rollup-key order.
ROLLUP_COLUMNS = ROLLUP_DIMENSIONS + CUSTOM_SLOTS
STATUSES = ("ok", "partial", "decode_error", "dropped", "timeout")


class LeaderLease(Base):
    """SQLite's leader lease (PostgreSQL uses an advisory lock instead)."""

    __tablename__ = "leader_lease"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[datetime]


class DimensionValue(Base):
    """A slice dimension's value admitted to the cardinality budget (`collector.store.dimension_budget`):
    rollups and /metrics keep it as itself; values past a dimension's budget read `__other__`.
    Rows are never deleted, so every replica and restart agrees on the admitted set."""

    __tablename__ = "dimension_values"

    dimension: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), primary_key=True)


class DimensionSlot(Base):
    """A configured dimension's slot column (`collector.store.dimensions`), assigned the first time a
    collector starts with the dimension in `dimensions:`. Never reassigned nor reused, so values
    stored under one name are never read under another."""

    __tablename__ = "dimension_slots"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[str] = mapped_column(String(8), unique=True)
    assigned_at: Mapped[datetime]


class SessionKey(Base):
    """The id of a session counted but not stored (`collector.store.sampling`: `store.sessions:
    sample`), so a retried batch is counted once. Pruned `store.dedupe_hours` after receipt."""

    __tablename__ = "session_keys"

    session_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime]

    __table_args__ = (Index("ix_session_keys_received_at", "received_at"),)
