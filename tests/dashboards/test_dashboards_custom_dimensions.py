"""The console's slice filters take the collector's configured dimensions (#21 part 1): the
collector lists them (`GET /api/v1/dimensions`), the sidebar offers each with the values stored
in the window, and choosing one (or opening a link naming it) filters what the page shows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from console_pages import APP, metrics, open_page
from live_collector import running_collector
from streamlit.testing.v1 import AppTest

from dashboards import transforms as tf

END = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=5)
AS_OF = END.isoformat().replace("+00:00", "Z")
ACCENTS = ["scottish"] * 6 + ["welsh"] * 9 + [None] * 3  # 3 sessions leave it unset: `unknown`


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with running_collector(tmp_path_factory.mktemp("console-dimensions"),
                           config={"dimensions": ["accent"], "evaluator_interval_s": 3600}) as live:
        sessions = [{"session_id": f"d-{i}", "ts": (END - timedelta(minutes=90 - i)).isoformat(),
                     "model_version": "m1", "region": "eu", "channel": "web", "tenant": "acme", "language": "en-GB",
                     "pool": "a100", "status": "ok", "audio_seconds": 4.0, "final_latency_ms": 300.0 + i,
                     "gpu_seconds": 0.2, "turn_success": True, "hypothesis": "turn on the lights",
                     "attributes": {"accent": accent} if accent else None} for i, accent in enumerate(ACCENTS)]
        with live.client("ingest") as http:
            assert http.post("/api/v1/sessions", json=sessions).json()["accepted"] == len(ACCENTS)
        yield live


def _cost(live, **filters) -> dict:
    response = httpx.get(live.url + "/api/v1/cost", params={"since": (END - timedelta(hours=24)).isoformat(),
                                                            "until": END.isoformat(), **filters},
                         headers={"Authorization": f"Bearer {live.tokens['read']}"}, timeout=60)
    response.raise_for_status()
    return response.json()[0]


def test_the_collector_lists_its_dimensions(live):
    with live.client("read") as http:
        assert http.get("/api/v1/dimensions").json() == {
            "fixed": ["model_version", "region", "channel", "tenant", "language", "pool"], "configured": ["accent"]}
    assert httpx.get(live.url + "/api/v1/dimensions").status_code == 401  # a read token, like every query


def test_a_configured_dimension_is_a_slice_filter_that_filters_the_page(live):
    at = open_page(live.url, live.tokens["read"], "executive", as_of=AS_OF)
    accent = at.selectbox(key="filter_accent")
    assert accent.label == "accent" and accent.options == ["(all)", "scottish", "unknown", "welsh"]
    assert metrics(at)["Sessions"] == tf.fmt_int(len(ACCENTS))

    accent.set_value("scottish").run()
    assert not at.exception, [e.value for e in at.exception]
    assert _cost(live, accent="scottish")["sessions"] == 6
    assert metrics(at)["Sessions"] == tf.fmt_int(6)
    assert any("accent=scottish" in c.value for c in at.caption)
    at.selectbox(key="filter_accent").set_value("unknown").run()
    assert metrics(at)["Sessions"] == tf.fmt_int(3)


def test_a_link_naming_a_configured_dimension_opens_its_slice(live):
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["api_url"] = live.url
    at.session_state["api_token"] = live.tokens["read"]
    at.session_state["as_of"] = AS_OF
    at.query_params["accent"] = "welsh"
    at.switch_page("views/executive.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="filter_accent").value == "welsh"
    assert metrics(at)["Sessions"] == tf.fmt_int(9)
