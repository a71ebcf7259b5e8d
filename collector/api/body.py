"""Reading request bodies: the size limit, Content-Encoding, JSON arrays and NDJSON."""

from __future__ import annotations

import json
import logging
import math
import zlib
from typing import Any

import orjson
from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from asrwatch.services import services_of

log = logging.getLogger("asrwatch.collector")

# Content-Encoding values we decode, and the zlib window each needs: gzip (RFC 1952; `x-gzip` is
# its alias, RFC 9110 8.4.1.3) and deflate, which RFC 9110 defines as the zlib format (RFC 1950).
ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
IDENTITY = ("", "identity")
# Output is produced at most this much at a time, so a bomb never inflates past the limit plus
# one chunk before it is refused.
CHUNK = 64 * 1024


def content_encoding(request: Request) -> str:
    """The request's Content-Encoding, lowercased; 415 naming the header when we cannot decode it."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in IDENTITY or encoding in ENCODINGS:
        return encoding
    supported = ", ".join(["identity", *ENCODINGS])
    raise HTTPException(415, f"Content-Encoding: unsupported {encoding[:40]!r}; supported: {supported}")


async def read_body(request: Request) -> bytes:
    """The body, decoded from its Content-Encoding, or 413 once it passes `max_body_bytes`.

    The limit applies to what arrives (checked against Content-Length and while streaming) and
    again to the decompressed size: nobody gets more room by arriving compressed (ASP.NET Core's
    request decompression enforces the body limit on the decompressed body the same way,
    dotnet/aspnetcore#40279). Decompression is incremental and runs in a worker thread, so
    neither a bomb's memory nor its CPU reaches the event loop or the other requests on it.
    """
    limit = services_of(request).settings.max_body_bytes
    encoding = content_encoding(request)  # before reading: an unsupported one is refused at once
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body: {declared} bytes is over the limit of {limit} bytes (max_body_bytes)")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"body: over the limit of {limit} bytes (max_body_bytes)")
            chunks.append(chunk)
    except ClientDisconnect:
        # One line, no traceback: a sender that goes away mid-body is routine (a timeout, a
        # restart); nothing of the request was stored or acknowledged.
        log.warning("client disconnected mid-body on %s %s after %d of %s bytes; nothing stored",
                    request.method, request.url.path, size, declared or "?")
        raise HTTPException(400, "body: the client disconnected before the body was complete") from None
    body = b"".join(chunks)
    del chunks
    if encoding in IDENTITY:
        return body
    return await run_in_threadpool(decompress, body, encoding, limit)


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """`body` decoded from gzip or deflate, never producing more than `limit` bytes: 413 past it.

    zlib's `max_length` bounds each step's output and keeps the rest of the input in
    `unconsumed_tail` (https://docs.python.org/3/library/zlib.html#zlib.Decompress.decompress).
    Concatenated gzip members are decoded in turn, as `gzip.decompress` does.
    """
    encoding = encoding.lower()
    wbits = ENCODINGS.get(encoding)
    if wbits is None:
        raise HTTPException(415, f"Content-Encoding: unsupported {encoding[:40]!r}")
    if not body:
        return body
    out = bytearray()
    inflater = zlib.decompressobj(wbits)
    pending, pos = b"", 0
    try:
        while True:
            if not pending:
                if pos >= len(body):
                    break
                # Fed a chunk at a time, so that `unconsumed_tail` (a copy) stays small too.
                pending, pos = body[pos:pos + CHUNK], min(pos + CHUNK, len(body))
            out += inflater.decompress(pending, CHUNK)
            if len(out) > limit:
                raise HTTPException(413, f"body: decompressed ({encoding}) size is over the limit of "
                                         f"{limit} bytes (max_body_bytes)")
            if not inflater.eof:
                pending = inflater.unconsumed_tail
                continue
            pending = inflater.unused_data
            rest_is_padding = not pending.strip(b"\x00") and body.count(b"\x00", pos) == len(body) - pos
            if rest_is_padding:  # gzip.decompress also ignores trailing zero padding
                break
            inflater = zlib.decompressobj(wbits)  # the next of concatenated members
    except zlib.error as exc:
        raise HTTPException(400, f"body: cannot decompress {encoding}: {exc}") from None
    if not inflater.eof:
        raise HTTPException(400, f"body: cannot decompress {encoding}: the data ends before the "
                                 f"end-of-stream marker (truncated)")
    return bytes(out)


def parse_records(body: bytes, content_type: str) -> list[tuple[int, Any]]:
    """(index, parsed object) for a JSON array, a single JSON object, or NDJSON lines.

    A record that is not JSON becomes an `(index, ValueError)` entry so it can be rejected by
    itself while its neighbours are stored: an NDJSON line, or an element of an array holding a
    literal strict JSON refuses (NaN, Infinity, a number like 1e400 that is infinite as a double).
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
            if text[:1] in (b"[", b"{"):  # a single object is read as an array of one
                elements = _array_elements(text if text[:1] == b"[" else b"[" + text + b"]")
                if elements is not None:
                    if not elements:
                        raise HTTPException(422, "body: no records (an empty array)") from None
                    return elements
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
        out.append((index, _parse_one(line, f"line {index + 1}")))
    return out


class _Refused:
    """Where a lenient parse met a literal strict JSON refuses; `literal` is what the sender wrote."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


def _finite_float(literal: str) -> float | _Refused:
    value = float(literal)
    return value if math.isfinite(value) else _Refused(literal)


# Python's json module accepts NaN and Infinity and parses 1e400 to inf; with these hooks it
# marks them instead, so a record can be rejected naming the field that held one.
_LENIENT = json.JSONDecoder(parse_constant=_Refused, parse_float=_finite_float)


def _refused_path(node: Any, path: str = "") -> tuple[str, str] | None:
    """(field path, literal) of the first refused literal in a leniently parsed value."""
    if isinstance(node, _Refused):
        return path or "record", node.literal
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = ((f"[{i}]", v) for i, v in enumerate(node))
    else:
        return None
    for key, value in items:
        child = f"{path}{key}" if key.startswith("[") else (f"{path}.{key}" if path else key)
        found = _refused_path(value, child)
        if found:
            return found
    return None


def _parse_one(text: bytes | str, where: str) -> Any:
    """One record, parsed strictly (orjson); a ValueError naming the field if it cannot be."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        try:
            found = _refused_path(_LENIENT.decode(text.decode() if isinstance(text, bytes) else text))
        except (ValueError, RecursionError):
            found = None
        if found:
            path, literal = found
            return ValueError(f"{path}: {literal} is not a JSON number (JSON has no NaN or Infinity, "
                              f"and a double cannot hold it)")
        return ValueError(f"{where}: invalid JSON: {exc}")


def _array_elements(text: bytes) -> list[tuple[int, Any]] | None:
    """The elements of a JSON array that strict parsing refused, each parsed by itself; None when
    the array's structure itself is broken (then the whole body is invalid JSON)."""
    try:
        source = text.decode()
    except UnicodeDecodeError:
        return None
    out: list[tuple[int, Any]] = []
    ws = " \t\n\r"
    pos, end = 1, len(source)
    try:
        while True:
            while pos < end and source[pos] in ws:
                pos += 1
            if pos < end and source[pos] == "]" and not out:
                pos += 1
                break
            _, stop = _LENIENT.raw_decode(source, pos)
            out.append((len(out), _parse_one(source[pos:stop], f"record {len(out)}")))
            pos = stop
            while pos < end and source[pos] in ws:
                pos += 1
            if pos < end and source[pos] == ",":
                pos += 1
                continue
            if pos < end and source[pos] == "]":
                pos += 1
                break
            return None
    except (ValueError, RecursionError):
        return None
    return out if not source[pos:].strip(ws) else None
