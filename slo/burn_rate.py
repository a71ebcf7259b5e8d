"""Burn rate, error budget and time to exhaustion, event-weighted (bad / total over the window).

All functions take numpy arrays (any shape) and return arrays; a window without events has
no error ratio (NaN), hence no burn, and spends no budget.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np

# The windows reported per SLO and group (the alert tiers use scaled windows; see alerting.py).
REPORT_WINDOWS: dict[str, int] = {
    "5m": 5, "30m": 30, "1h": 60, "2h": 120, "6h": 360, "1d": 1440, "3d": 4320,
}
# "Current burn" for time to exhaustion: the page tier's long window, as the Workbook's
# fast-burn alert judges it.
CURRENT_BURN_WINDOW = "1h"


def error_ratio(good: np.ndarray, total: np.ndarray) -> np.ndarray:
    good = np.asarray(good, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    # Divide only where there are events (no errstate context: this runs per SLO and window).
    return np.divide(total - good, total, out=np.full(np.shape(total), np.nan), where=total > 0)


def burn_rate(good: np.ndarray, total: np.ndarray, objective: float) -> np.ndarray:
    """How many times faster than sustainable the budget burns: error ratio / (1 - objective)."""
    return error_ratio(good, total) / (1.0 - objective)


def budget_remaining(good: np.ndarray, total: np.ndarray, objective: float) -> np.ndarray:
    """1 - (bad/total) / (1 - objective) over the SLO window; 1.0 with no events; can go negative."""
    ratio = error_ratio(good, total)
    return np.where(np.isnan(ratio), 1.0, 1.0 - ratio / (1.0 - objective))


def time_to_exhaustion(remaining: float, burn: float, window: timedelta) -> timedelta | None:
    """At a constant burn b the whole budget lasts window / b; what remains lasts remaining x that.

    None when the budget is not burning (b is 0 or unknown); zero when it is already spent.
    """
    if remaining <= 0:
        return timedelta(0)
    if burn is None or not math.isfinite(burn) or burn <= 0:
        return None
    return timedelta(seconds=float(remaining) * window.total_seconds() / float(burn))
