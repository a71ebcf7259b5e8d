"""`sli_source: prometheus`: SLO statuses read through PromQL from the rules `asrwatch slo rules`
exports, loaded into a Prometheus-compatible engine (Prometheus, Thanos Query, Mimir) that scrapes
every collector replica's `/metrics`.

What is read, as of `at` (the query's `time`):
- each window's error ratio, `slo:sli_error:ratio_rate<w>` (burn = ratio / (1 - objective)), and
  the events of the tiers' long windows, `slo:sli_events:increase<w>`;
- the SLO window's events and bad events: the sums over the recorded 5-minute increases
  (`prometheus_rules.period_sums`), or the raw counters where the window is itself a recorded one;
- the rules' own `slo:objective:ratio` and `slo:time_period:days`, so rules exported for another
  objective or window are named rather than trusted;
- since when an alert fires: `ALERTS_FOR_STATE` (its activeAt) of the exported alerting rule.

Which alerts fire is decided here, by `slo.alerting.tier_decisions` (the rule the local engine
applies to the rollups, and the exported alerting rules encode) on the recorded ratios and events:
the same traffic fires the same alerts at the same minutes, whether or not the alerting rules are
loaded or Prometheus has restored their state after a restart. The alert itself (labels,
fingerprint, summary) is built as the local engine builds it (`slo.evaluation.slo_alert`).

Prometheus counts a session when it scrapes the counter the collector bumped on ingest, not at
the session's event time: this source judges live fleets on the wall clock (settings refuse it
with `evaluator_clock: watermark`), and late data counts when it arrives. Maintenance windows do
not apply here (the rules know nothing of them). The SLO window's figures move in 5-minute steps
(the period recordings' interval), as Sloth's do.

When the engine cannot be asked (unreachable, an error, a timeout, an answer that is not the
Prometheus API's) every call raises `SLISourceUnavailable` naming the source: the API answers 503
and the evaluator skips its pass, so no alert resolves because data is missing. A group whose
recordings are absent (its targets not scraped, series stale), or an SLO whose rules are missing
or stale (`SLOStatus.problem`), is not judged: its open alerts stay open (`held_open`).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from slo.alerting import Conditions, policy, tier_decisions
from slo.burn_rate import CURRENT_BURN_WINDOW, REPORT_WINDOWS, budget_remaining, time_to_exhaustion
from slo.burn_timeline import MAX_VALUES, Timeline, check_group, tier_windows
from slo.evaluation import GroupStatus, TierCounts, fired_tier, runbook_url, slo_alert
from slo.prometheus_rules import NotExportable, bad_and_total, folding_warnings, period_sums
from slo.spec import SLOSpec, format_duration, min_events_for, parse_duration, slos_from_settings
from slo.status import SLOStatus, runbook_base

if TYPE_CHECKING:
    from asrwatch.settings import PrometheusSettings, Settings

log = logging.getLogger("asrwatch.slo.prometheus_source")
SOURCE = "prometheus"
RECORDED = re.compile(r"^slo:(sli_error:ratio_rate|sli_events:increase)([0-9]+[smhdw](?:[0-9]+[smhdw])*)$")
PART = "asrwatch_part"  # the label that tells the parts of one answer apart
Sample = tuple[dict[str, str], float]
Key = tuple[str, ...]


class SLISourceUnavailable(RuntimeError):
    """The SLI source could not answer; the message names it (never its headers)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"sli_source {SOURCE} ({url}): {reason}")


