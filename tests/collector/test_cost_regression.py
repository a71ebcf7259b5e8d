from datetime import datetime, timezone

from collector.measures import cost
from slo.cost_regression import cost_alerts

AT = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)


def row(model_version, gpu_seconds, sessions=1000, shadow=0, retries=0, previous=None):
    totals = {"default": {"sessions": sessions, "successful_turns": sessions - shadow, "gpu_seconds": gpu_seconds,
                          "audio_seconds": sessions * 5.0, "retries": retries, "shadow_sessions": shadow}}
    now = cost.summarize(totals, lambda pool: 2.5)
    return {"model_version": model_version, **now, "previous": previous,
            "top_drivers": cost.drivers(now, previous)}


def test_doubled_spend_from_shadow_and_retries_files_a_ticket_naming_drivers():
    before = row("m1", 1000.0)
    after = row("m1", 2000.0, shadow=200, retries=300, previous={k: v for k, v in before.items() if k != "previous"})
    [alert] = cost_alerts([after], ["model_version"], AT)
    assert alert.severity == "ticket" and alert.labels["model_version"] == "m1"
    assert alert.runbook_url == "/runbooks/cost-regression"
    # Every driver that moved, biggest move first (shadow traffic and retries switched on from
    # zero, then GPU time per audio second doubled: 2x GPU seconds over the same audio); the
    # session count did not move and is not named.
    drivers = alert.summary.split("; drivers: ", 1)[1]
    assert drivers == "retries_per_session 0 -> 0.3, shadow_fraction 0 -> 0.2, gpu_seconds_per_audio_second +100%"
    assert alert.evidence["relative_change"] > 1.0  # 2x spend over 0.8x successful turns


def test_flat_cost_or_thin_traffic_files_nothing():
    before = row("m1", 1000.0)
    flat = row("m1", 1050.0, previous=before)
    assert cost_alerts([flat], ["model_version"], AT) == []
    thin_before = row("m2", 10.0, sessions=50)
    thin = row("m2", 40.0, sessions=50, previous=thin_before)
    assert cost_alerts([thin], ["model_version"], AT) == []
