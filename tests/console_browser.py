"""The console in a real browser, shared by the browser tests (tests/dashboards): `asrwatch console`
against the seeded collector, headless Chromium driven by Playwright, and readers of what the
browser drew (Vega's scenegraph items, ARIA labels, metric tiles)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from live_collector import free_port
from prerequisites import missing, need_module

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def playwright_api():
    if not Path(CHROMIUM).exists():
        missing("needs the Debian chromium package")
    return need_module("playwright.sync_api")


@pytest.fixture(scope="module")
def console(seeded, tmp_path_factory):
    """`asrwatch console` against the seeded collector, as a user starts it."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("console")
    log = (workdir / "console.log").open("wb")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("ASRWATCH_CONSOLE_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "asrwatch", "console", "--api", seeded.live.url,
                             "--token", seeded.live.tokens["read"], "--port", str(port)],
                            cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            assert proc.poll() is None, (workdir / "console.log").read_text()
            try:
                if httpx.get(url + "/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "console did not start:\n" + (workdir / "console.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    assert seeded.live.tokens["read"] not in (workdir / "console.log").read_text()


def settle(page, title: str) -> None:
    """Wait until the page's title is drawn and Streamlit has finished running the script."""
    page.get_by_role("heading", name=title).first.wait_for(timeout=90_000)
    idle = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
            " && !document.querySelector('[data-stale=\"true\"]')"
            " && !document.querySelector('[data-testid=\"stSkeleton\"]')")
    for _ in range(2):  # twice, a moment apart: a rerun may start right after the first script run
        page.wait_for_function(idle, timeout=90_000)
        page.wait_for_timeout(500)


def aria_labels(page, prefix: str) -> list[str]:
    """The ARIA labels of the drawn charts starting with `prefix`. Vega puts a chart's description
    on the element it renders into (canvas or svg), so this reads what the drawn chart states, in
    the browser, without reaching into Streamlit's React state."""
    return page.eval_on_selector_all(
        "[aria-label]", "(els, prefix) => els.map(e => e.getAttribute('aria-label')).filter(l => l.startsWith(prefix))",
        prefix)


# Vega's SVG renderer keeps each drawn mark on its element (`__data__`, how Vega's own event
# handling finds what is under the pointer): the mark's items carry their pixel geometry and the
# datum each was drawn from. A line is one SVG path, but its mark still holds an item per point.
_MARK_ITEMS = """([prefix, type]) => {
  // The chart's description is the ARIA label of the element Vega renders into.
  const charts = [...document.querySelectorAll('[aria-label]')]
      .filter(el => el.getAttribute('aria-label').startsWith(prefix) && el.querySelector('svg.marks'));
  if (charts.length !== 1) return {charts: charts.length, items: []};
  const plain = v => (v instanceof Date ? v.getTime() : v);
  const marks = [...new Set([...charts[0].querySelectorAll(`g.mark-${type}.role-mark > *`)]
      .map(el => el.__data__ && el.__data__.mark).filter(m => m && Array.isArray(m.items)))];
  const items = marks.flatMap(m => m.items.filter(it => it.datum).map(it => ({
    mark: m.name, x: it.x, x2: it.x2, y: it.y, y2: it.y2, width: it.width, height: it.height,
    datum: Object.fromEntries(Object.entries(it.datum).map(([k, v]) => [k, plain(v)]))})));
  return {charts: charts.length, items};
}"""


def mark_items(page, chart_prefix: str, mark_type: str) -> list[dict]:
    """The items of the marks of one type (`rect`, `line`, `rule`, ...) drawn in the one chart whose
    description (ARIA label) starts with `chart_prefix`: each with the name of its mark (its
    Vega-Lite layer), its pixel geometry (x, x2, y, y2, width, height) and the datum it drew,
    times as epoch milliseconds. Axes, grids and legends are not marks and are left out."""
    found = page.evaluate(_MARK_ITEMS, [chart_prefix, mark_type])
    assert found["charts"] == 1, (chart_prefix, found["charts"], aria_labels(page, ""))
    return found["items"]
