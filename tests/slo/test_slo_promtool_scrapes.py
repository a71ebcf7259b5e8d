"""The exported rules against series shaped exactly like real scrapes of `/metrics`.

A real collector app (SQLite) ingests a simulated fleet minute by minute in event time; after
each minute `/metrics` is scraped and every sample becomes a promtool input value at the next
minute, with `_` (no sample) before the collector created that child, before Prometheus first
scraped, and during a scrape gap. The in-process engine reads the same sessions from the
rollups. Both must fire the same alerts (names and labels, Sloth's included for the SLO that
names its service) at the same minutes, including a model version whose very first sessions
are all bad, and promtool's whole-window ratio (derived from recorded 5-minute increases) must
equal the engine's.

What Prometheus cannot see, the comparison leaves out, and says so:
- The collector counts for PRE minutes, with a burst of failures, before the first scrape. A
  window is exact in Prometheus when it starts at or after the first scrape, or before the
  group's first session (its children were born inside it and count from 0). A group is not
  compared at a minute where one of its SLO's alert windows starts in between; there promtool
  must fire nothing for it, while the engine (which sees the burst) does. Counting those
  lifetime values as window events would page.
- Scrapes stop for more than 5 minutes in a quiet stretch (GAP). Windows that start inside it
  are extrapolated by Prometheus; the engine fires nothing there, and neither may promtool,
  though counting lifetime values as window events would page right after the gap.

Created timestamps: the collector writes them on its wall clock, promtool's clock starts at 0
with one minute per input value. Each is translated into promtool's frame by the minute it
was created in: a child created while the test fed minute k (between the wall-clock instants
the test took before feeding minutes k and k+1) is placed at 60k + 60·(its fraction of that
interval) seconds, i.e. after minute k began and before the scrape that follows it at 60(k+1),
as in real time.
"""

from __future__ import annotations

import bisect
import random
import subprocess
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from slo_dense_reference import load_series

from asrwatch.server import create_app
from asrwatch.settings import Settings
from slo.alerting import conditions, policy
from slo.evaluation import evaluate_slo
from slo.prometheus_rules import export_rules, to_yaml
from slo.series import MINUTE
from slo.spec import render_annotation, slos_from_settings

sys.path.insert(0, str(Path(__file__).parent))
from prerequisites import need_program  # noqa: E402
from promtool_unit import promtool_test
from slo_scenarios import BAD_MS, EPOCH, GOOD_MS  # noqa: E402

PRE = 30  # minutes the collector counts before Prometheus first scrapes it
BURST = range(PRE - 10, PRE)  # failures Prometheus never sees as they happen
FIRST = PRE + 1  # promtool index of the first sample
DECODE, BORN, SLOW, LATENCY = range(180, 195), 210, range(240, 300), range(270, 285)
CLEAN = range(PRE, DECODE.start)  # past FIRST + the longest alert window (1d SLO: 144m)
GAP = range(330, 342)  # minutes whose scrape is missing: 12 > 5, past the lookback
MINUTES = 360
TENANTS = ["acme", "beta"]
SLOS = [
    # Sloth-style: names its service (Sloth's alert labels), percent objective, tenant filter (a
    # dimension /metrics labels only because an SLO uses it), alert name and labels per tier.
    {"name": "avail", "service": "speech-api", "sli": "availability", "objective": 99, "window": "1d",
     "min_events": 30, "filters": {"tenant": TENANTS}, "group_by": ["model_version"],
     "labels": {"team": "speech"}, "annotations": {"dashboard": "https://grafana.example/d/asr?var-mv={{ $labels.model_version }}"},
     "alerting": {"name": "ASRAvailabilityBurn", "labels": {"category": "availability"},
                  "page_alert": {"labels": {"pager": "oncall"}}, "ticket_alert": {"name": "ASRAvailabilityTicket"}}},
    # Grouped by a configured dimension too (`dimensions: [accent]`, from attributes): a label like any other.
    {"name": "lat", "sli": "latency", "threshold_ms": 2000, "objective": 0.995, "window": "12h", "min_events": 30,
     "filters": {"channel": "telephony"}, "group_by": ["region", "accent"]},
    # A window that no alert tier records: its ratio comes from the recorded 5m increases.
    {"name": "dec", "sli": "decode_errors", "objective": 0.99, "window": "8h", "min_events": 30,
     "filters": {"tenant": TENANTS}, "group_by": ["tenant"]},
]
# The families the rules read; a scrape has more, which only make the promtool input longer.
WANTED = {"asrwatch_sessions_total", "asrwatch_empty_hypotheses_total", "asrwatch_final_latency_ms_count"}
CREATED = {"asrwatch_sessions_created", "asrwatch_empty_hypotheses_created", "asrwatch_final_latency_ms_created"}


