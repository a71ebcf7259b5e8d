"""The Python client that ASR servers embed to send sessions and samples.

It batches, retries 429/503 and connection failures with exponential backoff (honouring
Retry-After), and while the collector stays unreachable it spools batches to disk as NDJSON
files, replayed in order by `replay_spool()` (and before each new send). Nothing it was
handed is dropped silently: a batch is either acknowledged by the collector or on disk.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

# 507: the collector's disk is full; like an outage, worth retrying and then spooling.
RETRY_STATUSES = {429, 502, 503, 504, 507}


class CollectorError(RuntimeError):
    pass


class CollectorUnreachable(CollectorError):
    pass


class CollectorAuthError(CollectorError):
    pass


class CollectorRejected(CollectorError):
    def __init__(self, message: str, response: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.response = response or {}


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in record.items()}


class CollectorClient:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        spool_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 500,
        max_retries: int = 6,
        backoff_s: float = 0.2,
        max_backoff_s: float = 10.0,
        timeout_s: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)
        self.spool_dir = Path(spool_dir) if spool_dir else None
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sessions: list[dict[str, Any]] = []
        self._samples: list[dict[str, Any]] = []

    # -- immediate sends -------------------------------------------------------------------

    def post_sessions(self, records: Iterable[dict[str, Any]]) -> dict[str, Any]:
        return self._send("/api/v1/sessions", [_jsonable(r) for r in records])

    def post_samples(self, samples: Iterable[dict[str, Any]]) -> dict[str, Any]:
        return self._send("/api/v1/samples", [_jsonable(s) for s in samples])

    # -- buffered sends --------------------------------------------------------------------

    def add_session(self, record: dict[str, Any]) -> None:
        self._sessions.append(record)
        if len(self._sessions) >= self.batch_size:
            self.flush()

    def add_sample(self, sample: dict[str, Any]) -> None:
        self._samples.append(sample)
        if len(self._samples) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        # Sessions first: a sample is scored against its session's stored row.
        if self._sessions:
            batch, self._sessions = self._sessions, []
            self.post_sessions(batch)
        if self._samples:
            batch, self._samples = self._samples, []
            self.post_samples(batch)

    # -- spool -----------------------------------------------------------------------------

    def spooled(self) -> list[Path]:
        if self.spool_dir is None or not self.spool_dir.exists():
            return []
        return sorted(self.spool_dir.glob("*.ndjson"))

    def replay_spool(self) -> int:
        """Send spooled batches oldest first; returns how many records were delivered."""
        delivered = 0
        for path in self.spooled():
            path_name = path.name.split("-", 2)[-1].removesuffix(".ndjson")
            endpoint = "/api/v1/samples" if path_name == "samples" else "/api/v1/sessions"
            records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            self._post_with_retry(endpoint, records)  # raises while still unreachable: keep the file
            path.unlink()
            delivered += len(records)
        return delivered

    def _spool(self, endpoint: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        assert self.spool_dir is not None
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        kind = "samples" if endpoint.endswith("samples") else "sessions"
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}-{kind}.ndjson"
        tmp = self.spool_dir / (name + ".tmp")
        with open(tmp, "w") as fh:
            for record in records:
                fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.spool_dir / name)
        return {"spooled": len(records)}

    # -- transport -------------------------------------------------------------------------

    def _send(self, endpoint: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        if not records:
            return {"accepted": 0, "duplicates": 0, "rejected": []}
        try:
            if self.spooled():
                self.replay_spool()
            return self._post_with_retry(endpoint, records)
        except CollectorUnreachable:
            if self.spool_dir is None:
                raise
            return self._spool(endpoint, records)

    def _post_with_retry(self, endpoint: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        delay = self.backoff_s
        last_error = ""
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.post(endpoint, json=records)
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code in (401, 403):
                    raise CollectorAuthError(
                        f"collector refused the token ({response.status_code}): {_detail(response)}")
                if response.status_code not in RETRY_STATUSES:
                    body = _json(response)
                    if response.status_code >= 400 and response.status_code != 422:
                        raise CollectorRejected(f"{endpoint}: {response.status_code} {_detail(response)}", body)
                    return body
                last_error = f"HTTP {response.status_code}"
                retry_after = response.headers.get("retry-after", "")
                if retry_after.replace(".", "", 1).isdigit():
                    delay = max(delay, float(retry_after))
            if attempt < self.max_retries:
                time.sleep(min(delay, self.max_backoff_s))
                delay *= 2
        raise CollectorUnreachable(f"collector at {self._http.base_url} unreachable: {last_error}")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._http.close()

    def __enter__(self) -> "CollectorClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        return response.json()
    except ValueError:
        return {"detail": response.text[:500]}


def _detail(response: httpx.Response) -> str:
    body = _json(response)
    return str(body.get("detail", body))[:500] if isinstance(body, dict) else str(body)[:500]
