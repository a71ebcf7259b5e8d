"""The view every page shares: a time range ending at "as of" (now, or a replayed time) and slice filters.

Live views round "now" down to `LIVE_STEP_S` so reruns within a few seconds ask the same
question and the short cache answers them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_RANGE = "24h"
LIVE_STEP_S = 15
# Steps of the time-series charts, and how many points at most a chart of the range gets: enough
# to see when a change began (a 24h range in 15-minute steps), few enough to load quickly (the
# collector answers one query per bucket).
CHART_STEPS: dict[str, timedelta] = {name: timedelta(minutes=m) for name, m in (
    ("1m", 1), ("5m", 5), ("10m", 10), ("15m", 15), ("30m", 30), ("1h", 60), ("2h", 120), ("3h", 180),
    ("6h", 360), ("12h", 720), ("1d", 1440))}
CHART_POINTS = 120
# Leadership looks at a day's or a month's shape, not the minute a change began: the executive
# page's charts take at most this many points, which keeps its first load under 2 s at 1M
# sessions (bench/console.py: 96 buckets of cost, WER and cost drivers took 3.6 s).
TREND_POINTS = 24
FILTER_DIMENSIONS = ("model_version", "region", "channel", "tenant", "language", "pool")  # the fixed ones


def filter_dimensions(configured: Iterable[str]) -> tuple[str, ...]:
    """The slice filters: the fixed dimensions, then the collector's configured ones
    (`GET /api/v1/dimensions`), which every query takes by name like the fixed ones."""
    return (*FILTER_DIMENSIONS, *(d for d in configured if d not in FILTER_DIMENSIONS))


def parse_as_of(text: str | None) -> datetime | None:
    """'' -> None (live); an RFC 3339 time with offset -> aware UTC; anything else raises ValueError."""
    if text is None or not text.strip():
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"as of: not an RFC 3339 time: {text.strip()!r} (e.g. 2026-11-21T10:00:00Z)") from None
    if parsed.tzinfo is None:
        raise ValueError("as of: needs a timezone offset (e.g. 2026-11-21T10:00:00Z)")
    return parsed.astimezone(timezone.utc)


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class View:
    until: datetime
    span: timedelta
    live: bool
    filters: dict[str, str] = field(default_factory=dict)

    @property
    def since(self) -> datetime:
        return self.until - self.span

    @property
    def at(self) -> str:
        """The `at` of time-dependent queries (SLOs, alerts, drift, verdicts)."""
        return iso(self.until)

    def window(self) -> dict[str, str]:
        return {"since": iso(self.since), "until": iso(self.until)}

    @property
    def step(self) -> str:
        """The chart step of this range: the shortest of CHART_STEPS giving at most CHART_POINTS."""
        return chart_step(self.span)

    @property
    def trend_step(self) -> str:
        """The executive page's coarser step: at most TREND_POINTS points over the range."""
        return chart_step(self.span, TREND_POINTS)

    def buckets(self, count: int) -> list[tuple[datetime, datetime]]:
        """`count` equal, contiguous sub-windows covering the range, oldest first."""
        step = self.span / count
        return [(self.since + step * i, self.since + step * (i + 1)) for i in range(count)]


def chart_step(span: timedelta, points: int = CHART_POINTS) -> str:
    for name, step in CHART_STEPS.items():
        if span / step <= points:
            return name
    return list(CHART_STEPS)[-1]


def make_view(range_name: str, as_of: datetime | None, filters: dict[str, str], now: datetime,
              dimensions: Sequence[str] = FILTER_DIMENSIONS) -> View:
    """The view; of `filters`, those on `dimensions` (default: the fixed ones) with a value."""
    if range_name not in RANGES:
        raise ValueError(f"range: one of {', '.join(RANGES)}, got {range_name!r}")
    if now.tzinfo is None:
        raise ValueError("now: must be timezone-aware")
    live = as_of is None
    if live:
        epoch = int(now.timestamp()) // LIVE_STEP_S * LIVE_STEP_S
        until = datetime.fromtimestamp(epoch, timezone.utc)
    else:
        until = as_of
    clean = {k: v for k, v in filters.items() if k in dimensions and v}
    return View(until=until, span=RANGES[range_name], live=live, filters=clean)
