"""Loading what the judge compares, per slice, from rollups and sessions (the SQL side).

WER, CER and DER pairs, entity counts, status counters, successful turns and GPU cost come from the per-minute rollups;
latency samples (Mann-Whitney needs them, not a histogram) and privacy errors from the
sessions of the window. A slice is cut by the fixed dimensions or the configured ones
(`dimensions:`), each read from its slot column (`collector.store.dimensions`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.measures import wer as wer_math
from collector.store import Rollup, Session, dimensions_of, policy_of, read_connection, sampled_in
from slo.rollout.judge import ArmStats, SliceData

SLICE_DIMENSIONS = ("region", "channel", "tenant", "language", "pool")
FAILURE_STATUSES = ("status_decode_error", "status_dropped", "status_timeout")


def validate_slice_by(slice_by: Sequence[str], configured: Iterable[str] = ()) -> list[str]:
    """`slice_by` as a list, or ValueError naming the unknown dimensions and the valid ones: the
    fixed slice dimensions and `configured` (the configured dimensions' names)."""
    known = [*SLICE_DIMENSIONS, *configured]
    bad = [d for d in slice_by if d not in known]
    if bad:
        raise ValueError(f"slice_by: unknown dimension(s) {bad}; use {known}")
    return list(slice_by)


def _is_privacy_error(attributes: dict | None) -> bool:
    return bool(attributes) and bool(attributes.get("privacy_error"))


def load_slices(
    engine: Engine,
    *,
    baseline: str,
    canary: str,
    slice_by: Sequence[str],
    since: datetime,
    until: datetime,
    price_per_gpu_hour: Callable[[str | None], float],
) -> list[SliceData]:
    mapping = dimensions_of(engine)
    dims = validate_slice_by(slice_by, mapping.custom)
    columns = [mapping.column(d) for d in dims]  # a configured dimension's slot
    versions = (baseline, canary)
    acc: dict[tuple[str, tuple[str, ...]], dict] = defaultdict(lambda: {
        "pairs": [], "cer_pairs": [], "diar_pairs": [], "entities": 0, "found": 0, "latency": [], "sessions": 0, "stored": 0, "failures": 0, "decode_errors": 0, "privacy": 0,
        "turns": 0, "cost": 0.0, "hallucination_checked": 0, "hallucination_flagged": 0})

    minute_floor = since.replace(second=0, microsecond=0)
    with read_connection(engine) as conn:
        rows = conn.execute(select(Rollup).where(Rollup.model_version.in_(versions), Rollup.minute >= minute_floor,
                                                 Rollup.minute < until))
        for r in rows:
            a = acc[(r.model_version, tuple(getattr(r, c) for c in columns))]
            # Each language by the measure that fits it: CER where words are not spaced (`ArmStats`).
            if wer_math.written_without_spaces(r.language):
                a["cer_pairs"].append(r.cer_pairs or {})
            else:
                a["pairs"].append(r.wer_pairs or {})
            a["entities"] += r.entity_occurrences or 0
            a["diar_pairs"].append(r.diar_pairs or {})
            a["found"] += r.entities_found or 0
            a["hallucination_checked"] += r.hallucination_checked or 0
            a["hallucination_flagged"] += r.hallucination_flagged or 0
            a["sessions"] += r.sessions
            a["failures"] += sum(getattr(r, s) for s in FAILURE_STATUSES)
            a["decode_errors"] += r.status_decode_error
            a["turns"] += r.successful_turns
            a["cost"] += (r.gpu_seconds or 0.0) / 3600.0 * price_per_gpu_hour(r.pool)
        # Under sampled storage the stored rows over-represent the always-kept classes (every
        # failure, labeled session, probe): latency is compared on the hashed share alone, an
        # unbiased sample, except for an arm stored whole (the canary of an active rollout).
        # Privacy errors are counted on every stored row: the veto wants each one seen.
        policy = policy_of(engine)
        rate = policy.sample_rate if policy.sampling else None
        whole = {canary} if rate is not None and "canary" in policy.always else set()
        # A configured dimension's NULL (left unset) reads `unknown`, as its rollups store it.
        cols = [Session.model_version, Session.final_latency_ms, Session.attributes, Session.session_id] + \
            [mapping.session_column(Session.__table__, d) for d in dims]
        rows = conn.execute(select(*cols).where(Session.model_version.in_(versions), Session.ts >= since,
                                                Session.ts < until))
        for row in rows:
            a = acc[(row[0], tuple(row[4:]))]
            if _is_privacy_error(row[2]):
                a["privacy"] += 1
            if rate is not None and row[0] not in whole and not sampled_in(row[3], rate):
                continue
            a["stored"] += 1
            if row[1] is not None:
                a["latency"].append(float(row[1]))

    keys = sorted({k for _, k in acc})
    out = []
    for key in keys:
        arms = []
        for version in (canary, baseline):
            a = acc.get((version, key))
            arms.append(ArmStats(stored=None if rate is None else 0) if a is None else ArmStats(
                wer_pairs=wer_math.merge_pairs(a["pairs"]), cer_pairs=wer_math.merge_pairs(a["cer_pairs"]),
                diar_pairs=wer_math.merge_pairs(a["diar_pairs"]),
                entity_occurrences=a["entities"], entities_found=a["found"], latency_ms=a["latency"],
                sessions=a["sessions"],
                failures=a["failures"], decode_errors=a["decode_errors"], privacy_errors=a["privacy"],
                successful_turns=a["turns"], cost_usd=a["cost"],
                hallucination_checked=a["hallucination_checked"], hallucination_flagged=a["hallucination_flagged"],
                stored=None if rate is None else a["stored"]))
        out.append(SliceData(dict(zip(dims, key)), arms[0], arms[1], sample_rate=rate))
    return out
