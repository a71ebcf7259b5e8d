"""Multi-window, multi-burn-rate alerting (Google SRE Workbook, "Alerting on SLOs").

For a 30-day SLO: page when the 1h and 5m burn rates both exceed 14.4, or the 6h and 30m
both exceed 6; ticket when 1d and 2h exceed 3, or 3d and 6h exceed 1. Other SLO windows
scale every alert window by window / 30d (so each tier still means the same fraction of
the budget spent), rounded to whole minutes, at least one.

Low-traffic guard: a tier counts only when its long window holds at least `min_events`
events (and, with `min_bad_events`, enough events that crossing its threshold takes that many
bad ones). A page tier that holds on fewer events is downgraded to a ticket that says traffic
was low, so one failed session in a quiet hour never pages. A page suppresses the ticket of
the same SLO and group. The exported Prometheus rules encode exactly these conditions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np

from slo.series import SLISeries

BASE_WINDOW = timedelta(days=30)
MAX_REPLAY_CHUNK = 1440  # minutes of evaluation ends replayed at once by `firing_since`
# (severity, long window, short window, burn factor) for a 30-day SLO, in minutes.
BASE_TIERS = (
    ("page", 60, 5, 14.4),
    ("page", 360, 30, 6.0),
    ("ticket", 1440, 120, 3.0),
    ("ticket", 4320, 360, 1.0),
)


@dataclass(frozen=True)
class Tier:
    severity: str
    long_minutes: int
    short_minutes: int
    factor: float

    def threshold(self, objective: float) -> float:
        """Error-ratio threshold: factor x (1 - objective), the same float the rules use."""
        return self.factor * (1.0 - objective)

    def min_events(self, objective: float, min_events: int, min_bad_events: float = 0.0) -> int:
        """Events the long window needs before this tier may fire: at least `min_events`, and
        enough that crossing the threshold takes `min_bad_events` bad events. A ticket at 1x a
        99% budget then needs ~100 events per bad event asked for, so a few unlucky sessions at
        start-up cannot file one, while a page at 14.4x needs 14 times fewer."""
        if min_bad_events <= 0:
            return min_events
        return max(min_events, math.ceil(min_bad_events / self.threshold(objective) - 1e-9))


def _scaled(minutes: int, scale: float) -> int:
    return max(1, int(math.floor(minutes * scale + 0.5)))


def policy(window: timedelta) -> tuple[Tier, ...]:
    scale = window / BASE_WINDOW
    return tuple(
        Tier(sev, _scaled(long, scale), _scaled(short, scale), factor)
        for sev, long, short, factor in BASE_TIERS
    )


def longest_window(window: timedelta) -> int:
    return max(t.long_minutes for t in policy(window))


@dataclass(frozen=True)
class Conditions:
    """Boolean (G, T) arrays over groups x evaluation ends."""

    page: np.ndarray
    ticket: np.ndarray
    low_traffic_ticket: np.ndarray  # ticket only because a page tier lacked traffic
    tier_fired: tuple[np.ndarray, ...]  # per tier, with enough traffic
    tier_low: tuple[np.ndarray, ...]  # per tier, burn high but too few events
    counts: tuple[tuple[np.ndarray, ...], ...]  # per tier: good_long, total_long, good_short, total_short


def conditions(
    series: SLISeries,
    ends: np.ndarray | tuple[int, int],
    tiers: tuple[Tier, ...],
    objective: float,
    min_events: int,
    rows: np.ndarray | None = None,
    min_bad_events: float = 0.0,
) -> Conditions:
    """Alert conditions at prefix indices `ends` (an array, or a (lo, hi) range of them)."""
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def counts(minutes: int) -> tuple[np.ndarray, np.ndarray]:
        # Tiers share windows (the 6h short window of one is the long window of another).
        if minutes not in cache:
            if isinstance(ends, tuple):
                cache[minutes] = series.range_counts(ends[0], ends[1], minutes, rows)
            else:
                cache[minutes] = series.window_counts(ends, minutes, rows)
        return cache[minutes]

    # Longest window first: a series that builds a per-minute block for a replay (`TieredSeries`)
    # then builds it once and the shorter windows reuse it.
    for minutes in sorted({w for t in tiers for w in (t.long_minutes, t.short_minutes)}, reverse=True):
        counts(minutes)
    tier_counts = tuple((*counts(t.long_minutes), *counts(t.short_minutes)) for t in tiers)
    decided = tier_decisions(
        tiers, objective, min_events, min_bad_events,
        ratios=[(_error_ratio(g_l, t_l), _error_ratio(g_s, t_s)) for g_l, t_l, g_s, t_s in tier_counts],
        long_events=[t_l for _, t_l, _, _ in tier_counts],
        long_bad=[t_l - g_l for g_l, t_l, _, _ in tier_counts])
    return replace(decided, counts=tier_counts)


def tier_decisions(tiers: tuple[Tier, ...], objective: float, min_events: int, min_bad_events: float, *,
                   ratios: Sequence[tuple[np.ndarray, np.ndarray]], long_events: Sequence[np.ndarray],
                   long_bad: Sequence[np.ndarray]) -> Conditions:
    """The Workbook's rule on each tier's long and short error ratios and its long window's events
    (and bad events), whoever counted them: the rollups (`conditions`) or Prometheus' recordings
    (`slo.prometheus_source`). `counts` is left empty."""
    fired, low = [], []
    for tier, (r_long, r_short), t_long, bad in zip(tiers, ratios, long_events, long_bad):
        threshold = tier.threshold(objective)
        # No events means no ratio (NaN), which is never above: as PromQL compares.
        hot = (r_long > threshold) & (r_short > threshold)
        enough = t_long >= tier.min_events(objective, min_events, min_bad_events)
        fired.append(hot & enough)
        # A page-level burn on too little traffic is filed as a ticket only if it holds at least
        # `min_bad_events` bad events: a handful of slow synthetic probes is not an incident.
        low.append(hot & ~enough & (bad >= min_bad_events))
    shape = np.broadcast_shapes(*(f.shape for f in fired)) if fired else (0,)
    page = np.zeros(shape, dtype=bool)
    ticket = np.zeros(shape, dtype=bool)
    low_page = np.zeros(shape, dtype=bool)
    for tier, f, lo in zip(tiers, fired, low):
        if tier.severity == "page":
            page |= f
            low_page |= lo
        else:
            ticket |= f
    low_ticket = low_page & ~ticket & ~page
    ticket = (ticket | low_page) & ~page
    return Conditions(page, ticket, low_ticket, tuple(fired), tuple(low), ())


def _error_ratio(good: np.ndarray, total: np.ndarray) -> np.ndarray:
    # Same arithmetic as PromQL: (total - good) / total; no events means no ratio (NaN).
    good = good.astype(np.float64, copy=False)
    total = total.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total - good) / total


def firing_since(
    series: SLISeries,
    end: int,
    group_rows: np.ndarray,
    severity: str,
    tiers: tuple[Tier, ...],
    objective: float,
    min_events: int,
    lookback: int,
    min_bad_events: float = 0.0,
) -> np.ndarray:
    """For groups firing `severity` at prefix index `end`: the prefix index where the current
    uninterrupted firing run began (clamped to end - lookback). Searches back in growing
    chunks because most alerts started recently."""
    begin = np.full(len(group_rows), end, dtype=np.int64)
    open_rows = np.ones(len(group_rows), dtype=bool)
    covered, chunk = 0, 64
    while open_rows.any() and covered < lookback:
        size = min(chunk, lookback - covered)
        lo, hi = end - covered - size, end - covered  # the ends just before the known run
        ends = np.arange(lo, hi)
        todo = np.flatnonzero(open_rows)
        span = (lo, hi) if hi <= series.minutes else ends  # slicing needs ends inside the series
        # A page depends on the page tiers only; a ticket on all (a page suppresses it).
        needed = tuple(t for t in tiers if t.severity == "page") if severity == "page" else tiers
        cond = conditions(series, span, needed, objective, min_events, rows=group_rows[todo],
                          min_bad_events=min_bad_events)
        firing = cond.page if severity == "page" else cond.ticket
        for j, i in enumerate(todo):
            off = np.flatnonzero(~firing[j])
            if off.size:
                begin[i] = ends[off[-1]] + 1
                open_rows[i] = False
            else:
                begin[i] = ends[0]
        covered += size
        # Growing chunks (most alerts started recently) up to a day: a replay older than the
        # series' per-minute tail reads its minutes for the open groups only, chunk by chunk
        # (`TieredSeries` keeps the overlap with the previous chunk, so each minute is read about
        # once), so its memory stays open groups x (a day + the longest window), however long it fired.
        chunk = min(chunk * 2, MAX_REPLAY_CHUNK)
    return begin
