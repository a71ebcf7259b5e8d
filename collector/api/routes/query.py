"""Read API: sessions, corpus WER, cost."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.routing import APIRoute
from fastapi.concurrency import run_in_threadpool

from asrwatch.services import services_of
from collector.api.auth import caller
from collector.api.dependencies import require_read
from collector.api.timeparams import at_or_collector_now, window
from collector.store import (
    API_ERRORS,
    bucketed,
    diarization_by_group,
    error_responses,
    evaluation_time,
    queries,
    watermark,
)
from collector.store import counted_only, dimensions_of, policy_of, throughput_query, time_buckets
from collector.store import audit as access_audit

router = APIRouter(dependencies=[Depends(require_read)], tags=["query"], responses=API_ERRORS)

# A grouped answer holds at most `limit` groups (in group order, from `offset`): group_by over
# every dimension of a fleet past its cardinality budget would otherwise return every row. The
# body stays the list it always was; `X-Truncated: true` says more groups exist, `X-Total-Groups`
# how many, and `Link: <...>; rel="next"` (RFC 8288, as GitHub's REST API paginates) the next page.
LIMIT = Query(queries.GROUPS_DEFAULT, ge=1, le=queries.GROUPS_MAX,
              description="groups per answer; X-Truncated: true when there are more")
OFFSET = Query(0, ge=0, le=10_000_000, description="groups to skip (the next page starts at offset + limit)")
_PAGE_HEADERS = {
    "X-Truncated": {"description": "true when groups past this answer exist", "schema": {"type": "string"}},
    "X-Total-Groups": {"description": "how many groups the query has in all", "schema": {"type": "string"}},
}
_PAGED = {200: {"headers": _PAGE_HEADERS}}
# `step=`: one row per (bucket start `t`, group), each bucket the same query over [t, t + step)
# clipped to the range (`collector.store.bucketed`); buckets are aligned to multiples of the step.
STEP = Query(None, description="e.g. 5m, 1h: one row per (bucket start t, group), at most "
             f"{time_buckets.MAX_POINTS} buckets")
# /wer draws a bootstrap interval per bucket, so it takes fewer (`bucketed.WER_MAX_BUCKETS`).
BOOTSTRAP_RESAMPLES = 1000  # queries.wer_by_group's default
WER_STEP = Query(None, description="e.g. 1h, 1d: one row per (bucket start t, group), at most "
                 f"{bucketed.WER_MAX_BUCKETS} buckets (each draws its own bootstrap interval)")


def _filters(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The dimension filters among the query parameters. A parameter that is neither a filter nor
    one the endpoint declares is refused, by name: `?regoin=eu` would otherwise answer for every
    region, and look like an answer for eu."""
    route = request.scope.get("route")
    declared: set[str] = set()
    stack = [route.dependant] if isinstance(route, APIRoute) else []
    while stack:  # the endpoint's own query parameters and its dependencies'
        dependant = stack.pop()
        declared.update(p.alias for p in dependant.query_params)
        stack.extend(dependant.dependencies)
    unknown = sorted(set(request.query_params) - set(allowed) - declared)
    if unknown:
        name = unknown[0]
        # Named first, as every error is; a name that is not a plain word is quoted after `query`.
        where = name if re.fullmatch(r"[\w.\[\]-]+", name) else f"query: parameter {name[:64]!r}"
        raise HTTPException(422, f"{where}: not a query parameter of {request.url.path} (filters: "
                                 f"{', '.join(allowed)}; see /docs for the others)")
    return {k: v for k, v in request.query_params.items() if k in allowed}


def _group_by(value: str | None) -> list[str]:
    return [d.strip() for d in (value or "").split(",") if d.strip()]


