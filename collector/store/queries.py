"""Read-side queries. Window figures come from rollups; only session lookups touch raw rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.engine import Engine

from collector.measures import cost as cost_math
from collector.measures import entity_recall
from collector.measures import groups_of, hallucination, histogram
from collector.measures import wer as wer_math
from collector.store.database import read_connection
from collector.store.dimensions import dimensions_of
from collector.store.models import CUSTOM_SLOTS, ROLLUP_DIMENSIONS, AuditEntry, Sample, Session, Stage
from collector.store.rollup_window import bucket_start, rollup_rows

SESSION_FILTERS = ROLLUP_DIMENSIONS + ("status",)  # and the configured dimensions (`dimensions_of`)


GROUPS_DEFAULT = 1000  # groups one grouped answer holds unless the caller asks for fewer or more
GROUPS_MAX = 10000


class Groups(list):
    """One page of a grouped answer (rows in group order) that knows how many groups there were:
    `truncated` when groups past `offset + limit` exist (the API says so in `X-Truncated`)."""

    total: int = 0
    offset: int = 0

    @property
    def truncated(self) -> bool:
        return self.offset + len(self) < self.total


def _page(keys: list, limit: int | None, offset: int) -> tuple[list, int]:
    """The sorted keys of one page, and how many there were in all."""
    ordered = sorted(keys)
    end = None if limit is None else offset + limit
    return ordered[offset:end], len(ordered)


def _groups(rows: list[dict[str, Any]], total: int, offset: int) -> Groups:
    out = Groups(rows)
    out.total, out.offset = total, offset
    return out


class Buckets(Groups):
    """Rows of every bucket of a `step=` answer, each page cut per bucket: `total` is the most
    groups any bucket had, `truncated` whether some bucket's groups were cut."""

    cut: bool = False

    @property
    def truncated(self) -> bool:
        return self.cut


def pages(keys: list[tuple], limit: int | None, offset: int, per_bucket: bool
          ) -> tuple[list[tuple], int, bool]:
    """The sorted keys of one page, how many groups there were, and whether some were cut. With
    `per_bucket` the keys are `(bucket, *group)` and each bucket is paged on its own (buckets in
    time order): the total is the most groups a bucket had."""
    if not per_bucket:
        page, total = _page(keys, limit, offset)
        return page, total, False
    page: list[tuple] = []
    most, cut = 0, False
    end = None if limit is None else offset + limit
    for _, same in groupby(sorted(keys), key=lambda k: k[0]):
        ordered = list(same)
        page += ordered[offset:end]
        most = max(most, len(ordered))
        cut = cut or (end is not None and end < len(ordered))
    return page, most, cut


def answer(rows: list[dict[str, Any]], total: int, offset: int, cut: bool, per_bucket: bool) -> Groups:
    """One page of a grouped answer (`Buckets` for a `step=` answer)."""
    if not per_bucket:
        return _groups(rows, total, offset)
    out = Buckets(rows)
    out.total, out.offset, out.cut = total, offset, cut
    return out


def _check_dims(engine: Engine, group_by: Sequence[str]) -> None:
    dimensions_of(engine).check(group_by)


def wer_by_group(engine: Engine, group_by: Sequence[str], since: datetime, until: datetime,
                 filters: Mapping[str, str], resamples: int = 1000, *, limit: int | None = None,
                 offset: int = 0) -> Groups:
    _check_dims(engine, group_by)
    values = ("wer_utterances", "wer_pairs", "wer_substitutions", "wer_deletions", "wer_insertions",
              "cer_pairs", "entity_occurrences", "entities_found")
    groups: dict[tuple, dict[str, Any]] = defaultdict(
        lambda: {"pairs": [], "cer_pairs": [], "S": 0, "D": 0, "I": 0, "entities": 0, "found": 0})
    with read_connection(engine) as conn:
        rows = rollup_rows(conn, [*group_by, *values], since, until, filters)
        query = select(*[rows.c[d] for d in group_by], rows.c.wer_pairs, rows.c.wer_substitutions,
                       rows.c.wer_deletions, rows.c.wer_insertions, rows.c.cer_pairs, rows.c.entity_occurrences,
                       rows.c.entities_found).where(rows.c.wer_utterances > 0)
        for row in conn.execute(query):
            g = groups[tuple(row[: len(group_by)])]
            g["pairs"].append(row.wer_pairs)
            g["S"] += row.wer_substitutions
            g["D"] += row.wer_deletions
            g["I"] += row.wer_insertions
            g["cer_pairs"].append(row.cer_pairs or {})
            g["entities"] += row.entity_occurrences or 0
            g["found"] += row.entities_found or 0
    out = []
    page, total = _page(list(groups), limit, offset)  # the bootstrap runs for this page's groups only
    for key in page:
        g = groups[key]
        errors, words, counts = wer_math.parse_pairs(wer_math.merge_pairs(g["pairs"]))
        # resamples=0: no intervals (a chart over time: a bootstrap per bucket costs seconds).
        interval = wer_math.bootstrap_interval(errors, words, counts, resamples=resamples) if resamples else None
        # CER over the samples scored with it (those since migration 0011), its own interval.
        char_errors, chars, char_counts = wer_math.parse_pairs(wer_math.merge_pairs(g["cer_pairs"]))
        cer_interval = (wer_math.bootstrap_interval(char_errors, chars, char_counts, resamples=resamples)
                        if resamples else None)
        out.append({
            **dict(zip(group_by, key)),
            "wer": wer_math.corpus_wer(errors, words, counts),
            "utterances": int(counts.sum()),
            "ref_words": int((words * counts).sum()),
            "substitutions": g["S"], "deletions": g["D"], "insertions": g["I"],
            # Labeled hallucination signal: inserted words per reference word (Whisper's hallucinations
            # on silence and noise are insertions).
            "insertion_rate": g["I"] / ref_words if (ref_words := int((words * counts).sum())) else None,
            "ci_low": interval[0] if interval else None,
            "ci_high": interval[1] if interval else None,
            "cer": wer_math.corpus_wer(char_errors, chars, char_counts),
            "ref_chars": int((chars * char_counts).sum()),
            "char_errors": int((char_errors * char_counts).sum()),
            "cer_ci_low": cer_interval[0] if cer_interval else None,
            "cer_ci_high": cer_interval[1] if cer_interval else None,
            "entity_recall": entity_recall.corpus_recall(g["found"], g["entities"]),
            "entity_occurrences": g["entities"],
            "entities_found": g["found"],
        })
    return _groups(out, total, offset)


LATENCY_FIELDS = {"final": "latency_hist", "first_partial": "first_partial_hist", "queue": "queue_hist"}


def latency_kinds(text: str | None) -> tuple[str, ...]:
    """`kind=final,queue` -> the latencies asked for (default: all three); ValueError naming `kind`."""
    if text is None or not text.strip():
        return tuple(LATENCY_FIELDS)
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in LATENCY_FIELDS]
    if unknown or not kinds:
        raise ValueError(f"kind: unknown latency {', '.join(map(repr, unknown)) or repr(text)} "
                         f"(one or more of {', '.join(LATENCY_FIELDS)})")
    return kinds


def latency_by_group(engine: Engine, group_by: Sequence[str], since: datetime, until: datetime,
                     filters: Mapping[str, str], quantiles: Sequence[float] = (0.5, 0.95, 0.99), *,
                     limit: int | None = None, offset: int = 0, step: timedelta | None = None,
                     kinds: Sequence[str] = tuple(LATENCY_FIELDS)) -> Groups:
    """p50/p95/p99 of final, first-partial and queue latency (or only `kinds` of them) per group,
    from the window's rollup histograms (a day is about a million histogram entries: merged by
    numpy from the stored text; each kind is a third of the work, so a chart asks for its one).
    With `step`: per step-aligned bucket too (rows gain `t`, the bucket's start; each bucket is
    paged on its own), from one read of the window (`rollup_window.rollup_rows`)."""
    _check_dims(engine, group_by)
    fields = {name: LATENCY_FIELDS[name] for name in kinds}
    lead = 1 if step is not None else 0
    with read_connection(engine) as conn:
        rows = rollup_rows(conn, [*group_by, *fields.values()], since, until, filters, step=step)
        query = select(*([rows.c.t] if lead else []), *[rows.c[d] for d in group_by],
                       *[cast(rows.c[h], Text) for h in fields.values()])
        fetched = conn.execute(query).all()
    width = lead + len(group_by)
    keys, owners = groups_of([tuple(row[:width]) for row in fetched])  # every group with sessions, latencies or not
    merged = {h: histogram.merged_json_texts([row[width + i] for row in fetched], owners, len(keys))
              for i, h in enumerate(fields.values())}
    groups = {key: {h: merged[h][i] for h in fields.values()} for i, key in enumerate(keys)}
    page, total, cut = pages(list(groups), limit, offset, bool(lead))
    out = []
    for key in page:
        entry: dict[str, Any] = {"t": bucket_start(key[0], step)} if lead else {}  # type: ignore[arg-type]
        entry |= dict(zip(group_by, key[lead:]))
        for name, h in fields.items():
            hist = groups[key][h]
            entry[f"{name}_count"] = histogram.total(hist)
            for q in quantiles:
                entry[f"{name}_p{round(q * 100):d}_ms"] = histogram.quantile(hist, q)
        out.append(entry)
    return answer(out, total, offset, cut, bool(lead))


