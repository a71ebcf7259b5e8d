"""Maintenance windows: minutes an SLO does not count (budget corrections, issue #22).

A window is [starts_at, ends_at) in event time, both floored to the minute, for some SLOs (none
named: every SLO) and some traffic (`labels`, none: all of it). Its events are dropped from the
counts before any window sum is taken, so the error budget and every burn rate (the alerts'
included) are computed as if they never happened; afterwards the windows that reach back over it
see fewer events, not good ones.

Whether a window applies to an SLO is decided from the spec alone: every label's dimension must
be one of the SLO's `group_by` (the window then drops the groups with that value only) or pinned
by the SLO's filters to exactly that value (then every group of the SLO is that traffic). A
label on a dimension the SLO neither groups by nor pins cannot be told apart in the SLO's counts
(they are summed over it), so the window does not apply, and `applicability` says why.

Pure: windows and `Counts` in, `Counts` out; the SQL that reads them is `slo.maintenance_store`,
and `slo.sli_source.tiered_family` applies them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from asrwatch.settings import Settings, validation_problems
from collector.store import HOUR, ROLLUP_DIMENSIONS, hour_of
from slo.series import MINUTE, Counts, floor_minute
from slo.spec import SLOSpec

Source = Literal["config", "api"]
CONFIG_ID_PREFIX = "config:"


@dataclass(frozen=True)
class MaintenanceWindow:
    id: str
    name: str
    reason: str
    starts_at: datetime  # UTC, on a minute
    ends_at: datetime  # UTC, on a minute, after starts_at
    slos: tuple[str, ...]  # empty: every SLO
    labels: tuple[tuple[str, str], ...]  # sorted (dimension, value); empty: all traffic
    created_by: str
    created_at: datetime | None
    source: Source

    def overlaps(self, since: datetime, until: datetime) -> bool:
        return self.starts_at < until and self.ends_at > since

    def to_dict(self, specs: Sequence[SLOSpec] = ()) -> dict[str, Any]:
        applies, not_applied = applicability(self, specs)
        return {"id": self.id, "name": self.name, "reason": self.reason, "source": self.source,
                "starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat(),
                "slos": list(self.slos), "labels": dict(self.labels), "created_by": self.created_by,
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "applies_to": applies, "not_applied": not_applied}


class WindowSpec(BaseModel):
    """One window as the config (`maintenance_windows: [...]`) and `POST /api/v1/maintenance`
    give it. Unknown keys are errors (`config_windows` names the closest valid one)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    reason: str = Field("", max_length=2000)
    starts_at: datetime
    ends_at: datetime
    slos: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware_minute(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a timezone offset (e.g. 2026-11-21T10:00:00Z)")
        try:
            return floor_minute(value)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC time
            raise ValueError("out of range") from None

    @field_validator("labels")
    @classmethod
    def _known_dimensions(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        # The configured dimensions come in the context (`config_windows`); a body the API
        # validates has none, and the route checks its labels against the store's dimensions.
        if info.context is None:
            return value
        known = (*ROLLUP_DIMENSIONS, *info.context.get("dimensions", ()))
        for dim in value:
            if dim not in known:
                raise ValueError(f"unknown dimension {dim!r} (use one of {', '.join(known)})")
        return value

    @field_validator("ends_at")
    @classmethod
    def _ends_after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        # Both floored to the minute first: a window shorter than a minute would exclude nothing.
        starts = info.data.get("starts_at")
        if starts is not None and value <= starts:
            raise ValueError("must be after starts_at (both floored to the minute)")
        return value

    def window(self, id: str, source: Source, created_by: str, created_at: datetime | None) -> MaintenanceWindow:
        return MaintenanceWindow(id=id, name=self.name, reason=self.reason, starts_at=self.starts_at,
                                 ends_at=self.ends_at, slos=tuple(self.slos), labels=tuple(sorted(self.labels.items())),
                                 created_by=created_by, created_at=created_at, source=source)


def unknown_slos(spec: WindowSpec, names: Iterable[str]) -> str | None:
    """`slos: unknown SLO 'x'` when the window names an SLO the config does not define."""
    known = set(names)
    missing = [n for n in spec.slos if n not in known]
    return f"slos: unknown SLO {missing[0]!r} (known: {', '.join(sorted(known)) or 'none'})" if missing else None


def config_windows(settings: Settings, specs: Sequence[SLOSpec] | None = None) -> list[MaintenanceWindow]:
    """`maintenance_windows:` parsed; ValueError naming `maintenance_windows.<i>.<key>` for each
    bad one (an unknown key with the closest valid one, ends_at not after starts_at, an unknown
    dimension, with `specs` an unknown SLO name, a name used twice). Their ids are
    `config:<name>`, stable across restarts and replicas."""
    out: list[MaintenanceWindow] = []
    problems: list[str] = []
    for i, raw in enumerate(settings.maintenance_windows):
        where = f"maintenance_windows.{i}"
        try:
            spec = WindowSpec.model_validate(raw, context={"dimensions": tuple(settings.dimensions)})
        except ValidationError as exc:
            problems += [p.replace(": Value error, ", ": ", 1) for p in validation_problems(exc, WindowSpec, where)]
            continue
        bad = unknown_slos(spec, [s.name for s in specs]) if specs is not None else None
        if bad:
            problems.append(f"{where}.{bad}")
        elif any(w.name == spec.name for w in out):
            problems.append(f"{where}.name: {spec.name!r} is used by another window")
        else:
            out.append(spec.window(CONFIG_ID_PREFIX + spec.name, "config", "config", None))
    if problems:
        raise ValueError("\n".join(problems))
    return out


# --- which SLOs a window applies to ----------------------------------------------------------

@dataclass(frozen=True, order=True)
class Applied:
    """A window as it applies to one SLO's counts: the minutes [start, end) of the groups whose
    key holds `match` ((position in group_by, value) pairs; none: every group)."""

    start: datetime
    end: datetime
    match: tuple[tuple[int, str], ...]
    window_id: str


def applied_to(window: MaintenanceWindow, spec: SLOSpec) -> Applied | str:
    """How the window applies to the SLO's counts, or why it does not."""
    if window.slos and spec.name not in window.slos:
        return "not one of the window's slos"
    filters = spec.filter_values()
    match = []
    for dim, value in window.labels:
        if dim in spec.group_by:
            match.append((spec.group_by.index(dim), value))
        elif filters.get(dim) == [value]:
            continue  # the SLO counts only that traffic: every group is in the window
        elif dim in filters and value not in filters[dim]:
            return f"{dim}={value}: not counted by this SLO (its filters keep {dim} in {filters[dim]})"
        elif dim in filters:
            return (f"{dim}={value}: counted by this SLO with the other {dim} values its filters keep "
                    f"({filters[dim]}) and not one of its group_by, so it cannot be told apart in its counts")
        else:
            return (f"{dim}: not one of the SLO's group_by nor pinned by its filters, so its traffic "
                    "cannot be told apart in the SLO's counts")
    return Applied(window.starts_at, window.ends_at, tuple(match), window.id)


def applicability(window: MaintenanceWindow, specs: Sequence[SLOSpec]) -> tuple[list[str], dict[str, str]]:
    """The names of the SLOs the window applies to, and for each other SLO why not."""
    applies, not_applied = [], {}
    for spec in specs:
        found = applied_to(window, spec)
        if isinstance(found, Applied):
            applies.append(spec.name)
        else:
            not_applied[spec.name] = found
    return applies, not_applied


def applied_for(spec: SLOSpec, windows: Sequence[MaintenanceWindow], since: datetime, until: datetime
                ) -> tuple[Applied, ...]:
    """The windows overlapping [since, until) that apply to the SLO, sorted: SLOs with equal
    tuples (and equal counts) can share one series."""
    found = [applied_to(w, spec) for w in windows if w.overlaps(since, until)]
    return tuple(sorted(a for a in found if isinstance(a, Applied)))


# --- dropping their events -------------------------------------------------------------------

def _group_mask(groups: Sequence[tuple[str, ...]], match: tuple[tuple[int, str], ...]) -> np.ndarray:
    return np.fromiter((all(key[i] == value for i, value in match) for key in groups), dtype=bool, count=len(groups))


def excluded_rows(counts: Counts, applied: Sequence[Applied]) -> np.ndarray:
    """Pure: a mask of the rows (minutes of groups) some window covers."""
    out = np.zeros(counts.rows, dtype=bool)
    if not counts.rows:
        return out
    for a in applied:
        lo = (a.start - counts.origin) // MINUTE
        hi = (a.end - counts.origin) // MINUTE
        inside = (counts.minute >= lo) & (counts.minute < hi)
        if a.match:
            inside &= _group_mask(counts.groups, a.match)[counts.group]
        out |= inside
    return out


def _kept(counts: Counts, drop: np.ndarray) -> Counts:
    if not drop.any():
        return counts
    keep = ~drop
    return Counts(counts.origin, counts.groups, counts.group[keep], counts.minute[keep], counts.good[keep],
                  counts.total[keep])


def exclude(counts: Counts, applied: Sequence[Applied]) -> Counts:
    """Pure: minute counts without the rows the windows cover."""
    return _kept(counts, excluded_rows(counts, applied)) if applied else counts


def touched_hours(applied: Sequence[Applied], since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """Pure: the whole hours in [since, until) (on hour boundaries) that some window overlaps,
    joined into ranges. An hourly row counts its whole hour, so such an hour is read again per
    minute and its covered minutes dropped."""
    hours: set[datetime] = set()
    for a in applied:
        hour = max(hour_of(a.start), since)
        while hour < min(a.end, until):
            hours.add(hour)
            hour += HOUR
    out: list[tuple[datetime, datetime]] = []
    for hour in sorted(hours):
        if out and out[-1][1] == hour:
            out[-1] = (out[-1][0], hour + HOUR)
        else:
            out.append((hour, hour + HOUR))
    return out


def without_ranges(counts: Counts, ranges: Sequence[tuple[datetime, datetime]]) -> Counts:
    """Pure: counts without any row in the ranges (an hourly row is stamped at its hour's first
    minute, so dropping an hour's minutes drops its hourly row too)."""
    drop = np.zeros(counts.rows, dtype=bool)
    for since, until in ranges:
        lo, hi = (since - counts.origin) // MINUTE, (until - counts.origin) // MINUTE
        drop |= (counts.minute >= lo) & (counts.minute < hi)
    return _kept(counts, drop)


def as_windows(rows: Iterable[Mapping[str, Any]]) -> list[MaintenanceWindow]:
    """Stored rows (`maintenance_windows` table columns) as windows."""
    return [MaintenanceWindow(id=r["id"], name=r["name"], reason=r["reason"] or "",
                              starts_at=_utc(r["starts_at"]), ends_at=_utc(r["ends_at"]),
                              slos=tuple(r["slos"] or ()), labels=tuple(sorted((r["labels"] or {}).items())),
                              created_by=r["created_by"], created_at=_utc(r["created_at"]), source="api")
            for r in rows]


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)

