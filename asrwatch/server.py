"""The one place that builds the collector: settings in, a FastAPI app out.

Every router is included by import, every part is built here in the order they depend on each
other (the alert router before the producers that feed it), held in one typed `Services`, and
every background job is handed to one runner (`asrwatch.jobs`). A bad config (an SLO spec, the
router, drift, the actuators, the cost watch) fails here, at start, naming the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from asrwatch import __version__
from asrwatch.jobs import Job, JobRunner, Lockstep
from asrwatch.services import Services
from asrwatch.settings import Settings
from collector.api import (BodyLimit, CollectorMetrics, Limit, RateLimiter, api_docs, health, ingest, query,
                           runbooks)
from collector.store import (
    Dimensions,
    WalCheckpointer,
    apply_retention,
    checkpointed_file,
    compaction_pass,
    configure_dimension_budget,
    configure_dimensions,
    configure_sampling,
    drop_sessions_before,
    make_engine,
    make_session_partitions,
    migrate,
    prune_session_keys,
    storage_problem,
)
from drift import ReportCache, scan_database
from drift import routes as drift_routes
from slo import (
    AlertRouter,
    PrometheusAPI,
    SeriesCache,
    SLISourceUnavailable,
    cache_watch,
    check_sli_source,
    cost_watch,
    evaluator_job,
    metrics_needs,
    slos_from_settings,
)
from slo import routes as slo_routes
from slo.maintenance import config_windows
from slo.maintenance_routes import router as maintenance_router
from slo.rollout import routes as rollout_routes
from slo.router import routes as router_routes

log = logging.getLogger("asrwatch.collector")


def _metrics(settings: Settings, engine: Engine, dimensions: Dimensions) -> CollectorMetrics:
    """/metrics shaped for the SLOs (`slos:` and `openslo:`, parsed once here): their thresholds
    are histogram edges and their dimensions labels, so the exported rules can count them. A
    bad spec raises, naming the SLO and field. The store's per-dimension value budget (rollups
    and labels alike) is set here too: values an SLO filter names never fold."""
    needs = metrics_needs(slos_from_settings(settings))
    budget = configure_dimension_budget(engine, settings.metrics_label_values_max,
                                        {dimensions.column(d): v for d, v in needs.pinned.items()})
    budget.names = {slot: name for name, slot in dimensions.custom.items()}
    return CollectorMetrics(needs.latency_thresholds, needs.max_wers, dimensions=needs.dimensions,
                            label_values_max=settings.metrics_label_values_max, pinned_values=needs.pinned,
                            budget=budget, max_der_thresholds=needs.max_ders, stored_as=dimensions)


def _dimensions(settings: Settings, engine: Engine) -> Dimensions:
    """The configured dimensions' slots (`collector.store.dimensions`). Ingest, /metrics and the
    budget need them before anything is built, so a collector configured with dimensions
    migrates the schema here (idempotent; the lifespan's own pass then finds nothing to do)."""
    if not settings.dimensions:
        return configure_dimensions(engine, ())
    migrate(engine)
    return configure_dimensions(engine, settings.dimensions)


def build_services(settings: Settings) -> Services:
    config_windows(settings, slos_from_settings(settings))  # a bad maintenance window fails here, named
    check_sli_source(settings)  # an SLO Prometheus cannot judge fails here, named
    engine = make_engine(settings.database_url)
    configure_sampling(engine, settings.store.policy())
    alert_router = AlertRouter.from_settings(engine, settings)  # a bad router config fails here
    services = Services(
        settings=settings,
        engine=engine,
        metrics=_metrics(settings, engine, _dimensions(settings, engine)),
        # Charged by the auth dependencies (collector.api.auth), which know the token and the scope.
        rate_limiter=RateLimiter({scope: Limit(limit.rate, limit.capacity)
                                  for scope, limit in settings.rate_limits.items()}) if settings.rate_limits else None,
        alert_router=alert_router,
        slo_series=SeriesCache(),
        drift_reports=ReportCache(),
        drift_scan=scan_database,
        rollout_leader=rollout_routes.rollout_leader(engine, settings),
        prometheus=PrometheusAPI(settings.prometheus) if settings.sli_source == "prometheus" and settings.prometheus else None,
    )
    services.alert_hooks.append(router_routes.router_hook(engine, alert_router))
    return services


def jobs(services: Services, *, housekeeping: bool = True) -> list[Job]:
    """The background jobs, each built (and its config checked) now. `housekeeping=False` leaves
    out the store's own jobs (rollup compaction, retention), for callers that manage the store."""
    settings, engine = services.settings, services.engine
    out: list[Job | None] = []
    if housekeeping:
        out.append(Job("rollup compaction", settings.compaction_interval_s, lambda at: compaction_pass(engine, at),
                       log=logging.getLogger("collector.compaction")))
        wal = checkpointed_file(engine)
        if wal is not None:  # the WAL copied back here, not inside an ingest commit
            checkpointer = WalCheckpointer(wal)
            out.append(Job("WAL checkpoint", 1.0, lambda at: checkpointer.run(), clock="wall", log=log))
        # Ids of sessions counted but not stored, kept for retries only (pruned under any policy:
        # a collector switched back to storing everything still empties the table).
        hours = settings.store.dedupe_hours
        out.append(Job("session key pruning", 600.0,
                       lambda at: prune_session_keys(engine, datetime.now(timezone.utc) - timedelta(hours=hours)),
                       clock="wall", log=log))
        if engine.dialect.name == "postgresql":  # the coming days' partitions, before their rows
            out.append(Job("session partitions", 3600.0, lambda at: make_session_partitions(engine, at),
                           clock="wall", log=log))
        if settings.store.session_days:  # whole sessions: whole day partitions on PostgreSQL
            days = settings.store.session_days
            out.append(Job("session retention", settings.retention_interval_s,
                           lambda at: drop_sessions_before(engine, at - timedelta(days=days)), clock="wall", log=log))
        if settings.retention_days:
            days = settings.retention_days
            out.append(Job("retention", settings.retention_interval_s, lambda at: apply_retention(engine, at, days),
                           clock="wall", log=log))
    cost, cache = cost_watch.cost_job(services), cache_watch.cache_job(services)
    if settings.evaluator_enabled:  # the SLO evaluator and the watches feed the router on this replica
        out += [evaluator_job(services), cost, cache]
    out += [rollout_routes.rollout_job(services), drift_routes.drift_job(services)]
    return [job for job in out if job is not None]


def create_app(settings: Settings, *, run_background: bool = True, lockstep: Lockstep | None = None) -> FastAPI:
    """`run_background=False` leaves out the store's housekeeping jobs (see `jobs`). With a
    `lockstep` driver the jobs go to it and run when its owner advances it (a replay in event
    time), never on timers."""
    services = build_services(settings)
    runner = JobRunner(services.engine, settings.evaluator_clock)
    for job in jobs(services, housekeeping=run_background):
        (runner if lockstep is None else lockstep).add(job)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, services.engine)
        runner.start()
        try:
            yield
        finally:
            await runner.stop()
            services.engine.dispose()
            if services.prometheus is not None:
                services.prometheus.close()

    # /docs is collector.api.api_docs (offline Swagger UI); ReDoc would load from a CDN too.
    app = FastAPI(title="asrwatch collector", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.services = services  # read only through asrwatch.services.services_of
    app.add_middleware(BodyLimit, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        # Closed by default: without this, browsers on other origins get no CORS headers.
        # Bearer tokens, not cookies, so no credentials mode.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Content-Encoding"],
                           expose_headers=["Retry-After", "X-Truncated", "X-Total-Groups", "Link"], max_age=600)

    @app.exception_handler(SLISourceUnavailable)
    async def sli_source_unavailable(request: Request, exc: SLISourceUnavailable) -> JSONResponse:
        # The SLIs live in Prometheus and it did not answer: say so, by name; nothing is judged.
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "15"})

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.error("database error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        if isinstance(exc, DataError):
            # The request held a value the database cannot take (a NUL byte in a parameter):
            # retrying would fail the same way, so it is the caller's to fix.
            return JSONResponse({"detail": "request: a value the database cannot store or compare "
                                           "(for example a NUL character)"}, status_code=422)
        problem = storage_problem(exc, services.engine)
        if problem is not None:  # a full disk or a read-only database: named, for the operator
            log.error("refused on %s: %s", request.url.path, problem.detail)
            return JSONResponse({"detail": problem.detail}, status_code=problem.status,
                                headers={"Retry-After": "30"})
        # Nothing was acknowledged: tell senders to retry rather than drop their records.
        return JSONResponse({"detail": "database unavailable; retry later"}, status_code=503,
                            headers={"Retry-After": "5"})

    for part in (health, ingest, query, slo_routes, router_routes, rollout_routes, drift_routes, runbooks, api_docs):
        app.include_router(part.router)
    app.include_router(maintenance_router)
    return app