_COST_SUMS = ("sessions", "successful_turns", "gpu_seconds", "audio_seconds", "retries", "shadow_sessions",
              "api_audio_seconds", "fallback_sessions")


def _cost_totals(engine: Engine, group_by: Sequence[str], since: datetime, until: datetime,
                 filters: Mapping[str, str]) -> dict[tuple, dict[str, dict[str, float]]]:
    totals: dict[tuple, dict[str, dict[str, float]]] = defaultdict(dict)
    with read_connection(engine) as conn:
        rows = rollup_rows(conn, sorted({*group_by, "pool", *_COST_SUMS}), since, until, filters)
        cols = [rows.c[d] for d in group_by]
        query = select(*cols, rows.c.pool, *[func.sum(rows.c[c]).label(c) for c in _COST_SUMS])
        for row in conn.execute(query.group_by(*cols, rows.c.pool)).mappings():
            key = tuple(row[d] for d in group_by)
            totals[key][row["pool"]] = {c: row[c] or 0 for c in _COST_SUMS}
    return totals


def cost_by_group(engine: Engine, group_by: Sequence[str], since: datetime, until: datetime,
                  filters: Mapping[str, str], price, *, limit: int | None = None, offset: int = 0,
                  api_per_minute: float | None = None) -> Groups:
    """`price`: USD per GPU-hour of a pool; `api_per_minute`: USD per audio minute of the paid API
    (`collector.measures.cost.summarize`)."""
    _check_dims(engine, group_by)
    current = _cost_totals(engine, group_by, since, until, filters)
    previous = _cost_totals(engine, group_by, since - (until - since), since, filters)
    out = []
    page, total = _page(list(current), limit, offset)
    for key in page:
        now = cost_math.summarize(current[key], price, api_per_minute)
        before = cost_math.summarize(previous[key], price, api_per_minute) if key in previous else None
        out.append({**dict(zip(group_by, key)), **now, "top_drivers": cost_math.drivers(now, before),
                    "previous": before})
    return _groups(out, total, offset)


_STATUS_SUMS = ("sessions", "status_ok", "status_partial", "status_decode_error", "status_dropped",
                "status_timeout", "empty_hypotheses", "partial_rewrites", "shadow_sessions", "successful_turns",
                "hallucination_checked", "hallucination_flagged", "hallucination_compression", "hallucination_loop",
                "hallucination_no_speech", "cache_lookups", "cache_hits", "backend_sessions", "fallback_sessions")


def status_by_group(engine: Engine, group_by: Sequence[str], since: datetime, until: datetime,
                    filters: Mapping[str, str], *, limit: int | None = None, offset: int = 0,
                    step: timedelta | None = None) -> Groups:
    """Outcome counts per group (decode errors, partials, timeouts, empty transcripts), the
    label-free hallucination checks (sessions checked, flagged, per reason, and the rate), the
    cache hit rate and the share of sessions that fell back to the paid API. With
    `step`: per step-aligned bucket too, as `latency_by_group`."""
    _check_dims(engine, group_by)
    with read_connection(engine) as conn:
        window = rollup_rows(conn, [*group_by, *_STATUS_SUMS], since, until, filters, step=step)
        cols = ([window.c.t] if step is not None else []) + [window.c[d] for d in group_by]
        query = select(*cols, *[func.sum(window.c[c]).label(c) for c in _STATUS_SUMS])
        rows = conn.execute(query.group_by(*cols)).mappings().all()
    lead = ("t",) if step is not None else ()
    by_key = {tuple(r[d] for d in (*lead, *group_by)): r for r in rows if r["sessions"]}
    page, total, cut = pages(list(by_key), limit, offset, step is not None)  # sorted as every grouped answer
    rows = [by_key[key] for key in page]
    out = [{**({"t": bucket_start(r["t"], step)} if step is not None else {}), **{d: r[d] for d in group_by},
            **{c.removeprefix("status_"): int(r[c] or 0) for c in _STATUS_SUMS}} for r in rows]
    for row in out:  # label-free: the share of sessions with a hypothesis checked that were flagged
        checked = row["hallucination_checked"]
        row["hallucination_rate"] = row["hallucination_flagged"] / checked if checked else None
        # Over the sessions that reported it: a fleet without a cache or an API says nothing.
        row["cache_hit_rate"] = row["cache_hits"] / row["cache_lookups"] if row["cache_lookups"] else None
        row["fallback_share"] = (row["fallback_sessions"] / row["backend_sessions"]
                                 if row["backend_sessions"] else None)
    return answer(out, total, offset, cut, step is not None)


