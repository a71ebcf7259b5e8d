"""What a person looks for on the console, read from what headless Chromium drew (issue #22 items
1 and 6): on the on-call page, the burning group's page episode shaded from the alert's event time,
its burn-down crossing the red zero line, the runbook link in view at a laptop's width; on the debug
page, metric tiles shown whole and the model versions compared in a chart.

The charts are read from Vega's own scenegraph in the page (each mark's items: pixel geometry
and the datum drawn), not from the Python that built them; the numbers are compared with the
collector's API."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from console_browser import (CHROMIUM, CHROMIUM_ARGS, aria_labels, console, mark_items,  # noqa: F401
                             playwright_api, settle)
from console_pages import window

# The console's default range and the step it asks the series for over that range.
RANGE = timedelta(hours=24)
STEP = "15m"
LAPTOP = {"width": 1024, "height": 900}  # a small laptop screen: the sidebar open beside the page


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _ms(value: str) -> int:
    return round(_time(value).timestamp() * 1000)


@pytest.fixture(scope="module")
def browser(playwright_api):
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser, url: str, title: str, viewport: dict[str, int] | None = None):
    # In UTC, as the collector: the console's time axes then read as the API's instants.
    page = browser.new_page(viewport=viewport or {"width": 1400, "height": 2400}, timezone_id="UTC")
    page.goto(url, wait_until="domcontentloaded")
    settle(page, title)
    return page


@pytest.fixture(scope="module")
def oncall(browser, console, seeded):
    page = _open(browser, f"{console}/oncall?as_of={seeded.as_of}", "On-call")
    for chart in ("Burn rate of ", "Error budget left for "):
        page.wait_for_selector(f'[aria-label^="{chart}"] svg.marks', timeout=60_000)
    yield page
    page.close()


def _chosen(page) -> tuple[str, str, dict[str, str]]:
    """The SLO group the burn chart draws (the page's default: the hottest), as its label, SLO
    name and group labels."""
    labels = aria_labels(page, "Burn rate of ")
    assert len(labels) == 1, labels
    chosen = labels[0].removeprefix("Burn rate of ").split(" per alert window.")[0]
    name, group = chosen.split(" · ", 1)
    return chosen, name, ({} if group == "all" else dict(kv.split("=", 1) for kv in group.split(",")))


def _series(api_get, seeded, name: str, group: dict[str, str]) -> dict:
    until = _time(seeded.as_of)
    return api_get(f"/api/v1/slos/{name}/series", since=(until - RANGE).isoformat(), until=seeded.as_of,
                   step=STEP, group=",".join(f"{k}={v}" for k, v in group.items()))


def test_the_page_episode_is_shaded_from_the_alerts_event_time(oncall, seeded, api_get):
    chosen, name, group = _chosen(oncall)
    firing = [a for a in api_get("/api/v1/alerts", at=seeded.as_of)["alerts"]
              if a["severity"] == "page" and a["labels"].get("slo") == name
              and all(a["labels"].get(k) == v for k, v in group.items())]
    assert len(firing) == 1, f"the decode-failures scenario pages for {chosen}"
    onset = _ms(firing[0]["starts_at"])
    until = _ms(seeded.as_of)
    series = _series(api_get, seeded, name, group)

    lines = mark_items(oncall, "Burn rate of ", "line")
    grid = sorted({i["datum"]["t"] for i in lines})
    assert grid == [_ms(p["t"]) for p in series["groups"][0]["points"]], "the chart draws the series asked here"
    shaded = [r for r in mark_items(oncall, "Burn rate of ", "rect") if r["datum"]["severity"] == "page"]
    episode = [r for r in shaded if r["datum"]["end"] == until]  # still firing at the page's "as of"
    assert len(episode) == 1, [r["datum"] for r in shaded]
    start = episode[0]["datum"]["start"]
    # Shaded from the alert's own event time: what the evaluator recorded, or, not judged by it
    # yet, where the engine says the page began (the alerts table's time), not at the first
    # chart step after it.
    assert start == onset, (start, onset)

    # Drawn where the time axis puts that instant: Vega's x scale, read off two points of a line.
    other = next(i for i in lines if i["datum"]["t"] != lines[0]["datum"]["t"])
    (t0, x0), (t1, x1) = [(i["datum"]["t"], i["x"]) for i in (lines[0], other)]

    def x_of(t: int) -> float:
        return x0 + (t - t0) * (x1 - x0) / (t1 - t0)

    assert episode[0]["x"] == pytest.approx(x_of(start), abs=0.5)
    assert episode[0]["x2"] == pytest.approx(x_of(until), abs=0.5)


def test_the_burning_groups_burn_down_crosses_zero(oncall, seeded, api_get):
    chosen, name, group = _chosen(oncall)
    slo = next(s for s in api_get("/api/v1/slos", at=seeded.as_of)["slos"] if s["name"] == name)
    left = next(g for g in slo["groups"] if g["group"] == group)["error_budget_remaining"]

    line = sorted(mark_items(oncall, f"Error budget left for {chosen}:", "line"), key=lambda i: i["datum"]["t"])
    budget = [i["datum"]["error_budget_remaining"] for i in line]
    assert budget[0] > 0 > budget[-1], (budget[0], budget[-1])
    assert budget[-1] == left  # the burn-down ends at the budget /api/v1/slos reports
    zero = [r for r in mark_items(oncall, f"Error budget left for {chosen}:", "rule")
            if r["datum"].get("label") == "budget spent"]
    assert len(zero) == 1 and zero[0]["datum"]["y"] == 0
    # On screen (y grows downwards): above the red line at the start of the range, below it at the end.
    assert line[0]["y"] < zero[0]["y"] < line[-1]["y"]
    crossing = next(k for k in range(1, len(budget)) if budget[k - 1] >= 0 > budget[k])
    assert line[crossing - 1]["y"] <= zero[0]["y"] < line[crossing]["y"]


# The grid draws on a canvas; its accessible table holds the header and cells it has in view.
_GRIDS = """tables => tables.map(t => ({
  headers: [...t.querySelectorAll('th[role="columnheader"]')].map(h => h.textContent),
  rows: [...t.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('td')].map(c => c.textContent))}))"""


def test_the_runbook_link_is_in_view_at_a_laptops_width(browser, console, seeded, api_get):
    page = _open(browser, f"{console}/oncall?as_of={seeded.as_of}", "On-call", LAPTOP)
    try:
        grids = page.eval_on_selector_all('[data-testid="stDataFrame"] table[role="grid"]', _GRIDS)
    finally:
        page.close()
    alerts = next(g for g in grids if g["headers"][:2] == ["severity", "name"])
    assert "runbook" in alerts["headers"], alerts["headers"]
    shown = [row[alerts["headers"].index("runbook")] for row in alerts["rows"]]
    firing = api_get("/api/v1/alerts", at=seeded.as_of)["alerts"]
    assert shown and set(shown) <= {seeded.live.url + a["runbook_url"] for a in firing}, shown


# Each tile's label and value, and whether any part of either is cut: text wider than its box
# that the box hides, or one line ending in an ellipsis.
_TILES = """() => [...document.querySelectorAll('[data-testid="stMetric"]')].map(tile => {
  const part = id => tile.querySelector(`[data-testid="${id}"] [data-testid="stMarkdownContainer"]`);
  const cut = el => [el, ...el.querySelectorAll('*')].some(e => {
    const style = getComputedStyle(e);
    const hides = style.overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 1;
    return hides || (style.textOverflow === 'ellipsis' && style.whiteSpace === 'nowrap');
  });
  const label = part('stMetricLabel'), value = part('stMetricValue');
  return {label: label.innerText, value: value.innerText, cut: cut(label) || cut(value)};
})"""


def test_debug_tiles_show_whole_labels_and_values(browser, console, seeded, api_get):
    session = api_get(f"/api/v1/sessions/{seeded.debug_session}")
    page = _open(browser, f"{console}/debug?session={seeded.debug_session}&as_of={seeded.as_of}", "Debug", LAPTOP)
    try:
        tiles = page.evaluate(_TILES)
    finally:
        page.close()
    shown = {t["label"]: t["value"] for t in tiles}
    assert shown["Status"] == session["status"] and shown["Model"] == session["model_version"], shown
    assert {"Final latency", "First partial", "Reference words", "Reference characters", "Entities found"} <= set(shown)
    assert [t for t in tiles if t["cut"]] == []


def test_debug_compares_the_versions_in_a_chart(browser, console, seeded, api_get):
    page = _open(browser, f"{console}/debug?session={seeded.debug_session}&as_of={seeded.as_of}", "Debug", LAPTOP)
    try:
        page.get_by_text("Compare model versions").click()
        settle(page, "Debug")
        chart = page.wait_for_selector('[aria-label^="Model versions side by side"] svg.marks', timeout=60_000)
        bars = mark_items(page, "Model versions side by side", "rect")
        whiskers = mark_items(page, "Model versions side by side", "rule")
        # Every panel in view beside the sidebar: the page does not scroll sideways.
        right = chart.evaluate("svg => svg.getBoundingClientRect().right")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    finally:
        page.close()
    assert right <= widths[1] and widths[0] <= widths[1], (right, widths)
    w = window(seeded)
    rollout = api_get(f"/api/v1/rollouts/{seeded.rollout}")
    wer = {r["model_version"]: r for r in api_get("/api/v1/wer", group_by="model_version", **w) if r["wer"] is not None}
    assert {rollout["baseline_version"], rollout["canary_version"]} <= set(wer)

    drawn = {(b["datum"]["metric"], b["datum"]["model_version"]): b for b in bars}
    assert {v for m, v in drawn if m == "WER (%)"} == set(wer)
    for version, row in wer.items():
        assert drawn["WER (%)", version]["datum"]["value"] == pytest.approx(row["wer"] * 100)
    intervals = {i["datum"]["model_version"]: (i["datum"]["low"], i["datum"]["high"]) for i in whiskers
                 if i["datum"]["metric"] == "WER (%)"}
    for version in (rollout["baseline_version"], rollout["canary_version"]):
        assert intervals[version] == pytest.approx((wer[version]["ci_low"] * 100, wer[version]["ci_high"] * 100))
    # The higher WER is the taller bar (y grows downwards, bars rise from the same baseline).
    by_height = sorted(wer, key=lambda v: drawn["WER (%)", v]["y"], reverse=True)
    assert by_height == sorted(wer, key=lambda v: wer[v]["wer"])
    for row in api_get("/api/v1/latency", group_by="model_version", **w):
        assert drawn["final p95 (ms)", row["model_version"]]["datum"]["value"] == pytest.approx(row["final_p95_ms"])
