"""Bearer tokens per scope, compared in constant time and never logged.

Scopes: ingest (POST telemetry), read (every GET), admin (rollbacks, silences, rollouts;
implies read and ingest). With no tokens configured the server is open, which
`asrwatch serve` allows only on a loopback address.
"""

from __future__ import annotations

import hmac
from typing import Literal

from fastapi import HTTPException, Request

Scope = Literal["ingest", "read", "admin"]
_IMPLIED_BY: dict[str, tuple[str, ...]] = {
    "ingest": ("ingest", "admin"),
    "read": ("read", "admin"),
    "admin": ("admin",),
}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _matches(token: str, candidates: list[str]) -> bool:
    # Check every candidate so timing does not reveal which (or whether one) matched early.
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(token.encode(), candidate.encode())
    return found


def token_scopes(token: str, auth) -> set[str]:
    return {scope for scope in ("ingest", "read", "admin") if _matches(token, getattr(auth, scope))}


def check_scope(request: Request, scope: Scope) -> str:
    """Return the caller's identity ("anonymous" when auth is off); raise 401/403."""
    auth = request.app.state.settings.auth
    if not auth.enabled:
        return "anonymous"
    token = _bearer(request)
    if token is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    scopes = token_scopes(token, auth)
    if not scopes:
        raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not any(s in scopes for s in _IMPLIED_BY[scope]):
        raise HTTPException(403, f"token lacks the '{scope}' scope")
    return "admin" if "admin" in scopes else sorted(scopes)[0]


def require_ingest(request: Request) -> str:
    return check_scope(request, "ingest")


def require_read(request: Request) -> str:
    return check_scope(request, "read")


def require_admin(request: Request) -> str:
    return check_scope(request, "admin")