@router.get("/api/v1/sessions", responses={200: {"headers": {"X-Truncated": _PAGE_HEADERS["X-Truncated"]}}})
async def list_sessions(
    request: Request,
    response: Response,
    since: str | None = None,
    until: str | None = None,
    limit: int = Query(100, ge=1, le=5000),
    model_version: str | None = None, region: str | None = None, channel: str | None = None,
    tenant: str | None = None, language: str | None = None, pool: str | None = None, status: str | None = None,
) -> list[dict[str, Any]]:
    start, end = window(since, until)
    filters = _filters(request, (*dimensions_of(services_of(request).engine).names, "status"))
    found = await run_in_threadpool(queries.list_sessions, services_of(request).engine, start, end, filters, limit + 1)
    response.headers["X-Truncated"] = "true" if len(found) > limit else "false"  # more sessions in the window
    found = found[:limit]
    await _audit_transcripts(request, "GET /api/v1/sessions", found)
    return found


@router.get("/api/v1/sessions/{session_id}", responses=error_responses(404))
async def get_session(request: Request, session_id: str) -> dict[str, Any]:
    engine = services_of(request).engine
    found = await run_in_threadpool(queries.get_session, engine, session_id)
    if found is None:
        if policy_of(engine).sampling and await run_in_threadpool(counted_only, engine, session_id):
            raise HTTPException(404, f"session_id: {session_id!r} was counted but not stored (store.sessions: sample)")
        raise HTTPException(404, f"session_id: no session {session_id!r}")
    await _audit_transcripts(request, "GET /api/v1/sessions/{session_id}", [found])
    return found


async def _audit_transcripts(request: Request, endpoint: str, rows: list[dict[str, Any]]) -> None:
    # Written before the response goes out: if the audit row cannot be stored, no text is sent.
    identity, token = caller(request)
    entry = access_audit.transcript_read_entry(datetime.now(timezone.utc), identity, token, endpoint,
                                               access_audit.sessions_with_text(rows))
    await run_in_threadpool(access_audit.record, services_of(request).engine, entry)


def _paged(request: Request, response: Response, rows: list[dict[str, Any]], total: int | None,
           limit: int, offset: int) -> None:
    truncated = offset + len(rows) < total if total is not None else len(rows) >= limit
    response.headers["X-Truncated"] = "true" if truncated else "false"
    if total is not None:
        response.headers["X-Total-Groups"] = str(total)
    if truncated and total is not None:
        response.headers["Link"] = f'<{request.url.include_query_params(offset=offset + limit)}>; rel="next"'


def _paged_buckets(request: Request, response: Response, rows, limit: int, offset: int) -> None:
    response.headers["X-Truncated"] = "true" if rows.truncated else "false"
    response.headers["X-Total-Groups"] = str(rows.total)
    if rows.truncated:
        response.headers["Link"] = f'<{request.url.include_query_params(offset=offset + limit)}>; rel="next"'


def _grouped(fn, request: Request, response: Response, group_by: str | None, since: str | None,
             until: str | None, limit: int, offset: int, *args, step: str | None = None,
             max_buckets: int = time_buckets.MAX_POINTS, dimensions: tuple[str, ...] | None = None):
    start, end = window(since, until)
    # The fixed dimensions and the configured ones (`dimensions:`) filter by query parameter.
    filters = _filters(request, dimensions or dimensions_of(services_of(request).engine).names)
    try:
        if step is None:
            rows = fn(services_of(request).engine, _group_by(group_by), start, end, filters, *args,
                      limit=limit, offset=offset)
        else:
            rows = bucketed.by_bucket(fn, services_of(request).engine, _group_by(group_by), start, end,
                                      time_buckets.parse_step(step), filters, *args, limit=limit, offset=offset,
                                      max_points=max_buckets)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if step is not None:  # per bucket: truncated when some bucket had more groups than the page
        _paged_buckets(request, response, rows, limit, offset)
        return rows
    _paged(request, response, rows, rows.total, limit, offset)
    return rows


