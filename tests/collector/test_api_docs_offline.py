"""`/docs` renders the API in headless Chromium with every request off the collector refused,
as on a host without internet (FastAPI's default page loads Swagger UI from a CDN)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx

from live_collector import running_collector
from prerequisites import missing, need_module

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def test_docs_assets_are_served_and_names_are_whitelisted(tmp_path: Path) -> None:
    with running_collector(tmp_path) as live:
        page = httpx.get(live.url + "/docs", timeout=30)
        assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text
        assert "cdn.jsdelivr.net" not in page.text and "unpkg.com" not in page.text
        script = httpx.get(live.url + "/docs/assets/swagger-ui-bundle.js", timeout=30)
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert len(script.content) > 100_000
        assert httpx.get(live.url + "/docs/assets/..%2F__init__.py", timeout=30).status_code == 404
        assert httpx.get(live.url + "/redoc", timeout=30).status_code == 404  # ReDoc would need a CDN


def test_docs_render_offline_in_chromium(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        missing("needs the Debian chromium package")
    sync_api = need_module("playwright.sync_api")
    with running_collector(tmp_path) as live, sync_api.sync_playwright() as p:
        origin = urlsplit(live.url).netloc
        refused: list[str] = []

        def only_the_collector(route) -> None:
            if urlsplit(route.request.url).netloc == origin:
                route.continue_()
            else:
                refused.append(route.request.url)
                route.abort()

        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.route("**/*", only_the_collector)
            page.goto(live.url + "/docs")
            # Swagger UI draws one block per operation once it has read /openapi.json.
            page.locator(".opblock").first.wait_for(timeout=60_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            assert any("/api/v1/sessions" in path for path in paths), paths[:10]
            assert page.locator(".swagger-ui .info .title").inner_text().startswith("asrwatch collector")
        finally:
            browser.close()
        assert refused == []
