"""FastAPI dependencies shared by every router: settings, database engine, auth scopes.

Routers in other parts (`slo/routes.py`, `drift/routes.py`...) use these, e.g.
`@router.get("/api/v1/slos", dependencies=[Depends(require_read)])` and
`engine: Engine = Depends(get_engine)`.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.engine import Engine

from asrwatch.settings import Settings
from collector.api.auth import require_admin, require_ingest, require_read

__all__ = ["get_settings", "get_engine", "require_read", "require_ingest", "require_admin"]


async def get_settings(request: Request) -> Settings:  # async: no thread pool hop (collector.api.auth)
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine
