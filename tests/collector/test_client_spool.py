"""The embedded client: batching, retry on 503, spool while the collector is down, replay."""

import httpx
import pytest

from collector.client import CollectorAuthError, CollectorClient, CollectorUnreachable
from live_collector import free_port, running_collector


def records(prefix, n):
    return [{"session_id": f"{prefix}-{i}", "ts": "2026-11-01T10:00:00Z", "model_version": f"mv-{prefix}",
             "status": "ok", "hypothesis": "hello there"} for i in range(n)]


def test_spool_while_down_then_replay_loses_nothing(tmp_path):
    port = free_port()
    spool = tmp_path / "spool"
    client = CollectorClient(f"http://127.0.0.1:{port}", "will-be-replaced", spool_dir=spool,
                             max_retries=1, backoff_s=0.01, batch_size=50)
    for record in records("down", 120):
        client.add_session(record)
    client.flush()
    assert len(client.spooled()) == 3  # 50 + 50 + 20, each batch on disk, nothing dropped
    with running_collector(tmp_path / "server", port=port) as live:
        client = CollectorClient(live.url, live.tokens["ingest"], spool_dir=spool, max_retries=1, backoff_s=0.01)
        assert client.replay_spool() == 120
        assert client.spooled() == []
        with live.client("read") as http:
            stored = http.get("/api/v1/sessions", params={"model_version": "mv-down", "limit": 500,
                                                          "since": "2026-11-01T00:00:00Z",
                                                          "until": "2026-11-02T00:00:00Z"}).json()
        assert len(stored) == 120
        client.close()


def test_wrong_token_is_a_clear_error(tmp_path):
    with running_collector(tmp_path) as live:
        client = CollectorClient(live.url, "not-a-token", max_retries=0)
        with pytest.raises(CollectorAuthError, match="401"):
            client.post_sessions(records("auth", 1))


def test_unreachable_without_spool_raises(tmp_path):
    client = CollectorClient(f"http://127.0.0.1:{free_port()}", max_retries=1, backoff_s=0.01)
    with pytest.raises(CollectorUnreachable, match="unreachable"):
        client.post_sessions(records("x", 1))


def test_retries_503_with_retry_after_until_accepted():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "database unavailable"})
        return httpx.Response(200, json={"accepted": 1, "duplicates": 0, "rejected": []})

    client = CollectorClient("http://collector.invalid", "t", max_retries=5, backoff_s=0.001)
    client._http = httpx.Client(base_url="http://collector.invalid", transport=httpx.MockTransport(handler))
    assert client.post_sessions(records("r", 1))["accepted"] == 1
    assert len(calls) == 3
