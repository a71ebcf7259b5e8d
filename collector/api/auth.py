"""Bearer tokens per scope, compared by hash in constant time, rate limited, never logged.

Scopes: ingest (POST telemetry), read (every GET), admin (rollbacks, silences, rollouts;
implies read and ingest). Settings hold only `sha256:<hex>` hashes of the tokens: a caller's
token is hashed and compared with `hmac.compare_digest` against every configured hash. With
no tokens configured the server is open, which `asrwatch serve` allows only on loopback.

A caller that passes gets `request.state.identity` (its scope name, as audit rows show it)
and `request.state.token_id` (the first 12 hex digits of its token's hash, which name its
config entry without revealing it), and, when `rate_limits` are configured, its bucket for
the endpoint's scope is charged: an empty bucket answers 429 with Retry-After.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from fastapi import HTTPException, Request

from asrwatch.services import services_of
from collector.api.rate_limit import retry_after

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "admin")
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


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def token_id(digest: bytes) -> str:
    """A fingerprint safe to store and show: it matches the start of the config's hash."""
    return digest.hex()[:12]


def digest_scopes(digest: bytes, auth) -> set[str]:
    # Compare with every configured hash, with no early exit, so timing reveals neither which
    # entry matched nor whether one did.
    found: set[str] = set()
    for scope in SCOPES:
        for configured in getattr(auth, scope):
            if hmac.compare_digest(digest, bytes.fromhex(configured[7:])):
                found.add(scope)
    return found


def token_scopes(token: str, auth) -> set[str]:
    return digest_scopes(token_digest(token), auth)


def _charge(request: Request, scope: str, digest: bytes) -> None:
    limiter = services_of(request).rate_limiter
    if limiter is None:
        return
    wait = limiter.acquire(scope, digest)
    if wait > 0:
        limit = limiter.limits[scope]
        raise HTTPException(
            429, f"rate limit: this token may make {limit.rate:g} '{scope}' requests per second "
                 f"(bursts of {limit.burst:g}); retry after {retry_after(wait)} s",
            headers={"Retry-After": retry_after(wait)})


def check_scope(request: Request, scope: Scope) -> str:
    """Return the caller's identity ("anonymous" when auth is off); raise 401/403/429."""
    auth = services_of(request).settings.auth
    if not auth.enabled:
        request.state.identity, request.state.token_id = "anonymous", None
        return "anonymous"
    token = _bearer(request)
    if token is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    digest = token_digest(token)
    scopes = digest_scopes(digest, auth)
    if not scopes:
        raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not any(s in scopes for s in _IMPLIED_BY[scope]):
        raise HTTPException(403, f"token lacks the '{scope}' scope")
    identity = "admin" if "admin" in scopes else sorted(scopes)[0]
    request.state.identity, request.state.token_id = identity, token_id(digest)
    _charge(request, scope, digest)
    return identity


def caller(request: Request) -> tuple[str, str | None]:
    """(identity, token fingerprint) of a request that passed `check_scope`, for audit rows."""
    return getattr(request.state, "identity", "anonymous"), getattr(request.state, "token_id", None)


# Coroutines that never await: FastAPI runs a plain `def` dependency in its thread pool, a
# hand-off per request that costs more than the check itself.
async def require_ingest(request: Request) -> str:
    return check_scope(request, "ingest")


async def require_read(request: Request) -> str:
    return check_scope(request, "read")


async def require_admin(request: Request) -> str:
    return check_scope(request, "admin")
