"""The storage kernel every other part builds on: tables and migrations, ingest, rollups and
their compaction, retention, the collector's clock, audit rows, the leader lock, and the read
queries. It imports nothing from the HTTP layer, the SLO engine, drift or the console
(tests/architecture/test_layering.py); other packages import only the names below."""

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
from collector.store.ingest import score_and_store_samples, store_sessions, store_stages
from collector.store.leader import PROCESS_ID, LeaderLock, process_gone
from collector.store.models import (
    STATUSES,
    AuditEntry,
    Base,
    HourlyRollup,
    LeaderLease,
    Rollup,
    RollupHour,
    Sample,
    Session,
)
from collector.store.queries import cost_by_group
from collector.store.retention import apply_retention
from collector.store.rollups import HOUR, compacted_through, hour_of
from collector.store.schemas import (
    API_ERRORS,
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
)
from collector.store.session_batch import UNKNOWN, SessionBatch

__all__ = [
    "API_ERRORS",
    "AuditEntry",
    "Base",
    "EARLIEST",
    "ErrorOut",
    "HOUR",
    "HourlyRollup",
    "IngestResult",
    "LATEST",
    "LeaderLease",
    "LeaderLock",
    "PROCESS_ID",
    "Rejected",
    "Rollup",
    "RollupHour",
    "STATUSES",
    "Sample",
    "SampleIn",
    "SampleResult",
    "SampleScore",
    "Session",
    "SessionBatch",
    "SessionFields",
    "SessionIn",
    "UNKNOWN",
    "apply_retention",
    "compacted_through",
    "compaction_pass",
    "cost_by_group",
    "describe_error",
    "dialect_insert",
    "error_responses",
    "evaluation_time",
    "hour_of",
    "ingest_turn",
    "make_engine",
    "migrate",
    "process_gone",
    "read_connection",
    "score_and_store_samples",
    "storage_problem",
    "store_sessions",
    "store_stages",
    "watermark",
    "write_transaction",
]



__all__ = [
]
