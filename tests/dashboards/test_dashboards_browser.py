"""A real browser: `asrwatch console` serves the pages and headless Chromium (driven by Playwright)
loads each one with data, finds no exception and saves a screenshot."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta

# The console and the browser come from tests/console_browser.py, shared with the drawn-chart tests.
from console_browser import CHROMIUM, CHROMIUM_ARGS, console, playwright_api  # noqa: F401
from console_browser import aria_labels as _aria_labels
from console_browser import settle as _settle

PAGES = {"executive": "Executive", "oncall": "On-call", "debug": "Debug", "model_owner": "Model owner",
         "rollouts": "Rollouts"}
# Set to refresh the README's screenshot (docs/console-oncall.png) from a real run.
README_SCREENSHOT = os.environ.get("ASRWATCH_README_SCREENSHOT")


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
    # Not yet recorded by the evaluator: shaded from where the engine says the page began (the
    # alert's starts_at in /api/v1/slos), within the chart step before its first firing point.
    began = [a["starts_at"] for a in group["alerts"] if a["severity"] == "page"]
    start = datetime.fromisoformat(recorded[0]["starts_at"] if recorded else min(began))
    if not recorded:
        assert datetime.fromisoformat(firing[0]) - timedelta(minutes=15) < start <= datetime.fromisoformat(firing[0])
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
