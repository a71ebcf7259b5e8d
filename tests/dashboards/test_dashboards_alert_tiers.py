"""`GET /api/v1/slos` states each SLO's alert tiers and burn windows, and the console's burn chart
draws from them: a 7-day SLO shows its own tiers (the 30-day windows scaled by 7/30, as
`slo.alerting.policy` judges it), not the 30-day ones (issue #18)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from asrwatch.server import create_app
from asrwatch.settings import Settings
from dashboards import transforms as tf
from slo.alerting import policy

SLOS = [
    {"name": "week-avail", "sli": "availability", "objective": 0.99, "window": "7d", "group_by": ["region"]},
    {"name": "month-avail", "sli": "availability", "objective": 0.999, "window": "30d",
     "alerting": {"page_alert": {"disable": True}}},
]
REPORTED = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]


@pytest.fixture(scope="module")
def answer(tmp_path_factory) -> dict:
    settings = Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('tiers') / 'asrwatch.db'}", slos=SLOS,
                        evaluator_enabled=False)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    sessions = [{"session_id": f"t{m}-{region}", "ts": (now - timedelta(minutes=m, seconds=30)).isoformat(),
                 "model_version": "v1", "region": region, "status": "timeout" if m < 3 and region == "eu" else "ok"}
                for m in range(30) for region in ("eu", "us")]
    with TestClient(create_app(settings, run_background=False)) as client:
        stored = client.post("/api/v1/sessions", json=sessions)
        assert stored.status_code == 200 and stored.json()["accepted"] == len(sessions), stored.text
        response = client.get("/api/v1/slos", params={"at": now.isoformat()})
        assert response.status_code == 200, response.text
        return response.json()


def _slo(answer: dict, name: str) -> dict:
    return next(s for s in answer["slos"] if s["name"] == name)


def test_a_7_day_slo_states_its_scaled_tiers(answer):
    week = _slo(answer, "week-avail")
    tiers = [(t["severity"], t["long_window"], t["long_window_s"], t["short_window"], t["short_window_s"],
              t["factor"], t["enabled"]) for t in week["alert_tiers"]]
    # 1h, 5m, 6h, 30m, 1d, 2h, 3d, 6h times 7/30, rounded to whole minutes (at least one).
    assert tiers == [
        ("page", "14m", 840, "1m", 60, 14.4, True),
        ("page", "1h24m", 5040, "7m", 420, 6.0, True),
        ("ticket", "5h36m", 20160, "28m", 1680, 3.0, True),
        ("ticket", "16h48m", 60480, "1h24m", 5040, 1.0, True),
    ]
    # The same tiers the engine judges by.
    assert [(t["long_window_s"] // 60, t["short_window_s"] // 60) for t in week["alert_tiers"]] == [
        (t.long_minutes, t.short_minutes) for t in policy(timedelta(days=7))]
    assert [w["window"] for w in week["burn_windows"]] == REPORTED
    assert [w["window_s"] for w in week["burn_windows"]] == [300, 1800, 3600, 7200, 21600, 86400, 259200]
    for group in week["groups"]:
        assert list(group["burn_rates"]) == REPORTED  # burn_windows names what every group reports

    month = _slo(answer, "month-avail")
    assert [(t["severity"], t["long_window"], t["short_window"], t["factor"], t["enabled"])
            for t in month["alert_tiers"]] == [
        ("page", "1h", "5m", 14.4, False), ("page", "6h", "30m", 6.0, False),
        ("ticket", "1d", "2h", 3.0, True), ("ticket", "3d", "6h", 1.0, True)]


def test_the_console_draws_the_7_day_slos_own_thresholds(answer):
    rules = tf.threshold_frame(answer, "week-avail")
    assert list(zip(rules["severity"], rules["window"], rules["threshold"])) == [
        ("page", "14m", 14.4), ("page", "1m", 14.4), ("page", "1h24m", 6.0), ("page", "7m", 6.0),
        ("ticket", "5h36m", 3.0), ("ticket", "28m", 3.0), ("ticket", "16h48m", 1.0), ("ticket", "1h24m", 1.0)]
    burns = tf.burn_frame(answer)
    eu = burns[(burns["slo"] == "week-avail") & (burns["group"] == "region=eu")]
    assert list(eu["window"]) == REPORTED
    assert eu[eu["window"] == "5m"]["burn_rate"].iloc[0] > 14.4  # 3 of 5 minutes timed out
    assert tf.window_order(eu, rules) == ["1m", "5m", "7m", "14m", "28m", "30m", "1h", "1h24m", "2h", "5h36m",
                                          "6h", "16h48m", "1d", "3d"]
    assert tf.thresholds_caption(answer, "week-avail") == (
        "Ticks: page when 14m & 1m exceed 14.4x or 1h24m & 7m exceed 6x; "
        "ticket when 5h36m & 28m exceed 3x or 16h48m & 1h24m exceed 1x (7d SLO).")
    # The 30-day SLO disables its page tier: only its ticket thresholds are drawn.
    month = tf.threshold_frame(answer, "month-avail")
    assert set(zip(month["severity"], month["threshold"])) == {("ticket", 3.0), ("ticket", 1.0)}
