"""The monthly leadership report (`asrwatch report`): an API client like the console, which
writes one self-contained HTML page (inline SVG charts) and prints it to PDF with Chromium."""

from dashboards.report.data import BudgetLine, CostDay, Incident, ReportData, SLOBudget, read_report
from dashboards.report.month import Month, parse_month
from dashboards.report.pdf import PDFUnavailable, print_pdf
from dashboards.report.render import render_html

__all__ = ["BudgetLine", "CostDay", "Incident", "Month", "PDFUnavailable", "ReportData", "SLOBudget", "parse_month",
           "print_pdf", "read_report", "render_html"]
