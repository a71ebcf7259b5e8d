"""Storing sessions and samples: dedupe, redact, score, fold into rollups, commit.

A record counts as accepted only once its transaction has committed, so an acknowledged
record survives a crash of the collector.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Boolean, select
from sqlalchemy.engine import Connection, Engine

from collector.measures import PLACEHOLDER, WordErrors, redact, redact_strings, word_errors
from collector.store.database import dialect_insert
from collector.store.dimension_budget import committed_write
from collector.store.dimensions import dimensions_of
from collector.store.id_lookup import ids_in, insert_keys
from collector.store.models import Sample, Session, Stage
from collector.store.partitions import ensure_days
from collector.store.pg_batch import insert_new_sessions
from collector.store.node_rollups import apply_node_rows, fold_nodes
from collector.store.rollups import EPOCH, accumulate_diarization, accumulate_samples, apply_deltas, sqlite_datetime
from collector.store.sample_diarization import Diarized, diarization_columns, diarize_samples
from collector.store.schemas import SampleIn, SessionIn
from collector.store.sampling import (LABELED_ATTRIBUTE, StorePolicy, active_canaries, counted_ids, keys_pending, kept,
                                      policy_of)
from collector.store.session_batch import COLUMNS, SessionBatch
from collector.store.session_fold import fold_sessions


@dataclass
class StoredSessions:
    accepted: SessionBatch = field(default_factory=SessionBatch.empty)
    duplicates: int = 0


@dataclass
class ScoredSample:
    session_row: dict[str, Any]
    errors: WordErrors
    source: str
    duplicate: bool = False
    diarization: Diarized | None = None  # with segments: DER components by pyannote.metrics


def store_sessions(engine: Engine, records: Sequence[SessionIn | Mapping[str, Any]],
                   received_at: datetime) -> StoredSessions:
    """Store validated sessions: models, or the plain dicts ingest validates clean batches into
    (`SessionFields`, which leave out the fields that keep their default)."""
    result = StoredSessions()
    unique: dict[str, Mapping[str, Any]] = {}
    for record in records:
        fields = record.__dict__ if isinstance(record, SessionIn) else record
        if fields["session_id"] in unique:
            result.duplicates += 1
        else:
            unique[fields["session_id"]] = fields
    if not unique:
        return result
    batch = SessionBatch.of(list(unique.values()), received_at, dimensions_of(engine))
    policy = policy_of(engine)
    if policy.sampling or keys_pending(engine):
        fresh = _store_sampled(engine, batch, policy)
    else:
        fresh = _store_sqlite(engine, batch) if engine.dialect.name == "sqlite" else _store_postgresql(engine, batch)
    result.accepted = fresh
    result.duplicates += len(batch) - len(fresh)
    return result


def _store_postgresql(engine: Engine, batch: SessionBatch) -> SessionBatch:
    ensure_days(engine, batch_days(batch))  # the day partitions, in a transaction of their own
    with committed_write(engine) as conn:
        inserted = insert_new_sessions(conn, batch)  # one statement, in key order
        fresh = batch if len(inserted) == len(batch) else batch.select(
            [sid in inserted for sid in batch.columns["session_id"]])
        apply_deltas(conn, fold_sessions(fresh))
        apply_node_rows(conn, fold_nodes(fresh))
    return fresh


@functools.lru_cache(maxsize=64)  # per set of unset columns: a fleet sends few shapes
def _sqlite_session_insert(unset: tuple[str, ...], skip_stored: bool) -> str:
    """The insert of a batch's rows, the `unset` columns (NULL in every row) as literal NULLs:
    sqlite3 binds None, like any value not exactly an int, float or str, through its adapter
    lookup, and binding the columns a batch leaves unset (the dimension slots not configured,
    fields the fleet does not send) took a third of the insert."""
    bound = [c for c in COLUMNS if c not in unset]
    places = ", ".join(["?"] * len(bound) + ["NULL"] * len(unset))
    sql = f"INSERT INTO sessions ({', '.join([*bound, *unset])}) VALUES ({places})"
    return sql + " ON CONFLICT (session_id) DO NOTHING" if skip_stored else sql


def _sqlite_rows(batch: SessionBatch) -> tuple[tuple[str, ...], list[tuple]]:
    """The batch's rows for `_sqlite_session_insert`: the columns left unset in every row, and the
    others' values row by row."""
    columns = _sqlite_columns(batch)
    unset = tuple(name for name, values in columns.items() if all(v is None for v in values))
    return unset, list(zip(*[values for name, values in columns.items() if name not in unset]))