SAMPLE_FIELDS = ("wer", "substitutions", "deletions", "insertions", "ref_words", "source",
                 "char_errors", "ref_chars", "entity_occurrences", "entities_found")  # the last four: NULL before 0011
# A session as it was sent and stored; not what ingest derives: the word count drift reads, the
# configured dimensions' slots (their values are in `attributes`, as sent).
_SESSION_OUT = [c for c in Session.__table__.c if c.name != "hypothesis_words" and c.name not in CUSTOM_SLOTS]


def list_samples(engine: Engine, since: datetime, until: datetime, filters: Mapping[str, str], limit: int,
                 min_wer: float | None = None, order: str = "recent") -> list[dict[str, Any]]:
    """Labeled samples with their session's slice, SNR and confidence; no transcript text."""
    samples, sessions = Sample.__table__, Session.__table__
    dims = dimensions_of(engine)
    query = (
        select(samples.c.session_id, samples.c.ts, *[samples.c[f] for f in SAMPLE_FIELDS],
               *[dims.session_column(sessions, d) for d in dims.names], sessions.c.snr_db, sessions.c.confidence,
               sessions.c.status)
        # A sample carries its session's ts: on PostgreSQL an id is unique per (id, ts) (migration 0019).
        .join(sessions, (sessions.c.session_id == samples.c.session_id) & (sessions.c.ts == samples.c.ts))
        .where(samples.c.ts >= since, samples.c.ts < until)
    )
    for dim, value in filters.items():
        query = query.where(dims.session_match(sessions, dim, value))
    if min_wer is not None:
        query = query.where(samples.c.wer >= min_wer)
    query = query.order_by(samples.c.wer.desc() if order == "wer" else samples.c.ts.desc()).limit(limit)
    with read_connection(engine) as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def list_sessions(engine: Engine, since: datetime, until: datetime, filters: Mapping[str, str],
                  limit: int) -> list[dict[str, Any]]:
    table = Session.__table__
    dims = dimensions_of(engine)
    query = select(*_SESSION_OUT).where(table.c.ts >= since, table.c.ts < until)
    for dim, value in filters.items():
        query = query.where(table.c.status == value if dim == "status" else dims.session_match(table, dim, value))
    query = query.order_by(table.c.ts.desc()).limit(limit)
    with read_connection(engine) as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def get_session(engine: Engine, session_id: str) -> dict[str, Any] | None:
    sessions, stages, samples = Session.__table__, Stage.__table__, Sample.__table__
    with read_connection(engine) as conn:
        row = conn.execute(select(*_SESSION_OUT).where(sessions.c.session_id == session_id)
                           .order_by(sessions.c.ts)).mappings().first()  # the first, should an id repeat (0019)
        if row is None:
            return None
        out = dict(row)
        out["hallucination_reasons"] = hallucination.reason_names(out["hallucination"])  # the bitmask, named
        out["stages"] = []
        if row["trace_id"]:
            query = select(stages).where(stages.c.trace_id == row["trace_id"]).order_by(stages.c.start)
            out["stages"] = [
                {k: v for k, v in dict(r).items() if k != "id"} for r in conn.execute(query).mappings()
            ]
        query = select(samples).where(samples.c.session_id == session_id).order_by(samples.c.id)
        out["samples"] = [{k: v for k, v in dict(r).items() if k != "id"} for r in conn.execute(query).mappings()]
    return out


def audit_log(engine: Engine, since: datetime, until: datetime, limit: int,
              action: str | None = None) -> list[dict[str, Any]]:
    table = AuditEntry.__table__
    # The time an entry concerns: the event time an automatic action judged, else the wall
    # clock of a person's action. A console looking at a replayed hour asks for event time and
    # must still see the rollbacks judged in it, although they were written later.
    concerns = func.coalesce(table.c.event_at, table.c.at)
    query = select(table).where(concerns >= since, concerns < until)
    if action:
        query = query.where(table.c.action == action)
    query = query.order_by(table.c.at.desc(), table.c.id.desc()).limit(limit)
    with read_connection(engine) as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
