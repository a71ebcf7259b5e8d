"""What the leadership report says, read through the collector's HTTP API (as the console reads it).

The report is a client: every figure is the API's own (`/api/v1/slos`, `/alerts`, `/tickets`,
`/cost`, `/wer`), so it agrees with the console; the only arithmetic here is pooling an SLO's
groups into one line (the engine's own budget formula over summed counts) and durations.
`read_report` does the I/O; `shape_*` are pure functions of the API's JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from dashboards.api import ConsoleAPI, NotAvailable
from dashboards.report.month import Month

MAX_TICKETS = 1000  # /api/v1/tickets' own upper limit


@dataclass(frozen=True)
class BudgetLine:
    """One SLO (pooled over its groups) or one of its groups, as judged at the report's `at`."""

    slo: str
    group: str  # "" for the SLO's own line; "region=eu,…" for a group
    objective: float
    window: str
    events: int
    good: int
    sli: float | None
    budget_remaining: float

    @property
    def budget_spent(self) -> float:
        return 1.0 - self.budget_remaining

    @property
    def met(self) -> bool | None:
        """Compliance: the objective held over the window (None: no events to judge)."""
        return None if not self.events else self.budget_remaining >= 0.0


@dataclass(frozen=True)
class SLOBudget:
    name: str
    sli: str
    overall: BudgetLine
    groups: list[BudgetLine]  # worst (most budget spent) first; empty for an ungrouped SLO


@dataclass(frozen=True)
class Incident:
    kind: str  # "alert" (an SLO alert episode) or "ticket" (the router's WER, drift, cost tickets)
    name: str
    severity: str
    slo: str
    group: str
    start: datetime
    end: datetime | None  # None: still open at the report's `at`
    duration_s: float


@dataclass(frozen=True)
class CostDay:
    start: datetime
    cost_usd: float
    sessions: int
    cost_per_successful_turn: float | None


@dataclass
class ReportData:
    month: Month
    at: datetime            # the event time everything is judged at: the month's end, or the collector's now
    generated_at: datetime  # wall clock, for the reader
    api_url: str
    slos: list[SLOBudget]
    incidents: list[Incident]
    cost: dict[str, Any] | None       # /api/v1/cost over the month (no group_by): one row, or None
    cost_days: list[CostDay]
    wer: list[dict[str, Any]]         # /api/v1/wer?group_by=model_version over the month
    notes: list[str] = field(default_factory=list)  # sections this collector could not answer

    @property
    def sessions(self) -> int:
        return int((self.cost or {}).get("sessions") or 0)

    @property
    def has_data(self) -> bool:
        return self.sessions > 0 or bool(self.wer)


# -- pure shaping -----------------------------------------------------------------------------------


def group_label(labels: Mapping[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (labels or {}).items())


def pooled_budget_remaining(good: float, events: float, objective: float) -> float:
    """1 - (bad/events)/(1 - objective), 1.0 without events: the engine's definition
    (slo/burn_rate.py `budget_remaining`, after the SRE Workbook's error budget), over summed counts."""
    if not events:
        return 1.0
    return 1.0 - ((events - good) / events) / (1.0 - objective)


def shape_slos(slos: Mapping[str, Any]) -> list[SLOBudget]:
    """`GET /api/v1/slos` -> one budget per SLO (pooled over groups), its groups worst first."""
    out = []
    for slo in slos.get("slos", []):
        lines = [BudgetLine(slo=slo["name"], group=group_label(g.get("group")), objective=float(g["objective"]),
                            window=str(g.get("window") or slo.get("window")), events=int(g.get("events") or 0),
                            good=int(g.get("good") or 0), sli=g.get("sli_value"),
                            budget_remaining=float(g["error_budget_remaining"]))
                 for g in slo.get("groups", [])]
        objective, window = float(slo["objective"]), str(slo.get("window"))
        if len(lines) == 1 and not lines[0].group:
            overall, groups = lines[0], []  # ungrouped: the API's own line
        else:
            events, good = sum(g.events for g in lines), sum(g.good for g in lines)
            overall = BudgetLine(slo=slo["name"], group="", objective=objective, window=window, events=events,
                                 good=good, sli=(good / events) if events else None,
                                 budget_remaining=pooled_budget_remaining(good, events, objective))
            groups = sorted(lines, key=lambda g: (-g.budget_spent, g.group))
        out.append(SLOBudget(name=slo["name"], sli=str(slo.get("sli")), overall=overall, groups=groups))
    return out


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc) if text else None


def _overlaps(start: datetime, end: datetime | None, month: Month) -> bool:
    return start < month.end and (end is None or end > month.start)