@router.get("/api/v1/wer", responses=_PAGED)
async def wer(
    request: Request, response: Response, group_by: str | None = None, since: str | None = None,
    until: str | None = None, limit: int = LIMIT, offset: int = OFFSET, step: str | None = WER_STEP,
    model_version: str | None = None, region: str | None = None, channel: str | None = None,
    tenant: str | None = None, language: str | None = None, pool: str | None = None,
    intervals: bool = Query(True, description="false: no bootstrap intervals (ci_low, ci_high, cer_ci_low and "
                                              "cer_ci_high are null); a chart over time needs none, and each "
                                              "bucket's bootstrap costs a resampling of its utterances"),
) -> list[dict[str, Any]]:
    """Corpus WER (S+D+I)/N per group with a 95% bootstrap interval over utterances."""
    return await run_in_threadpool(_grouped, queries.wer_by_group, request, response, group_by, since, until, limit,
                                   offset, BOOTSTRAP_RESAMPLES if intervals else 0, step=step,
                                   max_buckets=bucketed.WER_MAX_BUCKETS)


@router.get("/api/v1/diarization", responses=_PAGED)
async def diarization(
    request: Request, response: Response, group_by: str | None = None, since: str | None = None,
    until: str | None = None, at: str | None = None, limit: int = LIMIT, offset: int = OFFSET,
    model_version: str | None = None, region: str | None = None, channel: str | None = None,
    tenant: str | None = None, language: str | None = None, pool: str | None = None,
) -> list[dict[str, Any]]:
    """DER (missed + false alarm + confusion over reference speech, by pyannote.metrics at ingest)
    per group, with its components in seconds, sessions, the mean speaker-count error and a 95%
    bootstrap interval over sessions. The window ends at `until`, else at `at`, else at the
    collector's clock, and starts at `since` (default: a day before its end)."""
    if until is None:
        services = services_of(request)
        end = await run_in_threadpool(at_or_collector_now, at, "at", services.engine, services.settings.evaluator_clock)
        until = end.isoformat()
    return await run_in_threadpool(_grouped, diarization_by_group, request, response, group_by, since, until, limit,
                                   offset)


@router.get("/api/v1/latency", responses=_PAGED)
async def latency(
    request: Request, response: Response, group_by: str | None = None, since: str | None = None,
    until: str | None = None, limit: int = LIMIT, offset: int = OFFSET, step: str | None = STEP,
    model_version: str | None = None, region: str | None = None, channel: str | None = None,
    tenant: str | None = None, language: str | None = None, pool: str | None = None,
    kind: str | None = Query(None, description="comma-separated latencies to answer: final, first_partial, "
                                               "queue (default: all three; a chart of one reads a third)"),
) -> list[dict[str, Any]]:
    """p50/p95/p99 of final, first-partial and queue latency per group (within 1%)."""
    try:
        kinds = queries.latency_kinds(kind)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return await run_in_threadpool(_grouped, partial(queries.latency_by_group, kinds=kinds), request, response,
                                   group_by, since, until, limit, offset, step=step)


@router.get("/api/v1/throughput", responses=_PAGED)
async def throughput(
    request: Request, response: Response, group_by: str | None = None, since: str | None = None,
    until: str | None = None, limit: int = LIMIT, offset: int = OFFSET, step: str | None = STEP,
    node: str | None = None, pool: str | None = None,
) -> list[dict[str, Any]]:
    """Throughput and load per node and/or pool (`group_by=node`, `pool` or `node,pool`): sessions,
    sessions and audio seconds processed per second, GPU seconds, mean and highest concurrent
    streams, mean GPU utilisation (where senders report them) and mean queue time."""
    return await run_in_threadpool(_grouped, throughput_query.throughput_by_group, request, response, group_by, since,
                                   until, limit, offset, step=step, dimensions=throughput_query.THROUGHPUT_DIMENSIONS)


@router.get("/api/v1/status", responses=_PAGED)
async def status(
    request: Request, response: Response, group_by: str | None = None, since: str | None = None,
    until: str | None = None, limit: int = LIMIT, offset: int = OFFSET, step: str | None = STEP,
    model_version: str | None = None, region: str | None = None, channel: str | None = None,
    tenant: str | None = None, language: str | None = None, pool: str | None = None,
) -> list[dict[str, Any]]:
    """Outcome counts per group: ok, partial, decode_error, dropped, timeout, empty transcripts; and
    label-free hallucination checks: sessions with a hypothesis checked, flagged (per reason:
    compression ratio, n-gram loop, text on non-speech audio) and the flagged rate."""
    return await run_in_threadpool(_grouped, queries.status_by_group, request, response, group_by, since, until, limit,
                                   offset, step=step)


