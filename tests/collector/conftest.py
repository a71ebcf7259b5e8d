import uuid

import pytest

from live_collector import running_collector
from postgres import create_database, drop_database


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live(request, tmp_path_factory):
    """One collector per engine for the module; tests keep apart by unique ids and model versions."""
    tmp = tmp_path_factory.mktemp(f"collector-{request.param}")
    url = None if request.param == "sqlite" else create_database()
    try:
        pricing = {"default": 2.5, "h100": 4.0, "api_per_minute": 0.03}
        with running_collector(tmp, config={"max_body_bytes": 1_000_000, "pricing": pricing},
                               database_url=url) as collector:
            collector.extra["engine"] = request.param
            yield collector
    finally:
        if url:
            drop_database(url)


@pytest.fixture
def uid():
    return uuid.uuid4().hex[:10]
