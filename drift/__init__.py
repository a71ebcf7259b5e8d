"""Drift detection: per-slice distribution, WER, vocabulary and label-free WER drift between a
reference and a current window (`scan`), read from the store (`source`, `transcripts`), kept
(`report_cache`, `stored_reports`), served (`routes`) and filed as tickets (`tickets`). Other
packages import only the names below."""

from drift import routes  # modules other packages use whole
from drift.config import DriftConfig
from drift.report_cache import ReportCache
from drift.scan import ScanReport
from drift.service import scan_database

__all__ = [
    "DriftConfig",
    "ReportCache",
    "routes",
    "scan_database",
    "ScanReport",
]
