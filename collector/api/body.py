"""Reading request bodies: the size limit, JSON arrays and NDJSON."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import HTTPException, Request

from asrwatch.services import services_of


async def read_body(request: Request) -> bytes:
    """The raw body, or 413 once it passes `max_body_bytes` (checked while streaming too)."""
    limit = services_of(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body: {declared} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body: over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_records(body: bytes, content_type: str) -> list[tuple[int, Any]]:
    """(index, parsed object) for a JSON array, a single JSON object, or NDJSON lines.

    A line of NDJSON that is not JSON becomes an `(index, ValueError)` entry so it can be
    rejected by itself while its neighbours are stored.
    """
    text = body.strip()
    if not text:
        raise HTTPException(422, "body: no records")
    if "ndjson" not in content_type and text[:1] in (b"[", b"{"):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if text[:1] == b"{" and b"\n" in text:
                return _ndjson(text)
            raise HTTPException(400, f"body: invalid JSON: {exc}") from exc
        if isinstance(data, dict):
            return [(0, data)]
        if isinstance(data, list):
            if not data:
                raise HTTPException(422, "body: no records (an empty array)")
            return list(enumerate(data))
        raise HTTPException(400, "body: expected a JSON array of records or NDJSON")
    return _ndjson(text)


def _ndjson(text: bytes) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    for index, line in enumerate(l for l in text.split(b"\n") if l.strip()):
        try:
            out.append((index, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            out.append((index, ValueError(f"line {index + 1}: invalid JSON: {exc}")))
    return out