def _minute_sessions(k: int, rng: random.Random) -> list[dict]:
    out = []

    def add(n: int, p_bad: float, bad: str = "timeout", **fields) -> None:
        for i in range(n):
            record = {"session_id": f"{k}-{len(out)}",
                      "ts": (EPOCH + k * MINUTE + timedelta(seconds=rng.randrange(60))).isoformat(),
                      "region": "eu", "channel": "telephony", "tenant": "acme", "model_version": "m1",
                      "status": "ok", "final_latency_ms": GOOD_MS, "hypothesis": "hello there", **fields}
            record["attributes"] = {"accent": "southern" if record["region"] == "us" else "general"}
            if rng.random() < p_bad:
                if bad == "latency":
                    record["final_latency_ms"] = BAD_MS
                elif bad == "decode" and i % 2:
                    record["status"] = "decode_error"
                elif bad == "decode":
                    record["hypothesis"] = ""  # an ok session with an empty transcript
                else:
                    record["status"] = "timeout"
            out.append(record)

    # No failures at all while a window may still start before the first scrape: whatever
    # Prometheus fires then comes from counts it did not see happen.
    noise = 0.0 if k in CLEAN else 1.0
    add(rng.randint(15, 25), 0.05 if k in SLOW else 0.002 * noise, tenant="beta")  # slow burn: tickets
    add(rng.randint(15, 25), 0.6 if k in LATENCY else 0.002 * noise, "latency", region="us")
    add(rng.randint(15, 25), 0.4 if k in DECODE else 0.003 * noise, "decode")
    add(10, 0.9, tenant="probe")  # outside every tenant filter: must change nothing
    if k in BURST:  # before the first scrape: lifetime counts far over every threshold
        add(500, 1.0)
        add(40, 1.0, "latency", region="us")
        add(40, 1.0, "decode", tenant="beta")
    if k == BORN:
        add(40, 1.0, model_version="m2")  # a new label set whose first events are all bad
    elif k > BORN:
        add(20, 0.5 if k < BORN + 8 else 0.002, model_version="m2")
    return out


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    return _scrape_and_engine(tmp_path_factory.mktemp("scrapes"))


def _scrape_and_engine(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path}/scrapes.db", slos=SLOS, evaluator_enabled=False,
                        dimensions=["accent"])
    specs = slos_from_settings(settings)
    values: dict[str, list[str]] = defaultdict(lambda: ["_"] * (MINUTES + 1))
    created: dict[str, float] = {}  # series -> the collector's wall-clock created timestamp
    wall: list[float] = []  # wall[k]: just before the test fed minute k
    rng = random.Random(16)
    app = create_app(settings, run_background=False)
    with TestClient(app) as client:
        for k in range(MINUTES):
            wall.append(time.time())
            response = client.post("/api/v1/sessions", json=_minute_sessions(k, rng))
            assert response.status_code == 200 and not response.json()["rejected"], response.text
            if k < PRE or k in GAP:
                continue  # Prometheus not running yet, or not reaching the collector
            for family in text_string_to_metric_families(client.get("/metrics").text):
                for sample in family.samples:
                    if sample.name in WANTED | CREATED or (sample.name == "asrwatch_final_latency_ms_bucket"
                                                           and sample.labels["le"] == "2000.0"):
                        text = ",".join(f'{n}="{v}"' for n, v in sorted(sample.labels.items()))
                        name = f"{sample.name}{{{text}}}"
                        values[name][k + 1] = repr(sample.value)
                        if sample.name in CREATED:
                            created[name] = sample.value
        wall.append(time.time())
        engine = app.state.services.engine
        series = {spec.name: load_series(engine, spec, EPOCH + MINUTES * MINUTE) for spec in specs}
    for name, wall_clock in created.items():
        promtool_time = repr(_promtool_seconds(wall_clock, wall))
        values[name] = [promtool_time if v != "_" else v for v in values[name]]
    return settings, specs, values, series


def _promtool_seconds(wall_clock: float, wall: list[float]) -> float:
    """A wall-clock instant of the run in promtool's frame: within the minute k it was taken in."""
    k = bisect.bisect_right(wall, wall_clock) - 1
    assert 0 <= k < len(wall) - 1, "created while the test fed the collector"
    return 60.0 * k + 60.0 * (wall_clock - wall[k]) / (wall[k + 1] - wall[k])


def _first_minute(s, g: int) -> int:
    """The event minute of group g's first session (its /metrics children were created then)."""
    return int(np.flatnonzero(s.total[g])[0]) - int((EPOCH - s.start) / MINUTE)


def _unseen(spec, first_minute: int, k: int) -> bool:
    """At minute k, one of the SLO's alert windows starts after the group's first session but
    before Prometheus' first sample, so Prometheus can count only part of it."""
    return any(first_minute < k - w < FIRST for t in policy(spec.window) for w in (t.long_minutes, t.short_minutes))


