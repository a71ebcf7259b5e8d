"""The collector's FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timezone

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from asrwatch import __version__
from asrwatch.settings import Settings
from collector.compaction import compaction_loop
from collector.database import make_engine, migrate, storage_problem
from collector.metrics import CollectorMetrics
from collector.rate_limit import Limit, RateLimiter
from collector.retention import apply_retention
from collector.routes import health, ingest, query

log = logging.getLogger("asrwatch.collector")

# The other parts: each module's `router` is mounted and its `setup(app)` called (to start
# its background loop), in this order — the alert router before those that feed it.
PARTS = ("slo.routes", "slo.router.routes", "slo.rollout.routes", "drift.routes", "collector.runbooks",
         "collector.cost_watch")


def _metrics(settings: Settings) -> CollectorMetrics:
    """/metrics shaped for the SLOs (`slos:` and `openslo:`, parsed once here): their thresholds
    are histogram edges and their dimensions labels, so the exported rules can count them. A
    bad spec raises, naming the SLO and field, as the SLO part's setup would."""
    if not _module_exists("slo.spec"):
        return CollectorMetrics(label_values_max=settings.metrics_label_values_max)
    from slo.spec import metrics_needs, slos_from_settings

    needs = metrics_needs(slos_from_settings(settings))
    return CollectorMetrics(needs.latency_thresholds, needs.max_wers, dimensions=needs.dimensions,
                            label_values_max=settings.metrics_label_values_max, pinned_values=needs.pinned)


async def _retention_loop(app: FastAPI) -> None:
    settings = app.state.settings
    while True:
        try:
            await asyncio.to_thread(apply_retention, app.state.engine, datetime.now(timezone.utc),
                                    settings.retention_days)
        except Exception:
            log.exception("retention pass failed")
        await asyncio.sleep(settings.retention_interval_s)


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def create_app(settings: Settings, *, run_background: bool = True) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, app.state.engine)
        tasks = []
        if run_background and settings.retention_days:
            tasks.append(asyncio.create_task(_retention_loop(app)))
        if run_background:
            tasks.append(asyncio.create_task(compaction_loop(app)))
        for hook in app.state.background:
            tasks.append(asyncio.create_task(hook(app)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            app.state.engine.dispose()

    app = FastAPI(title="asrwatch collector", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.metrics = _metrics(settings)
    app.state.background = []  # coroutines started with the app, e.g. the SLO evaluator
    # Charged by the auth dependencies (collector.auth), which know the token and the scope.
    app.state.rate_limiter = RateLimiter(
        {scope: Limit(limit.rate, limit.capacity) for scope, limit in settings.rate_limits.items()}
    ) if settings.rate_limits else None
    if settings.cors_origins:
        # Closed by default: without this, browsers on other origins get no CORS headers.
        # Bearer tokens, not cookies, so no credentials mode.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Content-Encoding"],
                           expose_headers=["Retry-After"], max_age=600)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.error("database error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        if isinstance(exc, DataError):
            # The request held a value the database cannot take (a NUL byte in a parameter):
            # retrying would fail the same way, so it is the caller's to fix.
            return JSONResponse({"detail": "request: a value the database cannot store or compare "
                                           "(for example a NUL character)"}, status_code=422)
        problem = storage_problem(exc, request.app.state.engine)
        if problem is not None:  # a full disk or a read-only database: named, for the operator
            log.error("refused on %s: %s", request.url.path, problem.detail)
            return JSONResponse({"detail": problem.detail}, status_code=problem.status,
                                headers={"Retry-After": "30"})
        # Nothing was acknowledged: tell senders to retry rather than drop their records.
        return JSONResponse({"detail": "database unavailable; retry later"}, status_code=503,
                            headers={"Retry-After": "5"})

    for router_module in (health, ingest, query):
        app.include_router(router_module.router)
    for name in PARTS:
        if _module_exists(name):
            module = importlib.import_module(name)
            if hasattr(module, "router"):
                app.include_router(module.router)
            setup = getattr(module, "setup", None)
            if setup is not None:
                setup(app)
    return app
