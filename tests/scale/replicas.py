"""Several collector replicas (real `asrwatch serve` subprocesses) on one database."""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from live_collector import LiveCollector, free_port, write_config


@contextlib.contextmanager
def replicas(tmp_path: Path, database_url: str, count: int = 2,
             config: dict[str, Any] | None = None) -> Iterator[list[LiveCollector]]:
    """`count` collectors on one database, started at once (so their migrations race too)."""
    live: list[LiveCollector] = []
    for i in range(count):
        workdir = tmp_path / f"replica-{i}"
        workdir.mkdir(parents=True, exist_ok=True)
        tokens = {scope: f"{scope}-{secrets.token_hex(12)}" for scope in ("ingest", "read", "admin")}
        config_path = workdir / "asrwatch.yaml"
        write_config(config_path, database_url, tokens, config)
        live.append(LiveCollector(f"http://127.0.0.1:{free_port()}", database_url, tokens, config_path, workdir))
    errors: list[BaseException] = []

    def start(replica: LiveCollector) -> None:
        try:
            replica.start(timeout_s=90)
        except BaseException as exc:  # reported below, after every replica was tried
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(r,)) for r in live]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        if errors:
            raise errors[0]
        yield live
    finally:
        for replica in live:
            replica.stop()