def _engine_alerts(specs, series) -> dict[int, set[tuple]]:
    """minute -> {(alertname, labels as sorted items, unseen)} that the in-process engine fires."""
    firing: dict[int, set[tuple]] = {k: set() for k in range(MINUTES + 1)}
    for spec in specs:
        s = series[spec.name]
        offset = int((EPOCH - s.start) / MINUTE)
        cond = conditions(s, np.arange(MINUTES + 1) + offset, policy(spec.window), spec.objective, spec.min_events)
        for severity, matrix in (("page", cond.page), ("ticket", cond.ticket)):
            for g, k in zip(*np.nonzero(matrix)):
                labels = {**spec.alert_labels(severity), "slo": spec.name, "severity": severity,
                          **s.group_labels(int(g))}
                unseen = _unseen(spec, _first_minute(s, int(g)), int(k))
                firing[int(k)].add((spec.alert_name(severity), tuple(sorted(labels.items())), unseen))
    return firing


def _lifetime_bad_ratio(values, k: int) -> float:
    """avail's m1 group as the whole counters read at promtool index k: bad / total."""
    def total(status_ok: bool | None) -> float:
        return sum(float(v[k]) for name, v in values.items()
                   if name.startswith("asrwatch_sessions_total{") and 'model_version="m1"' in name
                   and any(f'tenant="{t}"' in name for t in TENANTS) and v[k] != "_"
                   and (status_ok is None or ('status="ok"' in name) == status_ok))
    return total(False) / total(None)


def test_promtool_fires_with_the_engine_on_real_scrapes(tmp_path, scraped):
    promtool = need_program("promtool")  # Debian package prometheus
    settings, specs, values, series = scraped
    assert any('tenant="acme"' in name for name in values), "/metrics labels the tenant the SLOs filter on"
    # m2's timeout child exists from m2's first scrape, its ok child too (at 0), each with a
    # created time inside the minute m2 first sent sessions.
    first = {name: vals.index(next(v for v in vals if v != "_")) for name, vals in values.items()}
    m2 = {name: k for name, k in first.items() if 'model_version="m2"' in name and "sessions_total" in name}
    assert set(m2.values()) == {BORN + 1} and len(m2) == 5 * len(TENANTS[:1])
    m2_created = {float(values[n.replace("_total{", "_created{")][BORN + 1]) for n in m2}
    assert len(m2_created) == 1 and 60 * BORN < m2_created.pop() < 60 * (BORN + 1)
    # m1's decode_error child was created with the label set, long before the first decode error;
    # Prometheus sees it from its first scrape, with the created time of the collector's start.
    m1_decode = 'accent="general",channel="telephony",model_version="m1",region="eu",status="decode_error",tenant="acme"}'
    assert first["asrwatch_sessions_total{" + m1_decode] == FIRST
    assert 0 < float(values["asrwatch_sessions_created{" + m1_decode][FIRST]) < 60
    assert all(v == "_" for name in values for v in values[name][GAP.start + 1:GAP.stop + 1])

    firing = _engine_alerts(specs, series)
    compared = {k: {(name, lb) for name, lb, unseen in alerts if not unseen} for k, alerts in firing.items()}
    m2_page = [k for k, alerts in compared.items()
               if any(dict(lb).get("model_version") == "m2" and dict(lb)["severity"] == "page" for _, lb in alerts)]
    assert m2_page and m2_page[0] == BORN + 1, "m2's first, all-bad minute pages at once"
    assert {name for alerts in compared.values() for name, _ in alerts} == {"ASRAvailabilityBurn", "ASRAvailabilityTicket",
                                                                            "SLOErrorBudgetBurn"}
    assert {dict(lb)["slo"] for alerts in compared.values() for _, lb in alerts} == {"avail", "lat", "dec"}
    assert not any(dict(lb).get("tenant") == "probe" for alerts in compared.values() for _, lb in alerts)
    # The latency burn is in the us sessions, all `southern`: their group alerts, labelled by both.
    lat = {(dict(lb)["region"], dict(lb)["accent"]) for alerts in compared.values() for _, lb in alerts
           if dict(lb)["slo"] == "lat"}
    assert lat == {("us", "southern")}
    # The Sloth-style SLO's alerts carry Sloth's labels; the others none.
    for alerts in compared.values():
        for _, lb in alerts:
            labels = dict(lb)
            sloth = {k: v for k, v in labels.items() if k.startswith("sloth_")}
            assert sloth == ({"sloth_id": "speech-api-avail", "sloth_service": "speech-api", "sloth_slo": "avail",
                              "sloth_severity": labels["severity"]} if labels["slo"] == "avail" else {})
    # (a) The engine sees the pre-scrape burst and alerts on it after the first scrape; Prometheus
    # cannot, and must not make up for it with lifetime values: they are far over the page threshold.
    assert any(unseen for k in range(FIRST, MINUTES + 1) for _, _, unseen in firing[k])
    page_threshold = policy(specs[0].window)[0].threshold(specs[0].objective)
    assert _lifetime_bad_ratio(values, FIRST) > page_threshold
    # (b) The gap is in a quiet stretch: the engine fires nothing from its start on, while the
    # lifetime values read right after it are still over the page threshold.
    assert not any(firing[k] for k in range(GAP.start, MINUTES + 1))
    assert _lifetime_bad_ratio(values, GAP.stop + 1) > page_threshold

    rules, skipped = export_rules(specs, settings)
    assert skipped == []
    (tmp_path / "rules.yaml").write_text(to_yaml(rules))
    annotations = {(r["alert"], r["labels"]["slo"], r["labels"]["severity"]): r["annotations"]
                   for g in rules["groups"] for r in g["rules"] if "alert" in r}
    names = sorted({r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r})
    tests = []
    for k in range(MINUTES + 1):
        for name in names:
            expected = []
            for alertname, items in sorted(compared[k]):
                if alertname != name:
                    continue
                labels = dict(items)
                expected.append({"exp_labels": labels, "exp_annotations": {
                    key: render_annotation(text, labels) for key, text in annotations[(name, labels["slo"], labels["severity"])].items()}})
            tests.append({"eval_time": f"{k}m", "alertname": name, "exp_alerts": expected})
    input_series = [{"series": name, "values": " ".join(vals)} for name, vals in sorted(values.items())]
    promtool_test(promtool, tmp_path, input_series, alert_tests=tests, timeout=600)

    # The engine's alerts (what the API and the router see) carry the same names and labels.
    spec = specs[0]
    at = EPOCH + (BORN + 2) * MINUTE
    statuses = evaluate_slo(spec, load_series_at(settings, spec, at), at, min_events=spec.min_events)
    got = {(a.name, tuple(sorted(a.labels.items()))) for st in statuses for a in st.alerts}
    want = {(name, tuple(sorted({**dict(lb), "alertname": name}.items()))) for name, lb, _ in firing[BORN + 2]
            if dict(lb)["slo"] == spec.name}
    assert got == want and got
    assert all(a.annotations["dashboard"].endswith("var-mv=m2") for st in statuses for a in st.alerts
               if a.labels.get("model_version") == "m2")


