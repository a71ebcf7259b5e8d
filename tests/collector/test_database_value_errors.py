"""A value PostgreSQL cannot take (a NUL character in a query parameter or path) is the caller's
error, 422, not an outage: a 503 would make senders retry the same request forever."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from asrwatch.server import create_app
from asrwatch.settings import Settings


@pytest.mark.postgres
def test_nul_in_a_parameter_is_422_not_503(postgres_url):
    app = create_app(Settings(database_url=postgres_url, evaluator_enabled=False))
    with TestClient(app) as client:
        by_path = client.get("/api/v1/sessions/ab%00cd")
        by_filter = client.get("/api/v1/sessions", params={"region": "eu\x00west"})
        healthy = client.get("/api/v1/sessions", params={"region": "eu-west"})
    for response in (by_path, by_filter):
        assert response.status_code == 422, response.text
        assert "Retry-After" not in response.headers
        assert "NUL" in response.json()["detail"]
    assert healthy.status_code == 200 and healthy.json() == []
