"""FastAPI dependencies shared by every router: the services, settings, database engine, auth scopes.

Routers in other parts (`slo/routes.py`, `drift/routes.py`...) use these, e.g.
`@router.get("/api/v1/slos", dependencies=[Depends(require_read)])` and
`engine: Engine = Depends(get_engine)`.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.engine import Engine

from asrwatch.services import Services, services_of
from asrwatch.settings import Settings
from collector.api.auth import require_admin, require_ingest, require_read

__all__ = ["get_services", "get_settings", "get_engine", "require_read", "require_ingest", "require_admin"]


# async: no thread pool hop (collector.api.auth)
async def get_services(request: Request) -> Services:
    return services_of(request)


async def get_settings(request: Request) -> Settings:
    return services_of(request).settings


async def get_engine(request: Request) -> Engine:
    return services_of(request).engine
