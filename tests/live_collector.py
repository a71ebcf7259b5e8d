"""Start a real collector (`asrwatch serve` in a uvicorn subprocess) for tests to drive over HTTP."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from asrwatch.settings import hash_token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveCollector:
    url: str
    database_url: str
    tokens: dict[str, str]
    config_path: Path
    workdir: Path
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, scope: str = "admin", **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 60), **kwargs)

    def start(self, timeout_s: float = 60.0) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        self.log_path = self.workdir / f"collector-{port}-{int(time.time() * 1000)}.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "asrwatch", "serve", "--config", str(self.config_path),
                 "--host", "127.0.0.1", "--port", str(port)],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"collector exited {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"collector not ready after {timeout_s}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def kill(self) -> None:
        """kill -9: no shutdown hooks, no flushing."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


def write_config(path: Path, database_url: str, tokens: dict[str, str], config: dict[str, Any] | None) -> None:
    # As operators must: the config file holds token hashes; the plain tokens stay with the clients.
    data: dict[str, Any] = {
        "database_url": database_url,
        "auth": {scope: [hash_token(token)] for scope, token in tokens.items()},
    }
    data.update(config or {})
    path.write_text(yaml.safe_dump(data))


@contextlib.contextmanager
def running_collector(tmp_path: Path, config: dict[str, Any] | None = None,
                      database_url: str | None = None, port: int | None = None) -> Iterator[LiveCollector]:
    """A collector on a free loopback port with fresh ingest/read/admin tokens."""
    workdir = Path(tmp_path)
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = database_url or f"sqlite:///{workdir / 'asrwatch.db'}"
    tokens = {scope: f"{scope}-{secrets.token_hex(12)}" for scope in ("ingest", "read", "admin")}
    config_path = workdir / f"asrwatch-{secrets.token_hex(4)}.yaml"
    write_config(config_path, database_url, tokens, config)
    collector = LiveCollector(f"http://127.0.0.1:{port or free_port()}", database_url, tokens, config_path, workdir)
    try:
        collector.start()  # inside the try: a collector that fails to become ready is still stopped
        yield collector
    finally:
        collector.stop()
