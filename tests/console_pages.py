"""Opening a console page under Streamlit's AppTest, and reading what it shows: shared by the
console's page tests (tests/dashboards)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"


def open_page(url: str, token: str | None, page: str, **state) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["api_url"] = url
    at.session_state["api_token"] = token
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def seeded_page(seeded, page: str, **state) -> AppTest:
    return open_page(seeded.live.url, seeded.live.tokens["read"], page, as_of=seeded.as_of, **state)


def window(seeded, hours: int = 24) -> dict[str, str]:
    until = datetime.fromisoformat(seeded.as_of.replace("Z", "+00:00"))
    return {"since": (until - timedelta(hours=hours)).isoformat().replace("+00:00", "Z"), "until": seeded.as_of}


def labeled_sample(api_get, seeded, has: str, **filters) -> tuple[dict, dict]:
    """A stored session among the window's labeled samples (`filters`) with a sample whose `has`
    field is set, and that sample: the session a debug-page test opens."""
    calls = api_get("/api/v1/samples", limit=50, **filters, **window(seeded))
    session = next(s for s in (api_get(f"/api/v1/sessions/{c['session_id']}") for c in calls)
                   if any(x.get(has) for x in s["samples"]))
    return session, next(x for x in session["samples"] if x.get(has))


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def table(at: AppTest, column: str):
    """The first dataframe shown that has `column`."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with column {column!r}; shown: {[list(d.value.columns) for d in at.dataframe]}")
