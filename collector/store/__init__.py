"""The storage kernel every other part builds on: tables and migrations, ingest, rollups and
their compaction, retention, the collector's clock, audit rows, the leader lock, and the read
queries. It imports nothing from the HTTP layer, the SLO engine, drift or the console
(tests/architecture/test_layering.py); other packages import only the names below."""

# Modules other packages use whole.
from collector.store import audit, bucketed, histogram_sql, queries, throughput_query, time_buckets
from collector.store.clock import EARLIEST, LATEST, evaluation_time, watermark
from collector.store.compaction import compaction_pass
from collector.store.database import (
    dialect_insert,
    ingest_turn,
    make_engine,
    migrate,
    read_connection,
    storage_problem,
    write_transaction,
)
from collector.store.diarization_query import diarization_by_group
from collector.store.dimension_budget import DimensionBudget
from collector.store.dimension_budget import configure as configure_dimension_budget
from collector.store.dimensions import FIXED_ONLY, Dimensions, attribute_problem, attribute_problems, dimensions_of
from collector.store.dimensions import check_names as check_dimension_names
from collector.store.dimensions import configure as configure_dimensions
from collector.store.ingest import score_and_store_samples, store_sessions, store_stages
from collector.store.leader import PROCESS_ID, LeaderLock, process_gone
from collector.store.models import (
    ROLLUP_DIMENSIONS,
    STATUSES,
    AuditEntry,
    Base,
    HourlyRollup,
    LeaderLease,
    MaintenanceWindowRow,
    Rollup,
    RollupHour,
    Sample,
    Session,
)
from collector.store.queries import cost_by_group
from collector.store.partitions import drop_sessions_before
from collector.store.partitions import make_ahead as make_session_partitions
from collector.store.retention import apply_retention
from collector.store.sampling import StorePolicy, counted_only, policy_of, sampled_in
from collector.store.sampling import configure as configure_sampling
from collector.store.sampling import prune_keys as prune_session_keys
from collector.store.rollups import HOUR, compacted_through, hour_of
from collector.store.schemas import (
    API_ERRORS,
    FALLBACK_BACKEND,
    DiarizationScore,
    ErrorOut,
    IngestResult,
    Rejected,
    SampleIn,
    SampleResult,
    SampleScore,
    SessionFields,
    SessionIn,
    describe_error,
    error_responses,
    sessions_without_nul,
)
from collector.store.session_batch import UNKNOWN, SessionBatch
from collector.store.wal_checkpoint import WalCheckpointer, checkpointed_file

__all__ = [
    "API_ERRORS",
    "apply_retention",
    "attribute_problem",
    "attribute_problems",
    "audit",
    "bucketed",
    "AuditEntry",
    "Base",
    "compacted_through",
    "check_dimension_names",
    "checkpointed_file",
    "compaction_pass",
    "configure_dimension_budget",
    "configure_dimensions",
    "configure_sampling",
    "counted_only",
    "cost_by_group",
    "describe_error",
    "dialect_insert",
    "drop_sessions_before",
    "diarization_by_group",
    "DiarizationScore",
    "DimensionBudget",
    "Dimensions",
    "FIXED_ONLY",
    "dimensions_of",
    "EARLIEST",
    "error_responses",
    "ErrorOut",
    "evaluation_time",
    "histogram_sql",
    "HOUR",
    "hour_of",
    "HourlyRollup",
    "ingest_turn",
    "IngestResult",
    "LATEST",
    "LeaderLease",
    "LeaderLock",
    "MaintenanceWindowRow",
    "make_engine",
    "make_session_partitions",
    "migrate",
    "policy_of",
    "process_gone",
    "prune_session_keys",
    "PROCESS_ID",
    "queries",
    "throughput_query",
    "read_connection",
    "Rejected",
    "ROLLUP_DIMENSIONS",
    "Rollup",
    "RollupHour",
    "Sample",
    "sampled_in",
    "SampleIn",
    "SampleResult",
    "SampleScore",
    "score_and_store_samples",
    "Session",
    "SessionBatch",
    "SessionFields",
    "SessionIn",
    "sessions_without_nul",
    "StorePolicy",
    "STATUSES",
    "FALLBACK_BACKEND",
    "storage_problem",
    "store_sessions",
    "store_stages",
    "time_buckets",
    "UNKNOWN",
    "WalCheckpointer",
    "watermark",
    "write_transaction",
]