class _StoredAlready(Exception):
    """Some session of the batch is stored already: its transaction is rolled back."""


def _store_sqlite(engine: Engine, batch: SessionBatch) -> SessionBatch:
    """Store the sessions whose session_id is new and fold them into the rollups; return them.

    The transaction holds the write lock, so nothing else inserts meanwhile. Nearly every batch
    is all new: it is inserted whole, an id stored already skipped, and the count of rows
    inserted says whether one was. Only then (a retried batch) is the transaction rolled back
    and the batch stored again, after looking up which ids are new. (A savepoint around the
    insert, to undo just that statement, cost SQLite a statement journal: about a tenth of a
    small batch's time.)"""
    unset, rows = _sqlite_rows(batch)
    try:
        with committed_write(engine) as conn:
            if conn.exec_driver_sql(_sqlite_session_insert(unset, True), rows).rowcount != len(rows):
                raise _StoredAlready
            apply_deltas(conn, fold_sessions(batch))
            apply_node_rows(conn, fold_nodes(batch))
        return batch
    except _StoredAlready:
        pass
    ids = batch.columns["session_id"]
    with committed_write(engine) as conn:
        existing = ids_in(conn, "sessions", ids)
        keep = [sid not in existing for sid in ids]
        fresh = batch.select(keep)
        if len(fresh):
            conn.exec_driver_sql(_sqlite_session_insert(unset, False), [row for row, new in zip(rows, keep) if new])
        apply_deltas(conn, fold_sessions(fresh))
        apply_node_rows(conn, fold_nodes(fresh))
    return fresh


def _store_sampled(engine: Engine, batch: SessionBatch, policy: StorePolicy) -> SessionBatch:
    """`store.sessions: sample`: fold every new session into the rollups, store the kept ones
    (`sampling.kept`) and only the ids of the others (`session_keys`); return the new ones.
    New means in neither table, so a retry is counted once whichever way it was decided (and
    whatever the policy was then). On PostgreSQL both inserts skip ids a concurrent replica
    stored meanwhile; on SQLite the write lock keeps everyone else out."""
    ids = batch.columns["session_id"]
    labeled = [bool(a) and a.get(LABELED_ATTRIBUTE) is True for a in batch.columns["attributes"]]
    ensure_days(engine, batch_days(batch))
    with committed_write(engine) as conn:
        canaries = active_canaries(conn) if "canary" in policy.always else frozenset()
        keep = kept(policy, ids, batch.columns["status"], batch.columns["tenant"], batch.columns["model_version"],
                    labeled, canaries)
        first, last = min(batch.columns["ts"]), max(batch.columns["ts"])
        seen = _known_ids(conn, ids, (first - timedelta(days=1), last + timedelta(days=1, microseconds=1)))
        stored = batch.select([k and sid not in seen for sid, k in zip(ids, keep)])
        if engine.dialect.name == "sqlite":
            if len(stored):
                unset, rows = _sqlite_rows(stored)
                conn.exec_driver_sql(_sqlite_session_insert(unset, False), rows)
            inserted = set(stored.columns["session_id"])
        else:
            inserted = insert_new_sessions(conn, stored)
        inserted |= insert_keys(conn, [sid for sid, k in zip(ids, keep) if not k and sid not in seen],
                                batch.columns["received_at"][0])
        fresh = batch if len(inserted) == len(batch) else batch.select([sid in inserted for sid in ids])
        apply_deltas(conn, fold_sessions(fresh))
        apply_node_rows(conn, fold_nodes(fresh))
    return fresh


