"""What `asrwatch report` says when there is nothing to report or the command line is wrong: a month
without data writes a report saying so; a bad --month, a month not yet begun, both --api and
--config, a collector that is down or a wrong token are one-line errors naming the cause."""

from __future__ import annotations

import pytest
from live_collector import free_port
from report_page import ReportPage
from report_seed import run_report
from typer.testing import CliRunner

from asrwatch.cli import app


def test_a_month_without_data_says_so(seeded, tmp_path):
    done = run_report(seeded, tmp_path, "2025-06", pdf=False)
    assert done.returncode == 0, done.stderr
    assert "no data in this month" in done.stderr
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    page = ReportPage(html)
    assert "no-data" in page.ids
    assert "No data for June 2025" in html and "No incidents in 2025-06." in html
    assert "No labeled utterances in 2025-06." in html
    assert page.figure("cost-per-successful-turn").text == "n/a"
    assert page.figure("sessions").number is None
    assert page.bars["cost-by-day"] and all(float(v) == 0.0 for _, v in page.bars["cost-by-day"])
    assert len(page.bars["cost-by-day"]) == 30
    # The SLOs are there with their budgets untouched, and no compliance claimed without events.
    assert all(f.number == 0.0 for f in page.figures if f.name == "budget-spent")
    assert "no events" in html


def test_a_month_not_yet_begun_at_the_collectors_clock_is_refused(seeded, tmp_path):
    year, month = (int(p) for p in seeded.month.split("-"))
    following = f"{year + (month == 12):04d}-{month % 12 + 1:02d}"  # the clock is last month's watermark
    done = run_report(seeded, tmp_path, following, pdf=False)
    assert done.returncode == 2
    assert "--month" in done.stderr and "has not begun" in done.stderr
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-1", "november", ""])
def test_a_bad_month_is_an_error_naming_month(month, tmp_path):
    result = CliRunner().invoke(app, ["report", "--month", month, "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2, result.output
    assert "--month" in result.output
    assert not (tmp_path / "r.html").exists()


def test_api_and_config_together_are_refused(tmp_path):
    config = tmp_path / "asrwatch.yaml"
    config.write_text("port: 9999\n")
    result = CliRunner().invoke(app, ["report", "--month", "2026-11", "--out", str(tmp_path / "r.html"),
                                      "--api", "http://127.0.0.1:1", "--config", str(config)])
    assert result.exit_code == 2 and "--config" in result.output


def test_a_config_with_a_typo_is_an_error_naming_the_key(tmp_path):
    config = tmp_path / "asrwatch.yaml"
    config.write_text("prot: 9999\n")
    result = CliRunner().invoke(app, ["report", "--month", "2026-11", "--out", str(tmp_path / "r.html"),
                                      "--config", str(config)])
    assert result.exit_code == 2 and "prot" in result.output


def test_a_collector_that_is_down_is_one_line_naming_it(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["report", "--month", "2026-11", "--out", str(tmp_path / "r.html"),
                                      "--api", url])
    assert result.exit_code == 1
    assert "unreachable" in result.output and url.rsplit(":", 1)[1] in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r.html").exists()


def test_the_config_names_the_collector_to_read(seeded, tmp_path):
    """--config reads the collector the file serves (its port here), with the token from the environment."""
    port = seeded.live.url.rsplit(":", 1)[1]
    config = tmp_path / "asrwatch.yaml"
    config.write_text(f"port: {port}\n")
    result = CliRunner().invoke(app, ["report", "--month", seeded.month, "--out", str(tmp_path / "r.html"),
                                      "--config", str(config)], env={"ASRWATCH_TOKEN": seeded.live.tokens["read"]})
    assert result.exit_code == 0, result.output
    assert "no-data" not in ReportPage((tmp_path / "r.html").read_text(encoding="utf-8")).ids


def test_a_wrong_token_is_one_line_naming_the_token(seeded, tmp_path):
    result = CliRunner().invoke(app, ["report", "--month", seeded.month, "--out", str(tmp_path / "r.html"),
                                      "--api", seeded.live.url, "--token", "not-the-token"])
    assert result.exit_code == 1
    assert "token" in result.output and "not-the-token" not in result.output


def test_without_chromium_the_html_is_written_and_the_missing_pdf_named(seeded, tmp_path):
    result = CliRunner().invoke(app, ["report", "--month", seeded.month, "--out", str(tmp_path / "r.html"),
                                      "--pdf", str(tmp_path / "r.pdf"), "--api", seeded.live.url,
                                      "--chromium", str(tmp_path / "no-chromium")],
                                env={"ASRWATCH_TOKEN": seeded.live.tokens["read"]})
    assert result.exit_code == 1
    assert "no-chromium" in result.output and "HTML report" in result.output
    assert (tmp_path / "r.html").exists() and not (tmp_path / "r.pdf").exists()
