"""A real browser: `asrwatch console` serves the pages and headless Chromium (driven by Playwright)
loads each one with data, finds no exception and saves a screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from live_collector import free_port
from prerequisites import missing, need_module

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = {"executive": "Executive", "oncall": "On-call", "debug": "Debug", "model_owner": "Model owner",
         "rollouts": "Rollouts"}
# Set to refresh the README's screenshot (docs/console-oncall.png) from a real run.
README_SCREENSHOT = os.environ.get("ASRWATCH_README_SCREENSHOT")


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


def _settle(page, title: str) -> None:
    """Wait until the page's title is drawn and Streamlit has finished running the script."""
    page.get_by_role("heading", name=title).first.wait_for(timeout=90_000)
    idle = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
            " && !document.querySelector('[data-stale=\"true\"]')"
            " && !document.querySelector('[data-testid=\"stSkeleton\"]')")
    for _ in range(2):  # twice, a moment apart: a rerun may start right after the first script run
        page.wait_for_function(idle, timeout=90_000)
        page.wait_for_timeout(500)


def test_every_page_renders_in_chromium(playwright_api, console, seeded, tmp_path):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            for path, title in PAGES.items():
                query = f"?session={seeded.debug_session}" if path == "debug" else ""
                route = "" if path == "executive" else path  # the default page lives at /
                page.goto(f"{console}/{route}{query}", wait_until="domcontentloaded")
                _settle(page, title)
                shot = tmp_path / f"{path}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                assert page.locator('[data-testid="stException"]').count() == 0, path
                body = page.inner_text("body")
                for problem in ("Traceback", "unreachable", "rejected", "Page not found"):
                    assert problem not in body, (path, problem)
                if path == "oncall":
                    assert "Firing alerts" in body, body
                    assert page.locator("canvas, svg").count() > 0  # the burn-rate chart drew
                    if README_SCREENSHOT:
                        shutil.copyfile(shot, README_SCREENSHOT)
                if path == "debug":
                    assert page.locator(".asr-sub").count() > 0  # the transcript diff is highlighted
                if path == "executive":
                    assert "SLA compliance" in body
            assert not errors, errors
        finally:
            browser.close()


def _aria_labels(page, prefix: str) -> list[str]:
    """The ARIA labels of the drawn charts starting with `prefix`. Vega puts a chart's description
    on the element it renders into (canvas or svg), so this reads what the drawn chart states, in
    the browser, without reaching into Streamlit's React state."""
    return page.eval_on_selector_all(
        "[aria-label]", "(els, prefix) => els.map(e => e.getAttribute('aria-label')).filter(l => l.startsWith(prefix))",
        prefix)


def test_oncall_timeline_shows_the_page_episode_at_its_event_time(playwright_api, console, seeded, api_get):
    """What a person looks for on the on-call page (issue #22 item 6): the burning group's burn
    chart, with the decode-failures page shaded from its event time, and the burn-down ending at
    the budget /api/v1/slos reports."""
    slos = api_get("/api/v1/slos", at=seeded.as_of)
    name, group = max(((s["name"], g) for s in slos["slos"] for g in s["groups"]
                       if g["burn_rates"].get("1h") is not None), key=lambda sg: sg[1]["burn_rates"]["1h"])
    until = datetime.fromisoformat(seeded.as_of.replace("Z", "+00:00"))
    series = api_get(f"/api/v1/slos/{name}/series", since=(until - timedelta(hours=24)).isoformat(),
                     until=seeded.as_of, step="15m", group=",".join(f"{k}={v}" for k, v in group["group"].items()))
    recorded = [e for e in series["episodes"] if e["severity"] == "page"]
    firing = [p["t"] for p in series["groups"][0]["points"] if p["firing"] == "page"]
    assert recorded or firing, "the decode-failures scenario pages"
    start = datetime.fromisoformat(recorded[0]["starts_at"] if recorded else firing[0])
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(f"{console}/oncall?as_of={seeded.as_of}", wait_until="domcontentloaded")
            _settle(page, "On-call")
            label = f"{name} · " + (",".join(f"{k}={v}" for k, v in group["group"].items()) or "all")
            burn = _aria_labels(page, f"Burn rate of {label}")
            assert len(burn) == 1, _aria_labels(page, "")
            assert f"page {start:%Y-%m-%d %H:%M}" in burn[0], burn[0]
            budget = _aria_labels(page, f"Error budget left for {label}")
            assert len(budget) == 1
            # The decode-failures scenario spends the burning group's budget: the drawn burn-down
            # starts above zero and ends below it, at the budget /api/v1/slos reports.
            points = [p["error_budget_remaining"] for p in series["groups"][0]["points"]]
            left = group["error_budget_remaining"]
            assert points[0] > 0 > points[-1] and points[-1] == left, (points[0], points[-1], left)
            assert f": {points[0] * 100:.1f}% at the start of the range, {left * 100:.1f}% at the end" in budget[0], \
                (budget[0], points[0], left)
        finally:
            browser.close()