def batch_days(batch: SessionBatch) -> set[date]:
    """The UTC days of the batch's sessions (their partitions on PostgreSQL)."""
    return {(EPOCH_DAY + timedelta(days=d)) for d in set((batch.epoch_minutes // 1440).tolist())}


def _known_ids(conn: Connection, ids: Sequence[str], span: tuple[datetime, datetime]) -> set[str]:
    """The ids stored as sessions whose event time lies in `span` (on PostgreSQL only those days'
    partitions are read) or counted as session keys already."""
    return counted_ids(conn, ids) | ids_in(conn, "sessions", ids, span)


EPOCH_DAY = EPOCH.date()
SAMPLED_OUT = ("session_id: counted but not stored (store.sessions: sample); send a session headed for "
               "labeling with attributes.labeled: true and it is always stored")


def _sqlite_columns(batch: SessionBatch) -> dict[str, list[Any]]:
    columns = dict(batch.columns)
    columns["ts"] = batch.ts_texts()
    columns["received_at"] = [sqlite_datetime(columns["received_at"][0])] * len(batch)  # one per batch
    columns["attributes"] = [None if a is None else orjson.dumps(a).decode() for a in columns["attributes"]]
    for name in _BOOLEAN_COLUMNS:  # stored as 0/1 either way; an int binds without sqlite3's adapter lookup
        columns[name] = [None if v is None else int(v) for v in columns[name]]
    return {name: columns[name] for name in COLUMNS}


_BOOLEAN_COLUMNS = tuple(c.name for c in Session.__table__.columns if isinstance(c.type, Boolean))


STAGE_NAME_CHARS = 128  # the column's size
# A span name is cut to this many characters before it is redacted (redaction costs up to about
# 1.3 us per character, inside the write turn): cut, redact, then cut to the column. The 128
# characters kept come from well before the first cut, so it never leaves a PII fragment in them.
STAGE_NAME_REDACT_CHARS = 1024


def store_stages(conn: Connection, stages: Sequence[dict[str, Any]]) -> None:
    """Store spans as stages, their name and every string in their attributes (the span's and
    its resource's) redacted like a transcript: span names and attributes carry caller details
    too. The name is cut to its column after redaction, so a cut never hides PII from it."""
    if stages:
        table = Stage.__table__
        rows = [{**stage, "name": (redact(stage["name"][:STAGE_NAME_REDACT_CHARS]) or "")[:STAGE_NAME_CHARS],
                 "attributes": redact_strings(stage.get("attributes"))} for stage in stages]
        conn.execute(dialect_insert(conn, table).on_conflict_do_nothing(index_elements=["trace_id", "span_id"]), rows)




def entity_terms(entities: Mapping[str, Sequence[str]] | None, session: Mapping[str, Any],
                 sample: SampleIn) -> tuple[str, ...]:
    """The entity terms a sample is scored for: its session's domain list (`attributes.domain`
    picks one of the configured `entities`), and the sample's own `entities`."""
    attributes = session.get("attributes")
    domain = attributes.get("domain") if isinstance(attributes, Mapping) else None
    configured = (entities or {}).get(domain, ()) if isinstance(domain, str) else ()
    return (*configured, *(sample.entities or ()))


def _score(sample: SampleIn, session: Mapping[str, Any], normalizer_name: str,
           entities: Sequence[str] = ()) -> tuple[WordErrors, str, str]:
    """A sample's word and character errors and entity counts (`word_errors`, with the
    session's language), and its reference and hypothesis as stored (redacted).

    Redaction never changes the score: it is computed on the texts as sent, normalized, in
    memory, and only the redacted texts are kept. (Redacting first scored a correct transcript
    as wrong wherever redaction treats the two texts differently: "five five five zero one nine
    nine" is a phone number spoken, "5550199" an ordinary number, so the reference lost the
    words its hypothesis kept.)

    A sample without its own hypothesis is scored against the session's, which was redacted when
    the session was stored; the text as sent is gone. If redaction left that hypothesis as it was
    (no placeholder in it), it is the text as sent and the score is exact. If not, the reference
    is redacted the same way before scoring, so that a placeholder faces a placeholder rather than
    the words it replaced; the score is then that of the redacted texts (a PII span redacted in
    one text and not in the other counts as an error). Send the hypothesis with the sample to
    score it on the texts as sent."""
    stored_reference = redact(sample.reference) or ""
    language = session.get("language")
    if sample.hypothesis is not None:
        errors = word_errors(sample.reference, sample.hypothesis, normalizer_name, language=language,
                             entities=entities)
        return errors, stored_reference, redact(sample.hypothesis) or ""
    hypothesis = session["hypothesis"] or ""
    # Only our placeholders: an ASR tag such as "[NOISE]" or "<UNK>" is the text as sent.
    reference = stored_reference if PLACEHOLDER.search(hypothesis) else sample.reference
    errors = word_errors(reference, hypothesis, normalizer_name, language=language, entities=entities)
    return errors, stored_reference, hypothesis


def score_and_store_samples(
    engine: Engine, samples: Sequence[tuple[int, SampleIn]], normalizer_name: str, received_at: datetime,
    entities: Mapping[str, Sequence[str]] | None = None, collar: float = 0.0,
) -> tuple[list[tuple[int, ScoredSample]], list[tuple[int, str]]]:
    """Score samples against their sessions (on the texts as sent: `_score`) and store the new
    ones, their texts redacted. `normalizer_name` is Settings.normalizer ("language": each
    session's language picks); `entities` is Settings.entities (terms per domain); `collar` is
    Settings.diarization_collar_s (samples with segments: `collector.store.sample_diarization`).

    Returns (scored, rejected) where each is paired with the index of the sample in the request.
    """
    scored: list[tuple[int, ScoredSample]] = []
    rejected: list[tuple[int, str]] = []
    if not samples:
        return scored, rejected
    diarized, rejected = diarize_samples(samples, collar)
    if rejected:
        refused = {index for index, _ in rejected}
        samples = [(index, sample) for index, sample in samples if index not in refused]
    ids = sorted({s.session_id for _, s in samples})
    sessions_table = Session.__table__
    samples_table = Sample.__table__
    with committed_write(engine) as conn:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            query = select(sessions_table).where(sessions_table.c.session_id.in_(chunk))
            found.update({r["session_id"]: dict(r) for r in conn.execute(query).mappings()})
        missing = [sample.session_id for _, sample in samples if sample.session_id not in found]
        counted_only = counted_ids(conn, missing) if missing else set()  # counted, not stored (sampling)
        pending: dict[tuple[str, str], tuple[int, ScoredSample, dict[str, Any]]] = {}
        for index, sample in samples:
            session = found.get(sample.session_id)
            if session is None:
                rejected.append((index, SAMPLED_OUT if sample.session_id in counted_only
                                 else "session_id: unknown session; post the session before its sample"))
                continue
            if sample.hypothesis is None and session["hypothesis"] is None:
                rejected.append((index, "hypothesis: required when the session carries no hypothesis"))
                continue
            errors, reference, hypothesis = _score(sample, session, normalizer_name,
                                                   entity_terms(entities, session, sample))
            item = ScoredSample(session, errors, sample.source, diarization=diarized.get(index))
            key = (sample.session_id, sample.source)
            if key in pending:
                item.duplicate = True
                scored.append((index, item))
                continue
            row = {
                "session_id": sample.session_id, "source": sample.source, "ts": session["ts"],
                "received_at": received_at, "reference": reference, "hypothesis": hypothesis,
                "wer": errors.wer, "substitutions": errors.substitutions, "deletions": errors.deletions,
                "insertions": errors.insertions, "ref_words": errors.ref_words,
                "char_errors": errors.char_errors, "ref_chars": errors.ref_chars,
                "entity_occurrences": errors.entity_occurrences, "entities_found": errors.entities_found,
                **diarization_columns(item.diarization),
            }
            pending[key] = (index, item, row)
            scored.append((index, item))
        if pending:
            stmt = (
                dialect_insert(conn, samples_table)
                .on_conflict_do_nothing(index_elements=["session_id", "source"])
                .returning(samples_table.c.session_id, samples_table.c.source)
            )
            order = sorted(pending) if conn.dialect.name == "postgresql" else pending  # as for sessions
            inserted = {tuple(r) for r in conn.execute(stmt, [pending[key][2] for key in order])}
            for key, (_, item, _) in pending.items():
                item.duplicate = key not in inserted
            fresh = [(item.session_row, item.errors) for key, (_, item, _) in pending.items() if key in inserted]
            deltas = accumulate_samples(fresh)
            accumulate_diarization([(item.session_row, item.diarization.errors) for key, (_, item, _) in pending.items()
                                    if key in inserted and item.diarization is not None], deltas)
            apply_deltas(conn, deltas)
    return scored, rejected

