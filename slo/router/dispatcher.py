"""The routing state machine: dedup, grouping, silences, inhibition. Driven by `at`.

Alertmanager's timing model: a new group waits `group_wait` before its first notification
(so alerts raised together arrive together), then is re-examined every `group_interval`;
it notifies when its set of firing alerts changed or an alert resolved, and re-sends an
unchanged firing group every `repeat_interval`. Nothing here sleeps or does I/O: callers
feed alerts and times, and get back the notifications that are due.

Two clocks: `at` is event time (what the SLO engine judged; the watermark in replays), and
`wall` is the wall clock. Grouping and timing follow `at`, except the re-sends that keep an
alert alive in an Alertmanager: it expires alerts on its own wall clock, so those follow `wall`
(a replay that stops advancing event time must not let a firing alert expire there).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from slo.alert import Alert
from slo.router import matchers as m
from slo.router.config import RouterConfig
from slo.router.routing import RouteMatch, match_labels, owner_for, route

DELIVERY_ALERT = "AlertRouterDeliveryFailing"


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[m.Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    def mutes(self, labels: dict[str, str], at: datetime) -> bool:  # labels: `match_labels`
        return self.starts_at <= at < self.ends_at and m.all_match(self.matchers, labels)


@dataclass(frozen=True)
class Notification:
    receiver: str
    group_key: str
    group_labels: dict[str, str]
    firing: tuple[Alert, ...]
    resolved: tuple[Alert, ...]
    at: datetime
    interval_s: float = 300.0  # the group's group_interval: when it will be looked at again

    @property
    def status(self) -> str:
        return "firing" if self.firing else "resolved"

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return self.firing + self.resolved

    @property
    def id(self) -> str:
        raw = f"{self.group_key}|{self.at.isoformat()}|{','.join(sorted(a.fingerprint for a in self.alerts))}"
        return hashlib.sha256(raw.encode()).hexdigest()[:24]


@dataclass
class _Group:
    match: RouteMatch
    labels: dict[str, str]
    next_flush: datetime
    alerts: dict[str, Alert] = field(default_factory=dict)
    notified_firing: frozenset[str] = frozenset()
    last_notified: datetime | None = None
    last_notified_wall: datetime | None = None


def _group_labels(labels: dict[str, str], group_by: Sequence[str]) -> dict[str, str]:
    if "..." in group_by:
        return dict(labels)
    return {k: labels[k] for k in group_by if k in labels}


class Dispatcher:
    def __init__(self, config: RouterConfig, *, send_resolved: dict[str, bool] | None = None) -> None:
        self.config = config
        self.alerts: dict[str, Alert] = {}  # fingerprint -> latest state (dedup)
        self.groups: dict[str, _Group] = {}
        self.silences: list[Silence] = []
        self.send_resolved = send_resolved or {r.name: r.send_resolved for r in config.receivers}
        # An Alertmanager expires alerts that are not re-sent (as Prometheus re-sends them), so
        # firing groups for it repeat every group_interval instead of every repeat_interval.
        self.resend_each_interval = {r.name for r in config.receivers if r.kind == "alertmanager"}
        self._inhibit = [(m.coerce(r.source_matchers), m.coerce(r.target_matchers), tuple(r.equal))
                         for r in config.inhibit_rules]

    # -- input ---------------------------------------------------------------------------
    def ingest(self, alerts: Iterable[Alert], at: datetime, *, exclude_receivers: Sequence[str] = ()) -> None:
        for alert in alerts:
            if "team" not in alert.labels and "team" not in alert.annotations:
                owner = owner_for(alert.labels, self.config.owners)
                if owner is not None:
                    alert = replace(alert, annotations={**alert.annotations, "team": owner.team})
            labels = match_labels(alert.labels, alert.annotations)
            fp = alert.fingerprint
            known = self.alerts.get(fp)
            if alert.resolved and known is None:
                continue  # never seen firing: nothing to resolve
            if known is not None and not alert.resolved and not known.resolved:
                alert = replace(alert, starts_at=min(known.starts_at, alert.starts_at))
            self.alerts[fp] = alert
            matches = route(labels, self.config)
            if alert.name == DELIVERY_ALERT and self.config.fallback_receiver:
                matches.append(RouteMatch("fallback", self.config.fallback_receiver, ("alertname",),
                                          0.0, matches[0].group_interval if matches else 300.0,
                                          matches[0].repeat_interval if matches else 14400.0))
            for match in matches:
                if match.receiver in exclude_receivers:
                    continue
                glabels = _group_labels(labels, match.group_by)
                key = f"{match.route_id}:{match.receiver}:" + ",".join(f"{k}={v}" for k, v in sorted(glabels.items()))
                group = self.groups.get(key)
                if group is None:
                    if alert.resolved:
                        continue
                    group = self.groups[key] = _Group(match, glabels, at + timedelta(seconds=match.group_wait))
                group.alerts[fp] = alert

    def set_silences(self, silences: Iterable[Silence]) -> None:
        self.silences = list(silences)

    # -- muting --------------------------------------------------------------------------
    def silenced_by(self, alert: Alert, at: datetime) -> list[str]:
        labels = match_labels(alert.labels, alert.annotations)
        return [s.id for s in self.silences if s.mutes(labels, at)]

    def inhibited(self, alert: Alert) -> bool:
        firing = [a for a in self.alerts.values() if not a.resolved]
        target = match_labels(alert.labels, alert.annotations)
        for source_m, target_m, equal in self._inhibit:
            if not m.all_match(target_m, target):
                continue
            for source_alert in firing:
                source = match_labels(source_alert.labels, source_alert.annotations)
                if source_alert.fingerprint == alert.fingerprint or not m.all_match(source_m, source):
                    continue
                if all(source.get(k, "") == target.get(k, "") for k in equal):
                    return True
        return False

    def muted(self, alert: Alert, at: datetime) -> bool:
        return bool(self.silenced_by(alert, at)) or self.inhibited(alert)

    # -- output --------------------------------------------------------------------------
    def _wall_resend_due(self, group: _Group, wall: datetime) -> bool:
        return (group.match.receiver in self.resend_each_interval and group.last_notified_wall is not None
                and (wall - group.last_notified_wall).total_seconds() >= group.match.group_interval)

    def tick(self, at: datetime, wall: datetime | None = None) -> list[Notification]:
        """Notifications due at event time `at` (and wall time `wall`, default `at`), in group-key
        order; advances the groups' clocks."""
        wall = wall or at
        out: list[Notification] = []
        for key in sorted(self.groups):
            group = self.groups[key]
            if at < group.next_flush and not self._wall_resend_due(group, wall):
                continue
            note = self._flush(key, group, at, wall)
            if note is not None:
                out.append(note)
            if at >= group.next_flush:
                # A wall-clock re-send in between keeps the event-time schedule: alerts that
                # join the group meanwhile still go out at the flush already due.
                group.next_flush = at + timedelta(seconds=group.match.group_interval)
            # Resolved alerts leave the group once they have been told (or need not be).
            group.alerts = {fp: a for fp, a in group.alerts.items() if not a.resolved}
            group.notified_firing = group.notified_firing & frozenset(group.alerts)
            if not group.alerts:
                del self.groups[key]
        live = self.pending_fingerprints()
        self.alerts = {fp: a for fp, a in self.alerts.items() if fp in live or not a.resolved}
        return out

    def _flush(self, key: str, group: _Group, at: datetime, wall: datetime) -> Notification | None:
        firing = [a for a in group.alerts.values() if not a.resolved and not self.muted(a, at)]
        resolved = [a for fp, a in group.alerts.items() if a.resolved and fp in group.notified_firing]
        firing_fps = frozenset(a.fingerprint for a in firing)
        send_resolved = self.send_resolved.get(group.match.receiver, True)
        changed = bool(firing_fps - group.notified_firing) or (bool(resolved) and send_resolved)
        if group.match.receiver in self.resend_each_interval:
            repeat = bool(firing) and self._wall_resend_due(group, wall)
        else:
            repeat = (bool(firing) and group.last_notified is not None
                      and (at - group.last_notified).total_seconds() >= group.match.repeat_interval)
        if not (changed or repeat):
            return None
        if not firing and not send_resolved:
            return None
        group.notified_firing = firing_fps
        group.last_notified = at
        group.last_notified_wall = wall
        by_start = lambda a: (a.starts_at, a.fingerprint)  # noqa: E731
        return Notification(group.match.receiver, key, dict(group.labels), tuple(sorted(firing, key=by_start)),
                            tuple(sorted(resolved, key=by_start)) if send_resolved else (), at,
                            group.match.group_interval)

    def process(self, alerts: Iterable[Alert], at: datetime, wall: datetime | None = None) -> list[Notification]:
        self.ingest(alerts, at)
        return self.tick(at, wall)

    def delivery_failed(self, receiver: str, at: datetime, error: str) -> None:
        """The router cannot deliver: raise an alert about itself, routed away from `receiver`."""
        alert = Alert(
            name=DELIVERY_ALERT, severity="page",
            labels={"alertname": DELIVERY_ALERT, "severity": "page", "failing_receiver": receiver,
                    "scope": "router"},
            summary=f"alert router cannot deliver to receiver {receiver}: {error[:200]}",
            runbook_url="/runbooks/router-delivery-failure", starts_at=at,
        )
        self.ingest([alert], at, exclude_receivers=[receiver])

    def delivery_ok(self, receiver: str, at: datetime) -> None:
        for alert in list(self.alerts.values()):
            if (alert.name == DELIVERY_ALERT and alert.labels.get("failing_receiver") == receiver
                    and not alert.resolved):
                self.ingest([alert.resolve(at)], at, exclude_receivers=[receiver])

    def firing_alerts(self) -> list[Alert]:
        return [a for a in self.alerts.values() if not a.resolved]

    def pending_fingerprints(self) -> set[str]:
        """Alerts some group still holds: firing, or resolved and not yet notified."""
        return {fp for g in self.groups.values() for fp in g.alerts}
