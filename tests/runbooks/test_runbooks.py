"""Runbooks: each file has a title and the five sections, the collector serves every one, and
every runbook URL and alert name the code can emit resolves to a file."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from live_collector import running_collector

from collector.api import runbooks

REPO = Path(__file__).resolve().parents[2]
RUNBOOK_DIR = REPO / "runbooks"
AT = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)

# The URL names other parts and people already link to (the list).
EXPECTED = {
    "slo-burn-availability", "slo-burn-latency", "slo-burn-first_partial_latency", "slo-burn-queue_latency",
    "slo-burn-quality", "slo-burn-decode_errors", "decode-failures", "latency-saturation", "drift-confidence",
    "drift-snr", "drift-audio_length", "drift-words_per_second", "drift-latency", "drift-status_mix",
    "drift-traffic_mix", "drift-partial_rewrites", "drift-wer", "vocabulary-drift", "label-free-wer",
    "cost-regression", "router-delivery-failure", "ingest-outage", "canary-rollback", "index",
    "slo-burn-hallucination", "slo-burn-diarization", "slo-burn-cache_hit", "slo-burn-fallback",
}
HEADINGS = [f"## {s}" for s in runbooks.SECTIONS]
SOURCE_DIRS = ("slo", "drift", "collector", "simulator", "dashboards", "inference_probe", "asrwatch")
# A literal runbook link in source: "/runbooks/x", "runbooks/X.md", "https://host/runbooks/x".
LITERAL_URL = re.compile(r"""["'](?:[a-z]+://[^"'\s]*?)?/?runbooks/([A-Za-z0-9_.-]+)["']""")
ALERTNAME_LITERAL = re.compile(r"""alertname\s*=\s*\\?["']([A-Za-z][A-Za-z0-9_]*)\\?["']""")


def runbook_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(RUNBOOK_DIR.glob("*.md"))}


def source_files() -> list[Path]:
    return [p for d in SOURCE_DIRS for p in sorted((REPO / d).rglob("*.py"))]


def emitted_urls() -> set[str]:
    """Every runbook URL the alert producers can put on an alert, from the producers themselves."""
    from drift.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
    from drift.findings import ALERTNAMES, Finding
    from slo.cost_regression import cost_alerts
    from slo.evaluation import runbook_url
    from slo.spec import LATENCY_KINDS, SLI_KINDS, SLOSpec

    urls = set()
    for kind in SLI_KINDS:
        extra = {"threshold_ms": 1000} if kind in LATENCY_KINDS else {"max_wer": 0.15} if kind == "quality" else {}
        extra = {"max_der": 0.2} if kind == "diarization" else extra
        urls.add(runbook_url(SLOSpec(name=f"t-{kind}", sli=kind, objective=0.99, **extra)))

    # Drift: each numeric/categorical feature, plus the features the scanner names literally
    # (wer, vocabulary, label_free_wer), each under every finding kind.
    literal = set()
    for path in sorted((REPO / "drift").glob("*.py")):
        literal |= set(re.findall(r"""feature=["']([a-z_]+)["']""", path.read_text()))
    assert {"wer", "vocabulary"} <= literal, "drift's literal feature names moved; update this test"
    for feature in set(NUMERIC_FEATURES) | set(CATEGORICAL_FEATURES) | literal:
        for kind in ALERTNAMES:
            if (kind == "vocabulary") != (feature == "vocabulary"):
                continue
            finding = Finding(kind=kind, feature=feature, slice={}, test="t", statistic=1.0, p_value=0.01,
                              p_adjusted=0.01, severity="ticket", effect=1.0, effect_floor=0.1,
                              reference_value=0, current_value=1, n_reference=100, n_current=100, summary="s")
            urls.add(finding.to_alert(AT).runbook_url)

    row = {"sessions": 500, "cost_per_successful_turn": 2.0, "top_drivers": [],
           "previous": {"sessions": 500, "cost_per_successful_turn": 1.0}}
    urls |= {a.runbook_url for a in cost_alerts([row], [], AT)}
    from slo.cache_regression import cache_alerts
    now, before = {"cache_lookups": 1000, "cache_hits": 50}, {"cache_lookups": 1000, "cache_hits": 400}
    urls |= {a.runbook_url for a in cache_alerts([now], [before], [], AT)}

    for path in source_files():  # literal links anywhere else (the router's own alert, ...)
        urls |= {m.group(0).strip("\"'") for m in LITERAL_URL.finditer(path.read_text())}
    return urls


def alert_names() -> set[str]:
    from drift.findings import ALERTNAMES
    from slo.cache_regression import ALERT_NAME as CACHE
    from slo.cost_regression import ALERT_NAME as COST
    from slo.evaluation import ALERT_NAME as SLO
    from slo.router.dispatcher import DELIVERY_ALERT

    names = {CACHE, COST, SLO, DELIVERY_ALERT, *ALERTNAMES.values()}
    for path in source_files():  # names only referenced in matchers, e.g. IngestOutage in inhibit rules
        names |= set(ALERTNAME_LITERAL.findall(path.read_text()))
    return names


def url_name(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    # Evaluators off: this module only reads static pages, and the run stays short.
    config = {"evaluator_enabled": False}
    with running_collector(tmp_path_factory.mktemp("runbooks"), config) as collector:
        yield collector


# -- the files --------------------------------------------------------------------------------


def test_expected_runbooks_exist():
    missing = EXPECTED - set(runbook_files())
    assert not missing, f"missing runbooks: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(EXPECTED - {"index"}))
def test_runbook_has_title_and_the_five_sections_in_order(name):
    text = (RUNBOOK_DIR / f"{name}.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("# ") and len(lines[0]) > 4, f"{name}: first line must be '# <Title>'"
    h2 = [line.strip() for line in lines if line.startswith("## ")]
    assert [h for h in h2 if h in HEADINGS] == HEADINGS, f"{name}: sections {h2}"
    # No empty section: each heading is followed by content before the next heading.
    for heading, body in zip(HEADINGS, re.split(r"^## .*$", text, flags=re.M)[1:]):
        assert len(body.strip()) > 80, f"{name}: section {heading!r} is (nearly) empty"


def test_index_links_every_runbook():
    index = (RUNBOOK_DIR / "index.md").read_text(encoding="utf-8")
    assert index.startswith("# ")
    unlinked = [n for n in runbook_files() if n != "index" and f"({n}.md)" not in index]
    assert not unlinked, f"index.md does not link: {unlinked}"


def test_relative_links_between_runbooks_resolve():
    for name, path in runbook_files().items():
        for target in re.findall(r"\]\(([A-Za-z0-9_.-]+\.md)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
            assert runbooks.resolve(target) is not None, f"{name}.md links to missing {target}"


# -- every name the code emits resolves ---------------------------------------------------------


def test_every_emitted_runbook_url_resolves_to_a_file():
    urls = emitted_urls()
    # Sanity: the producers were really asked (one URL per SLI kind at least).
    assert any("slo-burn-" in u for u in urls) and any("drift-" in u for u in urls), urls
    unresolved = sorted(u for u in urls if runbooks.resolve(url_name(u)) is None)
    assert not unresolved, f"runbook URLs emitted by code with no runbook: {unresolved}"


def test_every_alert_name_has_a_runbook():
    names = alert_names()
    assert {"SLOErrorBudgetBurn", "AlertRouterDeliveryFailing", "CostRegression", "IngestOutage"} <= names
    missing = sorted(n for n in names if runbooks.resolve(n) is None)
    assert not missing, f"alert names with no runbook: {missing}"


def test_resolution_is_forgiving_but_not_loose():
    assert runbooks.resolve("slo-burn-first-partial-latency") == "slo-burn-first_partial_latency"
    assert runbooks.resolve("SLO-Burn-Latency.md") == "slo-burn-latency"
    assert runbooks.resolve("drift-snr-db") == "drift-snr"
    assert runbooks.resolve("AlertRouterDeliveryFailing.md") == "router-delivery-failure"
    for bad in ("slo-burn", "drift-", "..", "../pyproject", "nope"):
        assert runbooks.resolve(bad) is None, bad


def test_every_alias_points_at_a_file():
    files = set(runbook_files())
    assert {t for t in runbooks.ALIASES.values()} <= files


# -- served by a live collector ---------------------------------------------------------------


def test_index_lists_every_runbook_without_a_token(live):
    with live.client(scope=None) as http:
        r = http.get("/runbooks")
        assert r.status_code == 200, r.text
        items = r.json()
        assert {i["name"] for i in items} == set(runbook_files()) - {"index"}
        titles = {i["name"]: i["title"] for i in items}
        assert titles["slo-burn-latency"] == (RUNBOOK_DIR / "slo-burn-latency.md").read_text().splitlines()[0][2:]
        page = http.get("/runbooks", headers={"Accept": "text/html,application/xhtml+xml"})
        assert page.headers["content-type"].startswith("text/html")
        assert 'href="/runbooks/canary-rollback"' in page.text
        # The API itself still needs a token: the runbooks are public on purpose, not by accident.
        assert http.get("/api/v1/sessions").status_code == 401


def test_every_runbook_is_served_as_html_and_markdown(live):
    with live.client(scope=None) as http:
        for name, path in runbook_files().items():
            text = path.read_text(encoding="utf-8")
            r = http.get(f"/runbooks/{name}")
            assert r.status_code == 200, (name, r.text)
            assert r.headers["content-type"].startswith("text/html")
            assert "<h1>" in r.text and "<script" not in r.text.lower()
            if name != "index":
                for section in runbooks.SECTIONS:
                    assert f"<h2>{section}</h2>" in r.text, (name, section)
            raw = http.get(f"/runbooks/{name}", params={"format": "md"})
            assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/markdown")
            assert raw.text == text


def test_unknown_runbook_is_a_404_naming_it(live):
    with live.client(scope=None) as http:
        r = http.get("/runbooks/no-such-alert")
        assert r.status_code == 404
        assert "no-such-alert" in r.json()["detail"]
        assert http.get("/runbooks/slo-burn-latency", params={"format": "pdf"}).status_code == 422


def test_every_emitted_url_opens_on_the_collector(live):
    with live.client(scope=None) as http:
        for url in sorted(emitted_urls()):
            path = "/runbooks/" + url_name(url)
            r = http.get(path)
            assert r.status_code == 200, (url, r.text)
            stem = runbooks.resolve(url_name(url))
            assert f'rel="canonical" href="/runbooks/{stem}"' in r.text