@router.get("/api/v1/samples")
async def samples(
    request: Request, since: str | None = None, until: str | None = None,
    min_wer: float | None = Query(None, ge=0), order: Literal["recent", "wer"] = "recent",
    limit: int = Query(100, ge=1, le=5000),
    model_version: str | None = None, region: str | None = None, channel: str | None = None,
    tenant: str | None = None, language: str | None = None, pool: str | None = None,
) -> list[dict[str, Any]]:
    """Labeled samples (scores, never transcript text) with their session's slice, SNR, confidence."""
    start, end = window(since, until)
    filters = _filters(request, dimensions_of(services_of(request).engine).names)
    return await run_in_threadpool(queries.list_samples, services_of(request).engine, start, end, filters, limit,
                                   min_wer, order)


@router.get("/api/v1/cost", responses=_PAGED)
async def cost(
    request: Request, response: Response, group_by: str | None = None, since: str | None = None,
    until: str | None = None, limit: int = LIMIT, offset: int = OFFSET, step: str | None = STEP,
    model_version: str | None = None, region: str | None = None, channel: str | None = None,
    tenant: str | None = None, language: str | None = None, pool: str | None = None,
) -> list[dict[str, Any]]:
    """GPU cost, cost per successful turn and per audio minute (per backend too: self-hosted GPU
    time and the paid API's audio minutes at `pricing.api_per_minute`), and the drivers that moved."""
    settings = services_of(request).settings
    fn = partial(queries.cost_by_group, api_per_minute=settings.api_price_per_minute)
    return await run_in_threadpool(_grouped, fn, request, response, group_by, since, until, limit,
                                   offset, settings.price_per_gpu_hour, step=step)


@router.get("/api/v1/audit")
async def audit(
    request: Request, since: str | None = None, until: str | None = None, action: str | None = None,
    limit: int = Query(200, ge=1, le=5000),
) -> list[dict[str, Any]]:
    """The audit log (rollbacks, silences, rollout registrations...), newest first by `at`, the
    wall clock of each action. `since`/`until` select by the time an entry concerns: `event_at`,
    the event time an automatic action (a rollback) judged, else `at`."""
    start, end = window(since, until, default_span=timedelta(days=30))
    return await run_in_threadpool(queries.audit_log, services_of(request).engine, start, end, limit, action)


@router.get("/api/v1/clock")
async def clock(request: Request) -> dict[str, Any]:
    """The event time the evaluators judge as "now", next to the wall clock and the watermark."""
    engine, mode = services_of(request).engine, services_of(request).settings.evaluator_clock
    mark = await run_in_threadpool(watermark, engine)
    at = await run_in_threadpool(evaluation_time, engine, mode)
    return {"mode": mode, "evaluation_time": at, "watermark": mark, "wall": datetime.now(timezone.utc)}


@router.get("/api/v1/dimensions")
async def dimensions(request: Request) -> dict[str, list[str]]:
    """The dimensions every query filters and groups by: the fixed ones, and those this collector
    was configured with (`dimensions:`), which the console offers as slice filters."""
    dims = dimensions_of(services_of(request).engine)
    return {"fixed": [d for d in dims.names if d not in dims.custom], "configured": list(dims.custom)}


@router.get("/api/v1/storage")
async def storage(request: Request) -> dict[str, Any]:
    """Which sessions this collector stores (`store:`): views that read stored sessions say
    when they work on a sample."""
    policy = policy_of(services_of(request).engine)
    return {"sessions": policy.sessions, "sample_rate": policy.sample_rate if policy.sampling else 1.0,
            "always": list(policy.always) if policy.sampling else []}
