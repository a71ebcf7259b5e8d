"""The report's pure parts: the month, pooling an SLO's groups, merging alert answers into incidents,
and the package's place in the house plan (an API client: no store, no engine, no Streamlit)."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dashboards.report import parse_month
from dashboards.report.data import (pooled_budget_remaining, public_url, report_time, shape_cost_days,
                                     shape_incidents, shape_slos)
from dashboards.report.render import duration

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]


def test_a_month_is_its_utc_calendar_month():
    nov, dec = parse_month("2026-11"), parse_month("2026-12")
    assert (nov.start, nov.end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert dec.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert len(parse_month("2024-02").days()) == 29
    cut = nov.days(datetime(2026, 11, 3, 6, tzinfo=UTC))
    assert [(s.day, e - s) for s, e in cut] == [(1, timedelta(days=1)), (2, timedelta(days=1)), (3, timedelta(hours=6))]


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-11", "2026/11", "1969-12", " "])
def test_a_bad_month_names_the_option(text):
    with pytest.raises(ValueError, match="^--month: "):
        parse_month(text)


def test_the_month_is_judged_at_its_end_or_the_collectors_clock():
    nov = parse_month("2026-11")
    assert report_time(nov, datetime(2026, 12, 6, tzinfo=UTC)) == nov.end
    assert report_time(nov, datetime(2026, 11, 10, 10, tzinfo=UTC)) == datetime(2026, 11, 10, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="--month: 2026-11 has not begun"):
        report_time(nov, datetime(2026, 10, 31, tzinfo=UTC))
    assert public_url("http://reader:secret@collector.example:8080/base") == "http://collector.example:8080/base"


def test_a_grouped_slo_pools_its_groups_and_lists_the_worst_first():
    answer = {"slos": [
        {"name": "lat", "sli": "latency", "objective": 0.99, "window": "30d", "group_by": ["region"], "groups": [
            {"objective": 0.99, "window": "30d", "group": {"region": "eu"}, "events": 1000, "good": 995,
             "sli_value": 0.995, "error_budget_remaining": 0.5},
            {"objective": 0.99, "window": "30d", "group": {"region": "us"}, "events": 1000, "good": 980,
             "sli_value": 0.98, "error_budget_remaining": -1.0}]},
        {"name": "avail", "sli": "availability", "objective": 0.999, "window": "7d", "group_by": [], "groups": [
            {"objective": 0.999, "window": "7d", "group": {}, "events": 0, "good": 0, "sli_value": None,
             "error_budget_remaining": 1.0}]},
    ]}
    lat, avail = shape_slos(answer)
    assert [g.group for g in lat.groups] == ["region=us", "region=eu"]
    assert lat.groups[0].budget_spent == 2.0 and lat.groups[0].met is False
    # 25 bad of 2000 at a 1% budget: 1.25 budgets spent, pooled as the engine would.
    assert lat.overall.budget_spent == pytest.approx(1.25) and lat.overall.met is False
    assert pooled_budget_remaining(1975, 2000, 0.99) == pytest.approx(-0.25)
    assert avail.groups == [] and avail.overall.met is None and avail.overall.budget_spent == 0.0


def _alert(fp: str, starts: str, ends: str | None, severity: str = "page", **labels: str) -> dict:
    return {"fingerprint": fp, "name": "SLOErrorBudgetBurn", "severity": severity, "starts_at": starts,
            "ends_at": ends, "labels": {"alertname": "SLOErrorBudgetBurn", "slo": "avail", "severity": severity,
                                        **labels}}


def test_incidents_merge_each_episode_once_and_keep_those_that_touch_the_month():
    nov, at = parse_month("2026-11"), datetime(2026, 12, 1, tzinfo=UTC)
    answers = [
        {"alerts": [_alert("a", "2026-11-10T08:47:00+00:00", None, region="eu")]},            # seen firing...
        {"alerts": [_alert("a", "2026-11-10T08:47:00+00:00", "2026-11-10T09:30:00+00:00", region="eu"),  # resolved
                    _alert("b", "2026-10-31T23:00:00+00:00", "2026-11-01T01:00:00+00:00")]},  # began in October
        {"alerts": [_alert("c", "2026-10-01T00:00:00+00:00", "2026-10-02T00:00:00+00:00"),    # October only
                    _alert("d", "2026-11-30T23:00:00+00:00", None, "ticket")]},               # open at the end
    ]
    tickets = [
        {"labels": {"alertname": "WERRegression", "severity": "ticket", "model_version": "v2"},
         "opened_at": "2026-11-20T10:00:00+00:00", "closed_at": None, "title": "WER up"},
        {"labels": {"alertname": "SLOErrorBudgetBurn", "slo": "avail", "severity": "ticket"},  # an episode already
         "opened_at": "2026-11-20T10:00:00+00:00", "closed_at": None, "title": "burn"},
    ]
    found = shape_incidents(answers, tickets, nov, at)
    assert [(i.kind, i.severity, i.start.day, i.duration_s) for i in found] == [
        ("alert", "page", 31, 7200.0), ("alert", "page", 10, 43 * 60.0),
        ("ticket", "ticket", 20, 10 * 86400 + 14 * 3600.0), ("alert", "ticket", 30, 3600.0)]
    assert found[1].group == "region=eu" and found[1].slo == "avail"
    assert found[2].name == "WERRegression" and found[2].group == "model_version=v2" and found[2].end is None
    assert duration(43 * 60.0) == "43m" and duration(26 * 3600 + 60) == "1d 2h 1m"


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append(node.module)
    return out


def test_the_report_is_an_api_client_only():
    """No store, engine or drift internals (it reads the API, as the console does), and neither
    Streamlit nor pandas: a collector host without the console extra can write the report."""
    forbidden = ("collector.store", "collector.measures", "collector.api", "slo", "drift", "streamlit", "pandas",
                 "altair", "asrwatch.server", "dashboards.transforms", "dashboards.loaders", "dashboards.ui")
    files = sorted((ROOT / "dashboards" / "report").glob("*.py"))
    assert len(files) >= 5
    bad = [f"{p.name}: {m}" for p in files for m in _imports(p)
           if any(m == f or m.startswith(f + ".") for f in forbidden)]
    assert bad == []


def test_daily_cost_is_one_step_1d_answer_matched_to_the_days():
    """`/api/v1/cost?step=1d` has a row per day with sessions, keyed by its UTC start `t`."""
    days = parse_month("2026-11").days(datetime(2026, 11, 3, 6, tzinfo=UTC))
    rows = [{"t": "2026-11-01T00:00:00Z", "cost_usd": 2.5, "sessions": 10, "cost_per_successful_turn": 0.25},
            {"t": "2026-11-03T00:00:00Z", "cost_usd": 1.0, "sessions": 4, "cost_per_successful_turn": None}]
    got = shape_cost_days(days, rows)
    assert [(d.start.day, d.cost_usd, d.sessions, d.cost_per_successful_turn) for d in got] == [
        (1, 2.5, 10, 0.25), (2, 0.0, 0, None), (3, 1.0, 4, None)]
