"""`asrwatch report` against a live collector: every figure it prints is the read API's own
(budget spent per SLO and group, WER per model version, cost per turn and per audio minute), and
the month's incident is listed with the episode the API records for it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from report_seed import INCIDENT_END, INCIDENT_ONSET, SLOS
from report_page import ReportPage


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _page(written) -> ReportPage:
    return ReportPage((written / "report.html").read_text(encoding="utf-8"))


def test_the_report_is_judged_at_the_month_end_or_the_collectors_clock(seeded, written):
    page = _page(written)
    clock = _time(seeded.get("/api/v1/clock")["evaluation_time"])
    month_end = (seeded.start.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0)
    assert page.attrs_of["sub"]["data-month"] == seeded.month
    assert _time(page.attrs_of["sub"]["data-at"]) == min(clock, month_end)
    assert page.external == []  # nothing to fetch: no scripts, stylesheets, images or links
    assert "no-data" not in page.ids


def test_budget_spent_per_slo_and_group_equals_the_api(seeded, written):
    page = _page(written)
    at = page.attrs_of["sub"]["data-at"]
    slos = {s["name"]: s for s in seeded.get("/api/v1/slos", at=at)["slos"]}
    assert sorted(slos) == sorted(s["name"] for s in SLOS)
    for name, slo in slos.items():
        groups = slo["groups"]
        if not slo["group_by"]:
            (only,) = groups
            shown = page.figure("budget-spent", slo=name, group="")
            assert shown.number == 1.0 - only["error_budget_remaining"]
            assert shown.text == f"{(1.0 - only['error_budget_remaining']) * 100:.1f}%"
            continue
        for group in groups:
            label = ",".join(f"{k}={v}" for k, v in group["group"].items())
            shown = page.figure("budget-spent", slo=name, group=label)
            assert shown.number == 1.0 - group["error_budget_remaining"], (name, label)
            assert page.figure("events", slo=name, group=label).number == group["events"]
        # The SLO's own line pools its groups' counts under the engine's budget formula.
        events, good = sum(g["events"] for g in groups), sum(g["good"] for g in groups)
        pooled = ((events - good) / events) / (1.0 - slo["objective"])
        assert abs(page.figure("budget-spent", slo=name, group="").number - pooled) < 1e-12
    # The incident burnt the availability budget past 100%: the page says so.
    assert page.figure("budget-spent", slo="availability", group="").number > 1.0
    # Groups follow their SLO worst first.
    spent = [f.number for f in page.figures if f.name == "budget-spent" and f.keys["slo"] == "final-latency"
             and f.keys["group"]]
    assert len(spent) >= 2 and spent == sorted(spent, reverse=True)


def test_wer_per_model_version_equals_the_api(seeded, written):
    page = _page(written)
    at = page.attrs_of["sub"]["data-at"]
    month_start = seeded.start.replace(day=1, hour=0, minute=0)
    rows = seeded.get("/api/v1/wer", group_by="model_version", since=_iso(month_start), until=at)
    assert len(rows) == 2  # the stable version and the canary
    for row in rows:
        shown = page.figure("wer", version=row["model_version"])
        assert shown.number == row["wer"] and shown.text == f"{row['wer'] * 100:.2f}%"
        assert page.figure("utterances", version=row["model_version"]).number == row["utterances"]
    assert sorted(label for label, _ in page.bars["wer-by-version"]) == sorted(r["model_version"] for r in rows)


def test_cost_per_turn_and_per_audio_minute_equal_the_api(seeded, written):
    page = _page(written)
    at = page.attrs_of["sub"]["data-at"]
    month_start = seeded.start.replace(day=1, hour=0, minute=0)
    (row,) = seeded.get("/api/v1/cost", since=_iso(month_start), until=at)
    assert row["sessions"] > 0
    for figure, key in (("cost-per-successful-turn", "cost_per_successful_turn"),
                        ("cost-per-audio-minute", "cost_per_audio_minute"), ("cost-usd", "cost_usd"),
                        ("sessions", "sessions")):
        # Equal up to float summation order: the store sums GPU seconds over rollup rows that
        # compaction may regroup between two answers, so the last bits of a cost can differ.
        assert page.figure(figure).number == pytest.approx(row[key], rel=1e-9), figure
    assert page.figure("cost-per-successful-turn").text == f"${row['cost_per_successful_turn']:,.4f}"
    # The daily bars are the API's answer for each UTC day, and add up to the month's cost.
    days = page.bars["cost-by-day"]
    (day,) = seeded.get("/api/v1/cost", since=_iso(seeded.start.replace(hour=0)),
                        until=_iso(seeded.start.replace(hour=0) + timedelta(days=1)))
    assert float(days[seeded.start.day - 1][1]) == pytest.approx(day["cost_usd"], rel=1e-9)
    assert sum(float(v) for _, v in days) == pytest.approx(row["cost_usd"], rel=1e-9)


def test_the_incident_is_listed_with_the_episodes_the_api_records(seeded, written):
    html = (written / "report.html").read_text(encoding="utf-8")
    page = ReportPage(html)
    answer = seeded.get("/api/v1/alerts", state="all", at=_iso(seeded.end))["alerts"]
    pages = [a for a in answer if a["severity"] == "page"]
    assert pages, "the decode-failure incident raised no page"
    onset, over = seeded.start + INCIDENT_ONSET, seeded.start + INCIDENT_END
    durations = [f for f in page.figures if f.name == "incident-duration"]
    assert len(durations) >= len({(a["fingerprint"], a["starts_at"]) for a in answer})
    for alert in pages:
        start = _time(alert["starts_at"])
        assert onset - timedelta(minutes=15) <= start <= over
        assert start.strftime("%Y-%m-%d %H:%M UTC") in html
        if alert["ends_at"]:
            seconds = (_time(alert["ends_at"]) - start).total_seconds()
            assert any(f.number == seconds for f in durations), (alert, durations)
