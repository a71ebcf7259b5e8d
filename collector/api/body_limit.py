"""The body limit for every route, not only the ingest ones.

The ingest routes read their bodies themselves (`collector.api.body`: decoded a step at a time,
the limit on the decoded size). Every other route with a body (silences, rollouts, Flagger's
webhooks) is parsed by FastAPI, which reads the whole body first: without this a read-scope
token could post any size. Here, before the app sees the request: 413 when Content-Length or the
bytes received pass `max_body_bytes`, and 415 naming the header for a Content-Encoding on a route
that does not decode one (FastAPI would parse the compressed bytes as JSON).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

from collector.api.body import IDENTITY

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

DECODING_ROUTES = ("/api/v1/sessions", "/api/v1/samples", "/v1/traces")  # collector.api.body decodes these


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.limit = app, max_body_bytes

    async def __call__(self, scope: Scope, receive, send) -> None:
        # The ingest routes enforce the limit and decode their bodies themselves (collector.api.body),
        # a step at a time: nothing to do here for them, and nothing added to the ingest path.
        if (scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS")
                or scope["path"] in DECODING_ROUTES):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding not in IDENTITY:
            await JSONResponse({"detail": f"Content-Encoding: {encoding[:40]!r} is not accepted on this route "
                                          "(only the ingest routes decode a body)"}, 415)(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send, f"{declared} bytes")
            return
        # These bodies are small JSON documents: read them here, within the limit, and hand the app
        # the bytes (FastAPI would turn an error raised mid-read into a 400 "error parsing the body").
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before the body ended: nothing to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._too_large(scope, receive, send, f"over {self.limit} bytes received")
                return
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive, send, size: str) -> None:
        await JSONResponse({"detail": f"body: {size} is over the limit of {self.limit} bytes (max_body_bytes)"},
                           413)(scope, receive, send)
