"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from asrwatch.services import services_of
from collector.api.dependencies import require_read
from collector.store import error_responses, read_connection

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": dict[str, str], "description": "database unreachable"}})
async def readyz(request: Request, response: Response) -> dict[str, str]:
    def ping() -> str | None:
        with read_connection(services_of(request).engine) as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    try:
        version = await run_in_threadpool(ping)
    except Exception as exc:  # any database failure means "not ready", with the reason
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return {"status": "unavailable", "reason": type(exc).__name__}
    return {"status": "ready", "schema": str(version)}


@router.get("/metrics", dependencies=[Depends(require_read)], response_class=PlainTextResponse,
            responses=error_responses(401, 403, 503))
async def metrics(request: Request) -> Response:
    return Response(generate_latest(services_of(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
