"""The calendar month a report covers, in UTC event time, parsed from `--month YYYY-MM`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class Month:
    start: datetime  # the first instant of the month, UTC
    end: datetime    # the first instant of the next month (exclusive)

    @property
    def label(self) -> str:
        return f"{self.start.year:04d}-{self.start.month:02d}"

    def days(self, until: datetime | None = None) -> list[tuple[datetime, datetime]]:
        """[day start, day end) per calendar day, the last one cut at `until` (days past it dropped)."""
        stop = min(self.end, until) if until is not None else self.end
        out, day = [], self.start
        while day < stop:
            out.append((day, min(day + timedelta(days=1), stop)))
            day += timedelta(days=1)
        return out


def parse_month(text: str) -> Month:
    """'2026-11' -> November 2026 in UTC; anything else raises ValueError naming --month."""
    match = _MONTH.fullmatch((text or "").strip())
    if not match:
        raise ValueError(f"--month: expected YYYY-MM (e.g. 2026-11), got {text!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise ValueError(f"--month: the month must be 01 to 12, got {text!r}")
    if year < 1970:
        raise ValueError(f"--month: the year must be 1970 or later, got {text!r}")
    start = datetime(year, month, 1, tzinfo=timezone.utc)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=timezone.utc)
    return Month(start, end)
