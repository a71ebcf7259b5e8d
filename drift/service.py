"""One drift evaluation against the database: read both windows, scan, (optionally) route."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from collector.store import StorePolicy, dimensions_of, policy_of, queries, sampled_in
from drift.config import DriftConfig, Windows
from drift.features import SessionTable, sample_table, session_table
from drift.scan import ScanReport, Texts, run_scan
from drift.source import Pins, load_pins, load_samples, load_sessions
from drift.transcripts import load_texts
from drift.vocabulary import TRAFFIC


def scan_database(engine: Engine, config: DriftConfig, at: datetime,
                  progress: Callable[[str], None] | None = None, read_sessions: Callable = load_sessions) -> ScanReport:
    """`read_sessions`: the session reader (the bench and the differential test pass the old one).
    ValueError naming `drift.dimensions` when a slice dimension is neither fixed nor one the
    engine was configured with (`collector.store.configure_dimensions`)."""
    dimensions_of(engine).check(config.dimensions, "drift.dimensions")
    windows = Windows.ending_at(at, config)
    pins = load_pins(engine)
    step = progress or (lambda _: None)
    step("reading sessions")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="drift-sessions") as pool:
        # On PostgreSQL the sessions come as one aggregate row the server spends about a second
        # building, while this process only waits on the socket (without the GIL): the samples are
        # read meanwhile, on their own connection. (Not the transcripts too: their rows alive
        # beside the sessions' conversion took the peak past 1 GiB at a million sessions.) On SQLite
        # the read is this process' own work, stepping rows with the GIL released and retaken per
        # row, so a second reading thread would only hand the GIL back and forth: one after the other.
        overlap = engine.dialect.name == "postgresql"
        pending = pool.submit(read_sessions, engine, windows, pins, config.dimensions) if overlap else None
        sessions = None if overlap else session_table(read_sessions(engine, windows, pins, config.dimensions),
                                                      config.dimensions)
        step("reading samples")
        raw_samples = load_samples(engine, windows, config, pins)
        if pending is not None:
            step("waiting for sessions")
            sessions = session_table(pending.result(), config.dimensions)
    levels = {name: enc.levels for name, enc in sessions.categorical.items()}
    samples = sample_table(raw_samples, levels, config.dimensions)
    step("reading transcripts")
    texts = load_texts(engine, windows, config, pins, raw_samples)
    policy = policy_of(engine)
    stored = (int((~sessions.is_current).sum()), int(sessions.is_current.sum()))
    if policy.sampling:
        sessions, texts = uniform_share(sessions, texts, policy)
    report = run_scan(sessions, samples, windows, config, texts, progress)
    report.counts["pinned_baselines"] = len(pins)
    if policy.sampling:
        report.sample = sample_sizes(policy.sample_rate, policy.always, stored,
                                     (report.counts["sessions_reference"], report.counts["sessions_current"]),
                                     counted_sessions(engine, windows, pins))
    return report


def uniform_share(sessions: SessionTable, texts: Texts, policy: StorePolicy) -> tuple[SessionTable, Texts]:
    """Under sampled storage, the sessions (and traffic transcripts) whose id hashes into the
    stored share (`collector.store.sampled_in`): a uniform sample of all traffic. The other
    stored rows are there because of their class (a failure, a labeled session, a canary, the
    probe), at up to 1/`sample_rate` times their share of the traffic, and a change in that mix
    (a labeling campaign on one channel, say) would read as drift. Labeled samples and their
    transcripts stay whole: WER drift compares labeled sessions with each other. As the judge
    does for latency (`slo.rollout.data`)."""
    rate = policy.sample_rate
    in_share = np.fromiter((sampled_in(sid, rate) for sid in sessions.session_id.tolist()), dtype=bool,
                           count=len(sessions))
    traffic = texts.kind == TRAFFIC
    keep_text = [not is_traffic or sampled_in(sid, rate) for is_traffic, sid in zip(traffic.tolist(), texts.session_id)]
    return sessions.select(in_share), texts.select(keep_text)


def _counted(engine: Engine, since: datetime, until: datetime, by_version: bool = False) -> dict[str, int]:
    rows = queries.status_by_group(engine, ["model_version"] if by_version else [], since, until, {})
    return {r.get("model_version", ""): int(r["sessions"]) for r in rows}


def counted_sessions(engine: Engine, windows: Windows, pins: Pins) -> tuple[int, int]:
    """Sessions the rollups counted in the windows the scan read (reference, current): every
    session counts there, stored or not. The reference is per model version where a version's
    baseline is pinned (`drift.source._windows_filter`). Rollups are per minute: a window edge
    inside a minute counts that minute's sessions by their minute."""
    current = sum(_counted(engine, windows.current_start, windows.at).values())
    if not pins:
        return sum(_counted(engine, windows.reference_start, windows.current_start).values()), current
    default = _counted(engine, windows.reference_start, windows.current_start, by_version=True)
    reference = sum(n for version, n in default.items() if version not in pins)
    for version, (start, end) in pins.items():
        reference += _counted(engine, start, end, by_version=True).get(version, 0)
    return reference, current


def sample_sizes(rate: float, always: Sequence[str], stored: tuple[int, int], scanned: tuple[int, int],
                 counted: tuple[int, int]) -> dict[str, Any]:
    """Pure: the report's `sample`, per window: the sessions stored, those of them the scan used
    (the share drawn by id, `uniform_share`) and those the rollups counted."""
    return {"sample_rate": rate, "always": list(always),
            "reference": {"stored": stored[0], "scanned": scanned[0], "counted": counted[0]},
            "current": {"stored": stored[1], "scanned": scanned[1], "counted": counted[1]}}


_LEADER_LOCK_ID = 0x64726674  # "drft": one replica routes drift at a time


def scan_and_route(engine: Engine, config: DriftConfig, at: datetime, process: Callable | None,
                   scan: Callable[[Engine, DriftConfig, datetime], ScanReport] = scan_database):
    """One server pass: scan as of `at` and send new/resolved tickets to `process` (the alert
    router). On PostgreSQL only the replica holding the advisory lock routes; the others
    skip the pass (their scan would say the same)."""
    from sqlalchemy import text

    from drift.tickets import route_findings

    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": _LEADER_LOCK_ID}).scalar():
                return None
            try:
                report = scan(engine, config, at)
                return route_findings(engine, report.findings, at, process, config.teams)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LEADER_LOCK_ID})
                conn.commit()
    report = scan(engine, config, at)
    return route_findings(engine, report.findings, at, process, config.teams)