class PrometheusAPI:
    """Queries against the Prometheus HTTP API (`POST /api/v1/query` and `/query_range`,
    form-encoded, as Prometheus, Thanos Query and Mimir all take them: long selectors fit no URL).
    One client, shared by the request threads and the evaluator (httpx clients are thread-safe)."""

    def __init__(self, settings: PrometheusSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.url = settings.url  # the settings refuse credentials in it: they go in `headers`
        self._client = httpx.Client(base_url=settings.url, headers=settings.headers, timeout=settings.timeout_s,
                                    transport=transport)

    def query(self, expr: str, at: datetime) -> list[Sample]:
        data = self._post("/api/v1/query", {"query": expr, "time": f"{at.timestamp():.3f}"}, "vector")
        return self._parsed(lambda: [(item["metric"], float(item["value"][1])) for item in data])

    def query_range(self, expr: str, start: datetime, end: datetime, step: timedelta
                    ) -> list[tuple[dict[str, str], dict[datetime, float]]]:
        """Per series: its value at each step from `start` to `end` where it has one."""
        data = self._post("/api/v1/query_range", {"query": expr, "start": f"{start.timestamp():.3f}",
                                                  "end": f"{end.timestamp():.3f}", "step": str(int(step.total_seconds()))},
                          "matrix")
        return self._parsed(lambda: [
            (item["metric"], {datetime.fromtimestamp(float(t), tz=timezone.utc): float(v) for t, v in item["values"]})
            for item in data])

    def _post(self, path: str, form: dict[str, str], result_type: str) -> list[dict[str, Any]]:
        try:
            response = self._client.post(path, data=form)
        except httpx.HTTPError as exc:
            raise SLISourceUnavailable(self.url, f"unreachable: {type(exc).__name__}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SLISourceUnavailable(self.url, f"HTTP {response.status_code}: not a Prometheus API answer")
        if response.status_code != 200 or body.get("status") != "success":
            detail = body.get("error") or response.text[:200]
            raise SLISourceUnavailable(self.url, f"HTTP {response.status_code} {body.get('errorType', '')}: {detail}")
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != result_type or not isinstance(data.get("result"), list):
            raise SLISourceUnavailable(self.url, f"expected a {result_type} result")
        return data["result"]

    def _parsed(self, parse: Callable[[], Any]) -> Any:
        try:
            return parse()
        except (AttributeError, KeyError, TypeError, ValueError, IndexError):
            raise SLISourceUnavailable(self.url, "malformed result") from None

    def close(self) -> None:
        self._client.close()


@contextmanager
def prometheus_client(settings: Settings, shared: PrometheusAPI | None) -> Iterator[PrometheusAPI]:
    """The running collector's client (`Services.prometheus`), or one for this call."""
    if shared is not None:
        yield shared
        return
    assert settings.prometheus is not None  # the settings refuse sli_source: prometheus without it
    api = PrometheusAPI(settings.prometheus)
    try:
        yield api
    finally:
        api.close()


@dataclass
class GroupReadings:
    """One SLO group's figures as Prometheus recorded them at `at`."""

    ratios: dict[int, float] = field(default_factory=dict)  # window minutes -> error ratio
    events: dict[int, float] = field(default_factory=dict)  # long window minutes -> events
    window_bad: float = 0.0
    window_total: float = 0.0
    active_at: dict[str, datetime] = field(default_factory=dict)  # severity -> its alert rule's activeAt


@dataclass
class Readings:
    """An SLO's groups, and why it cannot be judged (rules missing or exported for another spec)."""

    groups: dict[Key, GroupReadings] = field(default_factory=dict)
    problem: str | None = None


def _literal(text: str) -> str:
    # The inside of a PromQL double-quoted string.
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _names(names: Iterable[str]) -> str:
    # A PromQL regex of names, each escaped for RE2 and the string literal.
    return "|".join(_literal(re.escape(n)) for n in names)


def _key(spec: SLOSpec, labels: dict[str, str]) -> Key:
    return tuple(labels.get(d, "") for d in spec.group_by)


def _minutes(duration: str) -> int:
    return int(parse_duration(duration) / timedelta(minutes=1))


def _parts(parts: dict[str, str]) -> str:
    """One query for several expressions, each answer labelled with its part's name (`or` keeps
    them all: the part label differs)."""
    return " or ".join(f'label_replace({expr}, "{PART}", "{name}", "", "")' for name, expr in parts.items())


def read_groups(api: PrometheusAPI, specs: Sequence[SLOSpec], at: datetime) -> dict[str, Readings]:
    """Per SLO name: its groups' readings at `at`. Three queries for all SLOs, one more per SLO."""
    by_name = {s.name: s for s in specs}
    out = {s.name: Readings() for s in specs}
    names = _names(by_name)
    # The period group records these every 5 minutes: the last one within two intervals.
    meta = _parts({"objective": f'last_over_time(slo:objective:ratio{{slo=~"{names}"}}[10m])',
                   "days": f'last_over_time(slo:time_period:days{{slo=~"{names}"}}[10m])'})
    recorded: dict[str, dict[str, float]] = {}
    for labels, value in api.query(meta, at):
        recorded.setdefault(labels.get("slo", ""), {})[labels.get(PART, "")] = value
    for spec in specs:
        mine = recorded.get(spec.name, {})
        days = spec.window / timedelta(days=1)
        # Absent metadata alone is no problem: Prometheus runs the 5-minute group at an offset of
        # its own, up to 5 minutes after the rules are loaded (no recordings at all is, below).
        if "objective" in mine and (not math.isclose(mine["objective"], spec.objective)
                                    or not math.isclose(mine.get("days", days), days)):
            out[spec.name].problem = (f"Prometheus' rules were exported for objective {mine['objective']:g} and a "
                                      f"{mine.get('days', days):g}d window, the config says {spec.objective:g} and "
                                      f"{days:g}d: export and load the rules again")
    judged = [s for s in specs if out[s.name].problem is None]
    if not judged:
        return out
    names = _names(s.name for s in judged)
    for labels, value in api.query(
            f'{{__name__=~"slo:sli_error:ratio_rate.+|slo:sli_events:increase.+",slo=~"{names}"}}', at):
        spec, match = by_name.get(labels.get("slo", "")), RECORDED.match(labels.get("__name__", ""))
        if spec is None or match is None or out[spec.name].problem:
            continue
        missing = [d for d in spec.group_by if d not in labels]
        if missing:  # rules exported before the SLO grouped by these
            out[spec.name].problem = (f"Prometheus' rules do not group by {', '.join(missing)}: export and load "
                                      "the rules again")
            out[spec.name].groups.clear()
            continue
        group = out[spec.name].groups.setdefault(_key(spec, labels), GroupReadings())
        (group.ratios if match.group(1).startswith("sli_error") else group.events)[_minutes(match.group(2))] = value
    for spec in judged:
        if not out[spec.name].groups and spec.name not in recorded:
            out[spec.name].problem = ("Prometheus has no recordings of this SLO's rules: load the rules "
                                      "`asrwatch slo rules` exports for this config")
            continue
        bad, total = period_sums(spec) or bad_and_total(spec, spec.window)
        for labels, value in api.query(_parts({"bad": bad, "total": total}), at):
            group = out[spec.name].groups.get(_key(spec, labels))
            if group is not None and math.isfinite(value):  # a group without recordings is not judged
                if labels.get(PART) == "bad":
                    group.window_bad = value
                else:
                    group.window_total = value
    judged = [s for s in judged if out[s.name].problem is None]
    if not judged:
        return out
    names = _names(s.name for s in judged)
    # The exported alerting rules' activeAt (Prometheus writes it for rules without `for:` too).
    alert_names = _names({s.alert_name(sev) for s in judged for sev in ("page", "ticket")})
    for labels, value in api.query(f'ALERTS_FOR_STATE{{alertname=~"{alert_names}",slo=~"{names}"}}', at):
        spec = by_name.get(labels.get("slo", ""))
        severity = labels.get("severity", "")
        if spec is None or labels.get("alertname") != spec.alert_name(severity) or not math.isfinite(value):
            continue
        group = out[spec.name].groups.get(_key(spec, labels))
        if group is not None:
            group.active_at[severity] = datetime.fromtimestamp(value, tz=timezone.utc)
    return out


def decide(spec: SLOSpec, readings: Sequence[GroupReadings], *, min_events: int, min_bad_events: float,
           ends: int = 1) -> Conditions:
    """The alert conditions on Prometheus' readings: `slo.alerting.tier_decisions`, as the local
    engine applies it to its counts. `readings` is row-major over groups x `ends` points in time;
    arrays come back (groups, ends)."""
    tiers = policy(spec.window)
    shape = (len(readings) // ends, ends)

    def grid(values: Iterable[float]) -> np.ndarray:
        return np.fromiter(values, dtype=np.float64, count=len(readings)).reshape(shape)

    ratios, events, bad = [], [], []
    for tier in tiers:
        # A long window without its events recording is not judged (PromQL's `and` drops it too).
        r_long = grid(r.ratios.get(tier.long_minutes, math.nan) if tier.long_minutes in r.events else math.nan
                      for r in readings)
        n_long = grid(r.events.get(tier.long_minutes, 0.0) for r in readings)
        ratios.append((r_long, grid(r.ratios.get(tier.short_minutes, math.nan) for r in readings)))
        events.append(n_long)
        # Bad events are whole numbers recorded as ratio x events: "at least N" is "more than
        # N - 0.5", as the exported rules test it (`prometheus_rules.rules_for`).
        bad.append(np.where(np.nan_to_num(r_long * n_long) > min_bad_events - 0.5, np.inf, 0.0))
    return tier_decisions(tiers, spec.objective, min_events, min_bad_events, ratios=ratios, long_events=events,
                          long_bad=bad)


def group_statuses(spec: SLOSpec, groups: dict[Key, GroupReadings], at: datetime, *,
                   min_events: int, base: str, min_bad_events: float) -> list[GroupStatus]:
    """Pure: an SLO's groups from its readings, in the shape the local engine gives them."""
    tiers = policy(spec.window)
    url = runbook_url(spec, base)
    budget = 1.0 - spec.objective
    keys = sorted(groups)
    cond = decide(spec, [groups[k] for k in keys], min_events=min_events, min_bad_events=min_bad_events)
    out = []
    for g, key in enumerate(keys):
        readings = groups[key]
        total, bad = readings.window_total, min(readings.window_bad, readings.window_total)
        remaining = float(budget_remaining(np.array([total - bad]), np.array([total]), spec.objective)[0])
        burns: dict[str, float | None] = {}
        for name, minutes in REPORT_WINDOWS.items():
            ratio = readings.ratios.get(minutes, math.nan)
            burns[name] = ratio / budget if math.isfinite(ratio) else None
        tte = time_to_exhaustion(remaining, burns[CURRENT_BURN_WINDOW], spec.window)  # type: ignore[arg-type]
        status = GroupStatus(
            slo=spec.name, sli=spec.sli, objective=spec.objective, window=format_duration(spec.window),
            labels=dict(zip(spec.group_by, key)), events=round(total), good=round(total - bad),
            sli_value=1.0 - bad / total if total > 0 else None, error_budget_remaining=remaining,
            burn_rates=burns, time_to_exhaustion_s=tte.total_seconds() if tte is not None else None)
        for severity, firing in (("page", cond.page), ("ticket", cond.ticket)):
            if not firing[g, 0] or not spec.alert_enabled(severity):
                continue
            i, low = fired_tier(tiers, cond, g, severity)
            tier = tiers[i]
            counts = TierCounts(readings.events.get(tier.long_minutes, 0.0),
                                readings.ratios.get(tier.long_minutes, math.nan),
                                readings.events.get(tier.short_minutes),
                                readings.ratios.get(tier.short_minutes, math.nan))
            # Since when: the alerting rule's activeAt where Prometheus runs it, else now.
            starts = min(readings.active_at.get(severity, at), at)
            status.alerts.append(slo_alert(
                spec, status, severity, tier, starts, url, counts, low_traffic=low,
                min_events=tier.min_events(spec.objective, min_events, min_bad_events)))
        out.append(status)
    return out


def prometheus_statuses(api: PrometheusAPI, settings: Settings, at: datetime) -> list[SLOStatus]:
    """Per SLO, in config order, as `slo.snapshot.slo_statuses` gives them from the rollups."""
    specs = slos_from_settings(settings)
    if not specs:
        return []
    read = read_groups(api, specs, at)
    base, min_bad = runbook_base(settings), float(settings.slo_min_bad_events or 0)
    out = []
    for spec in specs:
        mine = read[spec.name]
        if mine.problem:
            log.warning("SLO %s not judged: %s", spec.name, mine.problem)
        groups = group_statuses(spec, mine.groups, at, min_events=min_events_for(spec, settings), base=base,
                                min_bad_events=min_bad)
        out.append(SLOStatus(spec, groups, source=SOURCE, problem=mine.problem))
    return out


def held_open(statuses: Sequence[SLOStatus]) -> Callable[[str, dict[str, str]], bool]:
    """For the evaluator: whether an open episode (its SLO and labels) must stay open though
    nothing fires for it, because the source did not judge its SLO (its rules missing or stale,
    or none of its recordings there: its targets not scraped). An episode of an SLO no longer
    configured, or without a label the SLO now groups by, is not held: it resolves, as in
    `local` mode."""
    by_name = {s.spec.name: s for s in statuses}

    def held(slo: str, labels: dict[str, str]) -> bool:
        status = by_name.get(slo)
        if status is None or any(d not in labels for d in status.spec.group_by):
            return False
        # The SLO's data is missing as a whole (no recordings, or rules that do not match it):
        # nothing is judged. One group missing while others are recorded is a group gone (a
        # retired model version): it resolves, as in `local` mode, rather than page forever.
        return status.problem is not None or not status.groups

    return held


def check_sli_source(settings: Settings) -> None:
    """ValueError naming each SLO Prometheus could not judge as the local engine would (an SLI the
    rules have no form for); `serve` and `asrwatch check` refuse such a config. Grouping past the
    /metrics label budget only warns (the rules' `__other__` group), as `asrwatch slo rules` does."""
    if settings.sli_source != "prometheus":
        return
    specs = slos_from_settings(settings)
    problems = []
    for spec in specs:
        try:
            bad_and_total(spec, spec.window)
        except NotExportable as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("sli_source: prometheus: " + "; ".join(problems))
    for warning in folding_warnings(specs, settings):
        log.warning("sli_source prometheus: %s", warning)


def _values_at(api: PrometheusAPI, expr: str, times: Sequence[datetime], step: timedelta
               ) -> list[tuple[dict[str, str], dict[datetime, float]]]:
    """`expr` at each of `times` (step-aligned, then perhaps one unaligned last time, as
    `time_buckets.evaluation_times` gives them): one range query for the aligned ones, an instant
    query for each other."""
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    aligned = [t for t in times if (t - epoch) % step == timedelta(0)]
    series: dict[tuple, tuple[dict[str, str], dict[datetime, float]]] = {}
    if aligned:
        for labels, values in api.query_range(expr, aligned[0], aligned[-1], step):
            series[tuple(sorted(labels.items()))] = (labels, values)
    done = set(aligned)
    for extra in (t for t in times if t not in done):
        for labels, value in api.query(expr, extra):
            series.setdefault(tuple(sorted(labels.items())), (labels, {}))[1][extra] = value
    return list(series.values())


def prometheus_timeline(api: PrometheusAPI, spec: SLOSpec, times: Sequence[datetime], step: timedelta,
                        group: dict[str, str], *, min_events: int, min_bad_events: float) -> Timeline:
    """`slo.burn_timeline.timeline` from Prometheus: per group whose labels include `group`, at each
    of `times`, the burn of each tier window (recorded ratios / budget), the budget left over the
    SLO window and the severity fired there (`decide`, on the readings at that time)."""
    check_group(spec, group)
    windows = tier_windows(spec)
    sel = f'slo="{_literal(spec.name)}"'
    budget = 1.0 - spec.objective
    needed = {m for t in policy(spec.window) for m in (t.long_minutes, t.short_minutes)} | set(windows.values())
    names = _names(format_duration(timedelta(minutes=m)) for m in sorted(needed))
    readings: dict[Key, dict[datetime, GroupReadings]] = {}
    for labels, values in _values_at(
            api, f'{{__name__=~"slo:sli_error:ratio_rate({names})|slo:sli_events:increase({names})",{sel}}}',
            times, step):
        match = RECORDED.match(labels.get("__name__", ""))
        if match is None or any(labels.get(k) != v for k, v in group.items()):
            continue
        mine = readings.setdefault(_key(spec, labels), {})
        minutes = _minutes(match.group(2))
        for t, value in values.items():
            at_t = mine.setdefault(t, GroupReadings())
            (at_t.ratios if match.group(1).startswith("sli_error") else at_t.events)[minutes] = value
    if len(readings) * len(times) > MAX_VALUES:
        raise ValueError(f"group: {len(readings)} groups x {len(times)} points is more than {MAX_VALUES} "
                         "values: choose a group (group=k=v,...) or a longer step")
    left: dict[Key, dict[datetime, float]] = {}
    bad, total = period_sums(spec) or bad_and_total(spec, spec.window)
    for labels, values in _values_at(api, f"1 - clamp_max(({bad}) / ({total}), 1) / {budget!r}", times, step):
        left.setdefault(_key(spec, labels), {}).update({t: v for t, v in values.items() if math.isfinite(v)})
    keys = sorted(readings)
    grid = [readings[k].get(t) or GroupReadings() for k in keys for t in times]
    cond = decide(spec, grid, min_events=min_events, min_bad_events=min_bad_events, ends=len(times))
    out = []
    for g, key in enumerate(keys):
        points = []
        for j, t in enumerate(times):
            ratios = grid[g * len(times) + j].ratios
            firing = ("page" if cond.page[g, j] and spec.alert_enabled("page") else
                      "ticket" if cond.ticket[g, j] and spec.alert_enabled("ticket") else None)
            points.append({"t": t.isoformat(),
                           "burn_rates": {name: ratios[m] / budget if math.isfinite(ratios.get(m, math.nan)) else None
                                          for name, m in windows.items()},
                           "error_budget_remaining": left.get(key, {}).get(t, 1.0), "firing": firing})
        out.append({"group": dict(zip(spec.group_by, key)), "points": points})
    return Timeline(windows=windows, groups=out)