def load_series_at(settings, spec, at):
    from collector.store.database import make_engine

    return load_series(make_engine(settings.database_url), spec, at)


@pytest.mark.parametrize("name", ["dec"])
def test_period_ratio_from_recorded_increases_equals_the_engine(tmp_path, scraped, name):
    promtool = need_program("promtool")
    settings, specs, values, series = scraped
    # A window shorter than the scenario, so that the range's length is checked too.
    spec = next(s for s in specs if s.name == name).model_copy(update={"window": timedelta(minutes=150)})
    rules, _ = export_rules([spec], settings)
    period = [g for g in rules["groups"] if g["name"].endswith("-period")][0]
    assert any(r.get("record") == "slo:period_bad_events:increase5m" for r in period["rules"])
    (tmp_path / "rules.yaml").write_text(to_yaml(rules))
    s = series[name]
    offset = int((EPOCH - s.start) / MINUTE)
    tests = []
    # Where Prometheus saw the whole window: after the first scrape and before the gap (the 5m
    # increases across a gap over 5m are missing from the recorded series).
    for k in range(FIRST + 150 + 9, GAP.start, 10):
        good, total = s.window_counts(np.array([k + offset]), spec.window_minutes)
        exp = []
        for g in range(len(s.groups)):
            t, gd = int(total[g, 0]), int(good[g, 0])
            if t:
                labels = {"slo": name, **spec.sloth_labels(), **s.group_labels(g)}
                exp.append({"labels": "slo:sli_error:ratio_rate2h30m{" + ",".join(f'{a}="{b}"' for a, b in labels.items()) + "}",
                            "value": (t - gd) / t})
        assert exp
        tests.append({"expr": f'slo:sli_error:ratio_rate2h30m{{slo="{name}"}}', "eval_time": f"{k}m", "exp_samples": exp})
    assert len(tests) >= 10
    # Every group runs each 5 minutes here, as the period group does in Prometheus.
    input_series = [{"series": n, "values": " ".join(v)} for n, v in sorted(values.items())]
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yaml"], "evaluation_interval": "5m",
        "tests": [{"interval": "1m", "input_series": input_series, "promql_expr_test": tests}],
    }, sort_keys=False, width=1 << 20))
    result = subprocess.run([promtool, "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
