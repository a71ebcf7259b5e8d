"""The report as a reader opens it: headless Chromium (Playwright) loads the file with every request
off file:// refused, and finds the charts drawn, one bar per SLO, model version and day, with no
label cut by its chart's edge; and the PDF Chromium printed from it is a real, paged PDF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prerequisites import missing, need_module
from report_page import ReportPage

CHROMIUM = "/usr/bin/chromium"

# Per chart: its bar count, and every <text> whose box leaves the <svg>'s box (0.5 px slack for rounding).
MEASURE = """() => [...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const out = [...svg.querySelectorAll('text')].filter(t => {
    const b = t.getBoundingClientRect();
    return b.left < box.left - 0.5 || b.right > box.right + 0.5 || b.top < box.top - 0.5 || b.bottom > box.bottom + 0.5;
  }).map(t => t.textContent);
  return {chart: svg.dataset.chart, bars: svg.querySelectorAll('rect.bar').length,
          drawn: [...svg.querySelectorAll('rect.bar')].filter(r => r.getBoundingClientRect().width > 0).length,
          texts: svg.querySelectorAll('text').length, cut: out, width: box.width};
})"""


@pytest.fixture(scope="module")
def playwright_api():
    if not Path(CHROMIUM).exists():
        missing("needs the Debian chromium package")
    return need_module("playwright.sync_api")


def _open(playwright_api, path: Path, width: int, shot: Path | None = None) -> tuple[list[dict], list[str], list[str]]:
    refused, errors = [], []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            def only_the_file(route):
                if route.request.url.startswith("file://"):
                    return route.continue_()
                refused.append(route.request.url)
                return route.abort()

            page.route("**/*", only_the_file)
            page.goto(path.resolve().as_uri())
            page.wait_for_load_state("load")
            charts = page.evaluate(MEASURE)
            if shot is not None:
                page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return charts, refused, errors


@pytest.mark.parametrize("width", [1280, 420])  # a desktop, and a phone where the charts scale down
def test_charts_are_drawn_offline_with_every_label_whole(playwright_api, seeded, written, width, tmp_path):
    html = written / "report.html"
    charts, refused, errors = _open(playwright_api, html, width, tmp_path / f"report-{width}.png")
    assert refused == [] and errors == []
    by_name = {c["chart"]: c for c in charts}
    assert sorted(by_name) == ["budget-spent", "cost-by-day", "wer-by-version"]
    page = ReportPage(html.read_text(encoding="utf-8"))
    slos = seeded.get("/api/v1/slos", at=page.attrs_of["sub"]["data-at"])["slos"]
    assert by_name["budget-spent"]["bars"] == len(slos) == 3
    assert by_name["wer-by-version"]["bars"] == 2
    assert by_name["cost-by-day"]["bars"] == seeded.end.day  # day 1 up to the day judged
    for chart in charts:
        assert chart["cut"] == [], chart
        assert chart["texts"] > 0 and chart["bars"] > 0
        assert chart["width"] <= width
    # Bars with a value are drawn (not zero-width); the budget chart's bars all have one.
    assert by_name["budget-spent"]["drawn"] == 3


def test_the_measure_sees_a_label_cut_by_its_chart(playwright_api, tmp_path):
    """The check above can fail: a label wider than its SVG is reported as cut."""
    page = tmp_path / "cut.html"
    page.write_text('<svg class="chart" data-chart="t" width="60" height="30" font-size="12">'
                    '<rect class="bar" width="10" height="10"/><text x="4" y="16">a label far too long</text></svg>')
    charts, refused, errors = _open(playwright_api, page, 800)
    assert charts[0]["cut"] == ["a label far too long"] and refused == [] and errors == []


def test_the_pdf_is_printed_with_pages(written):
    pdf = (written / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert b"%%EOF" in pdf[-64:]
    pages = re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf)
    assert len(pages) >= 1
    assert b"asrwatch report " in pdf  # the HTML's title became the PDF's
