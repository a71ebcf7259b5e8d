"""The points of a time series: `step=` parsed, and the bucket starts (or evaluation times) of a
range, aligned to multiples of the step since the Unix epoch so that two charts of one range, or
one chart refreshed a minute later, put their points at the same times.

Pure: no I/O. The API's time series (`/api/v1/slos/{name}/series`, and `step=` on the windowed
queries) bound how many points one answer holds with `MAX_POINTS`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

MAX_POINTS = 2000  # points per series in one answer: a chart a screen wide needs far fewer
MIN_STEP = timedelta(minutes=1)  # rollups count per minute: a shorter step would split a minute
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_STEP = re.compile(r"^(\d{1,6})([mhdw])$")


def parse_step(text: str) -> timedelta:
    """`5m`, `1h`, `1d`, `1w` -> timedelta; ValueError naming `step` for anything else (a step is
    a whole number of minutes: the rollups' resolution)."""
    match = _STEP.match(str(text).strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"step: not a duration such as 5m, 1h or 1d: {text!r}")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _aligned_at_or_after(at: datetime, step: timedelta) -> datetime:
    offset = (at - _EPOCH) % step
    return at if not offset else at + (step - offset)


def bucket_starts(since: datetime, until: datetime, step: timedelta, max_points: int = MAX_POINTS) -> list[datetime]:
    """Starts of the buckets [t, t + step) that cover [since, until): the first one holds `since`;
    a bucket may reach before `since` or past `until` (the caller clips it to the range, so every
    event of the range counts once). ValueError naming `step` when there would be more than
    `max_points`."""
    first = _aligned_at_or_after(since, step)
    if first > since:
        first -= step
    return _points(first, until, step, max_points, inclusive=False)


def evaluation_times(since: datetime, until: datetime, step: timedelta, max_points: int = MAX_POINTS) -> list[datetime]:
    """The step-aligned times in [since, until], each the end of the windows judged there (as the
    SLO engine judges `at`), then `until` itself when it is not aligned: a chart's last point is
    the status as of the range's end, the figure the tables beside it show."""
    first = _aligned_at_or_after(since, step)
    ends_aligned = first <= until and (until - first) % step == timedelta(0)
    times = _points(first, until, step, max_points, inclusive=True, extra=0 if ends_aligned else 1)
    return times if ends_aligned else times + [until]


def _points(first: datetime, until: datetime, step: timedelta, max_points: int, *, inclusive: bool,
            extra: int = 0) -> list[datetime]:
    if step < MIN_STEP or step % MIN_STEP:
        raise ValueError("step: must be a whole number of minutes")
    span = until - first
    count = max(0, span // step + (1 if inclusive or span % step else 0)) if span >= timedelta(0) else 0
    if count + extra > max_points:
        raise ValueError(f"step: {count + extra} points from {first.isoformat()} to {until.isoformat()} (at most "
                         f"{max_points}): use a longer step or a shorter range")
    return [first + k * step for k in range(count)]
