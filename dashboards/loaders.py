"""Each page's data load: the API calls a page makes for a view, without Streamlit.

A page-wide problem (collector down, token rejected, empty window) raises a `ConsoleError`
and the page shows its one line. A section whose endpoint this collector lacks (or that
refuses the question) holds the error instead, and only that section says so.
`bench/console.py` times these functions against a large store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from dashboards.api import BadRequest, ConsoleAPI, ConsoleError, NotAvailable, NotFound, TimedOut
from dashboards.timerange import View, iso

T = TypeVar("T")
TREND_BUCKETS = 6
MAX_PARALLEL = 6


class EmptyWindow(ConsoleError):
    kind = "empty"


@dataclass
class Section:
    """A section's data, or the one-line reason it has none."""

    data: Any = None
    error: ConsoleError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def section(fn: Callable[[], T]) -> Section:
    try:
        return Section(fn())
    except (NotAvailable, NotFound, BadRequest, TimedOut) as exc:
        return Section(error=exc)


def gather(calls: Mapping[str, Callable[[], Any]]) -> dict[str, Section]:
    """Run a page's independent API calls side by side (the collector answers them concurrently).
    A page-wide error (down, token) in any of them is raised; the first one wins."""
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, max(1, len(calls)))) as pool:
        futures = {name: pool.submit(section, fn) for name, fn in calls.items()}
        return {name: future.result() for name, future in futures.items()}


def firing_from_slos(slos: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The alerts firing as of the SLO status's `at`: the same records `/api/v1/alerts` lists,
    taken from `/api/v1/slos` so a page needing both makes one costly evaluation, not two."""
    return [dict(a, state="firing") for slo in slos.get("slos", []) for g in slo.get("groups", [])
            for a in g.get("alerts") or []]


@dataclass
class PageData:
    view: View
    totals: dict[str, Any]
    sections: dict[str, Section] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Section:
        return self.sections[name]


def _page(api: ConsoleAPI, view: View, calls: Mapping[str, Callable[[], Any]]) -> PageData:
    """The window's totals and the page's sections, fetched together; no sessions at all in the
    window means there is nothing to show, and the page says so instead."""
    sections = gather({"_totals": lambda: api.cost([], view.window(), view.filters), **calls})
    totals = sections.pop("_totals")
    if totals.error is not None:
        raise totals.error
    return PageData(view, _check_totals(totals.data, view), sections)


def _check_totals(rows: list[dict[str, Any]], view: View) -> dict[str, Any]:
    if not rows or not rows[0].get("sessions"):
        where = ", ".join(f"{k}={v}" for k, v in view.filters.items())
        raise EmptyWindow(f"No sessions between {view.window()['since']} and {view.window()['until']}"
                          + (f" for {where}" if where else "")
                          + ": the store is empty or nothing matches this time range and filters.")
    return rows[0]


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def ticket_incidents(tickets: list[dict[str, Any]], since: datetime, until: datetime) -> list[dict[str, Any]]:
    """The router's WER, drift and cost tickets open in [since, until) as incident rows, in the
    shape `/api/v1/alerts` gives; an SLO alert's ticket (labelled `slo`) is left out, as its alert
    is listed already."""
    rows = []
    for t in tickets:
        labels = dict(t.get("labels") or {})
        opened, closed = t.get("opened_at"), t.get("closed_at")
        if labels.get("slo") or not opened:
            continue
        if _instant(opened) >= until or (closed and _instant(closed) < since):
            continue
        rows.append({"state": "firing" if t.get("status") == "open" else "resolved", "severity": "ticket",
                     "name": labels.get("alertname") or t.get("title"), "labels": labels,
                     "starts_at": opened, "ends_at": closed, "summary": t.get("title")})
    return rows


def load_executive(api: ConsoleAPI, view: View, trend_dim: str = "channel") -> PageData:
    calls: dict[str, Callable[[], Any]] = {
        "slos": lambda: api.slos(view.at),
        "wer": lambda: api.wer([], view.window(), view.filters, intervals=False),  # the tile shows WER alone
        "cost_by_version": lambda: api.cost(["model_version"], view.window(), view.filters),
        "resolved": lambda: api.alerts(view.at, state="resolved")["alerts"],
        "cost_series": lambda: api.cost(["model_version"], view.window(), view.filters, step=view.trend_step),
        "cost_drivers": lambda: api.cost([], view.window(), view.filters, step=view.trend_step),
        "wer_series": lambda: api.wer(["model_version"], view.window(), view.filters, step=view.trend_step,
                                      intervals=False),
        "annotations": lambda: api.annotations(view.window()),
        "tickets": lambda: api.tickets(limit=500),
    }
    buckets = view.buckets(TREND_BUCKETS)
    for i, (start, end) in enumerate(buckets):
        window = {"since": iso(start), "until": iso(end)}
        # The trend chart draws lines only: no bootstrap per bucket and group.
        calls[f"trend{i}"] = lambda w=window: api.wer([trend_dim, "model_version"], w, view.filters, intervals=False)
    data = _page(api, view, calls)
    s = data.sections
    s["trend"] = Section([(start, end, s.pop(f"trend{i}").data or []) for i, (start, end) in enumerate(buckets)])
    resolved, tickets = s.pop("resolved"), s.pop("tickets")
    if s["slos"].ok and resolved.ok:
        # WER, drift and cost tickets are incidents too, not only the SLO alerts.
        filed = ticket_incidents(tickets.data, view.since, view.until) if tickets.ok else []
        s["incidents"] = Section(firing_from_slos(s["slos"].data) + resolved.data + filed)
    else:
        s["incidents"] = Section(error=s["slos"].error or resolved.error)
    return data


def load_oncall(api: ConsoleAPI, view: View, latency_dim: str = "region") -> PageData:
    data = _page(api, view, {
        "slos": lambda: api.slos(view.at),
        "latency": lambda: api.latency([], view.window(), view.filters),
        "latency_by": lambda: api.latency([latency_dim], view.window(), view.filters),
        "outcomes": lambda: api.outcomes(["model_version"], view.window(), view.filters),
        # The newest sessions above 30% WER: on-call wants what just went wrong, not the worst of the day.
        "high_wer": lambda: api.samples(view.window(), view.filters, min_wer=0.3, order="recent", limit=25),
        "silences": lambda: api.silences(view.at),
        "rollouts": api.rollouts,
        "audit": lambda: api.audit(view.window(), limit=200),
        # Over time, in the range's chart step, with the markers every time axis carries.
        "latency_series": lambda: api.latency([], view.window(), view.filters, step=view.step, kind="final"),
        "outcome_series": lambda: api.outcomes([], view.window(), view.filters, step=view.step),
        # Load beside delay: sessions per second and queue time per pool over time, and per node now.
        "throughput_series": lambda: api.throughput(["pool"], view.window(), view.filters, step=view.step),
        "throughput_by_node": lambda: api.throughput(["node", "pool"], view.window(), view.filters),
        "annotations": lambda: api.annotations(view.window()),
    })
    s = data.sections
    s["alerts"] = Section(firing_from_slos(s["slos"].data)) if s["slos"].ok else Section(error=s["slos"].error)
    return data


def burn_series(api: ConsoleAPI, view: View, slo: str, group: Mapping[str, str]) -> Section:
    """One SLO group's burn rates, budget left and alert episodes over the view's range: asked
    once the page knows which SLO and group to draw (the hottest, unless a person picks another)."""
    return section(lambda: api.slo_series(slo, group, view.window(), view.step))


def load_debug(api: ConsoleAPI, view: View, session_id: str | None = None, compare: bool = True) -> PageData:
    """`compare` adds the model-version comparison (three grouped queries over the whole window)."""
    calls: dict[str, Callable[[], Any]] = {
        "recent": lambda: api.sessions(view.window(), view.filters, limit=50),
        "scatter": lambda: api.samples(view.window(), view.filters, order="recent", limit=2000),
        "storage": api.storage,  # whether the session list is a sample
    }
    if compare:
        calls["wer_by_version"] = lambda: api.wer(["model_version"], view.window(), view.filters)
        calls["latency_by_version"] = lambda: api.latency(["model_version"], view.window(), view.filters)
        calls["cost_by_version"] = lambda: api.cost(["model_version"], view.window(), view.filters)
    if session_id:
        calls["session"] = lambda: api.session(session_id)
    return _page(api, view, calls)


def load_model_owner(api: ConsoleAPI, view: View) -> PageData:
    return _page(api, view, {
        "drift": lambda: api.drift(None if view.live else view.at),
        "tickets": lambda: api.tickets(limit=100),
        "wer_by_version": lambda: api.wer(["model_version"], view.window(), view.filters),
        # Label-free hallucination flags per version (the status counters).
        "hallucinations_by_version": lambda: api.outcomes(["model_version"], view.window(), view.filters),
        "diarization_by_version": lambda: api.diarization(["model_version", "channel"], view.window(), view.filters),
    })


def load_rollouts(api: ConsoleAPI, view: View, name: str | None = None) -> PageData:
    listed = section(api.rollouts)
    if not name and listed.ok and listed.data:
        name = listed.data[-1]["name"]  # the newest
    calls: dict[str, Callable[[], Any]] = {
        "audit": lambda: api.audit(view.window(), limit=200),
        "silences": lambda: api.silences(view.at),
    }
    if name:
        calls["rollout"] = lambda: api.rollout(name)
        calls["verdict"] = lambda: api.verdict(name, view.at)
    data = _page(api, view, calls)
    data.sections.update({"rollouts": listed, "name": Section(name)})
    return data


PAGES: dict[str, Callable[..., PageData]] = {
    "executive": load_executive,
    "oncall": load_oncall,
    "debug": load_debug,
    "model_owner": load_model_owner,
    "rollouts": load_rollouts,
}
