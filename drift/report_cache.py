"""Drift reports remembered per question: a scan of a million sessions takes seconds, while the
console's pages, the API and the drift loop ask about the same minute again and again.

A report is reused only for the same `at`, the same drift config, the same pinned baselines
and the same data: the count of sessions and of labeled samples in the scanned span. Sessions
and samples are only ever added (an id is stored once), so equal counts mean equal inputs. Each
replica keeps its own cache; it is an optimisation, never a source of truth.

`latest` serves "now" (a live console page refreshes every 15 s): the newest report for the
config, which the drift loop's last pass left, labelled with its own `at`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.store import Sample, Session, read_connection
from drift.config import DriftConfig, Windows
from drift.scan import ScanReport
from drift.source import load_pins, samples_since


def data_fingerprint(engine: Engine, config: DriftConfig, at: datetime) -> Hashable:
    """What a scan as of `at` would read, summarised: pins and row counts (index range scans)."""
    windows = Windows.ending_at(at, config)
    pins = load_pins(engine)
    since = min(samples_since(windows, config, pins), windows.reference_start)
    sessions, samples = Session.__table__.c, Sample.__table__.c
    with read_connection(engine) as conn:
        n_sessions = conn.execute(select(func.count()).where(sessions.ts >= since, sessions.ts < at)).scalar()
        n_samples = conn.execute(select(func.count()).where(samples.ts >= since, samples.ts < at)).scalar()
    return tuple(sorted((v, a.isoformat(), b.isoformat()) for v, (a, b) in pins.items())), n_sessions, n_samples


class ReportCache:
    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._reports: OrderedDict[Hashable, ScanReport] = OrderedDict()
        self._lock = threading.Lock()
        self._scanning: dict[Hashable, threading.Lock] = {}
        self._latest: dict[str, ScanReport] = {}

    def latest(self, config: DriftConfig, since: datetime, until: datetime | None = None) -> ScanReport | None:
        """The newest report scanned with this config, if it ends in [since, until]."""
        with self._lock:
            report = self._latest.get(repr(config))
        if report is None or report.at < since or (until is not None and report.at > until):
            return None
        return report

    def report(self, engine: Engine, config: DriftConfig, at: datetime,
               scan: Callable[[Engine, DriftConfig, datetime], ScanReport]) -> ScanReport:
        key = (at, repr(config), data_fingerprint(engine, config, at))
        with self._lock:
            if key in self._reports:
                self._reports.move_to_end(key)
                return self._reports[key]
            # One scan per question: concurrent askers (a page's parallel calls, the loop) wait for it.
            gate = self._scanning.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._reports:
                    return self._reports[key]
            report = scan(engine, config, at)
            with self._lock:
                self._reports[key] = report
                self._reports.move_to_end(key)
                newest = self._latest.get(repr(config))
                if newest is None or newest.at <= report.at:
                    self._latest[repr(config)] = report
                while len(self._reports) > self.size:
                    self._reports.popitem(last=False)
                self._scanning.pop(key, None)
        return report
