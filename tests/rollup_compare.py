"""Comparing stored rollup rows with recomputed ones, field by field (shared by the compaction
and the multi-replica tests)."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from collector.models import HourlyRollup, Rollup
from collector.rollups import COUNTERS, HISTOGRAMS, SUMS, by_hour, compacted_through


def normalized(values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {c: int(values[c]) for c in COUNTERS}
    out.update({s: float(values[s]) for s in SUMS})
    out.update({h: {str(k): int(v) for k, v in (values[h] or {}).items() if int(v)} for h in HISTOGRAMS})
    return out


def rollup_differences(stored: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> list[str]:
    """What differs, field by field (sums of floats compared to rounding, in whatever order added)."""
    problems = [f"{key}: missing" for key in expected.keys() - stored.keys()]
    problems += [f"{key}: not backed by any stored row" for key in stored.keys() - expected.keys()]
    for key in expected.keys() & stored.keys():
        got, want = stored[key], expected[key]
        for name in COUNTERS + HISTOGRAMS:
            if got[name] != want[name]:
                problems.append(f"{key} {name}: stored {got[name]!r}, recomputed {want[name]!r}")
        for name in SUMS:
            if not math.isclose(got[name], want[name], rel_tol=1e-9, abs_tol=1e-6):
                problems.append(f"{key} {name}: stored {got[name]!r}, recomputed {want[name]!r}")
    return problems


def hourly_rollups(conn: Connection) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(stored hourly rows, the same recomputed from the minute rows of the compacted hours)."""
    through = compacted_through(conn)
    minutes = conn.execute(select(Rollup.__table__).where(Rollup.minute < through)).mappings() if through else []
    expected = {key: normalized(d) for key, d in by_hour(minutes).items()}
    stored = {r["rollup_key"]: normalized(r) for r in conn.execute(select(HourlyRollup.__table__)).mappings()}
    return stored, expected