def shape_incidents(alert_answers: Sequence[Mapping[str, Any]], tickets: Sequence[Mapping[str, Any]],
                    month: Month, at: datetime) -> list[Incident]:
    """Alert episodes (from `/api/v1/alerts?state=all` asked at several times) and the router's
    tickets that are not SLO alerts (those are episodes already) -> the month's incidents, oldest first.

    An episode is one (fingerprint, starts_at); an answer that saw it resolved wins over one
    that saw it firing. Episodes and tickets that overlap the month count, whenever they began."""
    episodes: dict[tuple[str, str], Mapping[str, Any]] = {}
    for answer in alert_answers:
        for alert in answer.get("alerts", []):
            key = (str(alert.get("fingerprint")), str(alert.get("starts_at")))
            if key not in episodes or (alert.get("ends_at") and not episodes[key].get("ends_at")):
                episodes[key] = alert
    out = []
    for alert in episodes.values():
        start, end = _time(alert["starts_at"]), _time(alert.get("ends_at"))
        if start is None or not _overlaps(start, end, month) or start > at:
            continue
        labels = dict(alert.get("labels") or {})
        slo = str(labels.get("slo", ""))
        group = group_label({k: v for k, v in labels.items()
                             if k not in ("alertname", "slo", "severity") and not k.startswith("sloth_")})
        out.append(Incident("alert", str(alert.get("name") or labels.get("alertname", "")),
                            str(alert.get("severity", "")), slo, group, start, end,
                            ((end or at) - start).total_seconds()))
    for ticket in tickets:
        labels = dict(ticket.get("labels") or {})
        if labels.get("slo"):
            continue  # an SLO alert's ticket: its episode is listed above
        start, end = _time(ticket.get("opened_at")), _time(ticket.get("closed_at"))
        if start is None or not _overlaps(start, end, month) or start > at:
            continue
        group = group_label({k: v for k, v in labels.items() if k not in ("alertname", "severity")})
        out.append(Incident("ticket", str(labels.get("alertname") or ticket.get("title") or "ticket"),
                            str(labels.get("severity") or "ticket"), "", group, start, end,
                            ((end or at) - start).total_seconds()))
    return sorted(out, key=lambda i: (i.start, i.severity, i.name, i.group))


def shape_cost_day(start: datetime, rows: Sequence[Mapping[str, Any]]) -> CostDay:
    row = rows[0] if rows else {}
    return CostDay(start=start, cost_usd=float(row.get("cost_usd") or 0.0), sessions=int(row.get("sessions") or 0),
                   cost_per_successful_turn=row.get("cost_per_successful_turn"))


def shape_cost_days(days: Sequence[tuple[datetime, datetime]], rows: Sequence[Mapping[str, Any]]) -> list[CostDay]:
    """A CostDay per [start, end) of `days` from a `step=1d` answer's rows (keyed by bucket start `t`)."""
    by_start = {datetime.fromisoformat(str(r["t"]).replace("Z", "+00:00")): r for r in rows if r.get("t")}
    return [shape_cost_day(start, [by_start[start]] if start in by_start else []) for start, _ in days]


# -- the reads --------------------------------------------------------------------------------------


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class MonthNotBegun(ValueError):
    """The month asked for lies after the collector's clock: there is nothing to judge yet."""


def report_time(month: Month, collector_now: datetime) -> datetime:
    """The month is judged at its end, or at the collector's clock while it is still running."""
    if collector_now <= month.start:
        raise MonthNotBegun(f"--month: {month.label} has not begun at the collector's clock ({iso(collector_now)})")
    return min(month.end, collector_now)


def public_url(url: str) -> str:
    """The API's address as printed on the page: without any user:password@ it may carry."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return scheme + sep + host.rpartition("@")[2] + slash + path


def _section(notes: list[str], what: str, read: Callable[[], Any], empty: Any) -> Any:
    """An endpoint an older collector lacks leaves its section empty, with a note, not a failure."""
    try:
        return read()
    except NotAvailable as exc:
        notes.append(f"{what}: {exc.message}")
        return empty


def read_report(api: ConsoleAPI, month: Month, generated_at: datetime) -> ReportData:
    """Every figure of the month's report, through the read API."""
    notes: list[str] = []
    try:
        now = api.now()
    except NotAvailable:  # a collector older than /api/v1/clock judges at the wall clock
        now = generated_at
        notes.append("clock: /api/v1/clock is not available; the month is judged at the wall clock")
    at = report_time(month, now)
    window = {"since": iso(month.start), "until": iso(at)}
    slos = _section(notes, "SLOs", lambda: api.slos(iso(at)), {"slos": []})
    # `state=all` holds the alerts firing at `at` and those resolved in the 24 h before it, so an
    # answer per day (and one at `at`) sees every episode that touched the month.
    times = [end for _, end in month.days(at)]
    answers = [_section(notes, "alerts", lambda t=t: api.alerts(iso(t), state="all"), {"alerts": []}) for t in times]
    tickets = _section(notes, "tickets", lambda: api.tickets(limit=MAX_TICKETS), [])
    if len(tickets) >= MAX_TICKETS:
        notes.append(f"tickets: the collector returned its maximum of {MAX_TICKETS}; older ones are not listed")
    cost_rows = _section(notes, "cost", lambda: api.cost([], window, {}), [])
    # One call for every day: `step=1d` buckets are UTC days (a month starts on one), each the same
    # query over its day, the last cut at `at`; a day without sessions has no row.
    by_day = _section(notes, "daily cost", lambda: api.cost([], window, {}, step="1d"), [])
    days = shape_cost_days(month.days(at), by_day)
    wer = _section(notes, "WER", lambda: api.wer(["model_version"], window, {}), [])
    return ReportData(
        month=month, at=at, generated_at=generated_at, api_url=public_url(api.base_url),
        slos=shape_slos(slos), incidents=shape_incidents(answers, tickets, month, at),
        cost=dict(cost_rows[0]) if cost_rows else None, cost_days=days,
        wer=sorted((dict(r) for r in wer), key=lambda r: str(r.get("model_version"))),
        notes=sorted(set(notes), key=notes.index),
    )
