"""The alert router as a service: dispatcher state + silences from the database + delivery.

The SLO evaluator (and drift) call `process(alerts, at)` with what changed, or `tick(at)`
each cycle so that group_interval / repeat_interval notifications go out; the evaluator
leader is the only process that routes, so notifications are not doubled across replicas.

`at` is event time (the watermark in replays); the router also reads the wall clock
(`wall_clock`, injectable for tests) because an Alertmanager judges alert times on its own
wall clock: see `payloads.alertmanager_v2`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from asrwatch.settings import Settings
from slo.alert import Alert
from slo.router import store
from slo.router.config import RouterConfig, load_router_config, relative_link_receivers
from slo.router.delivery import DeliveryResult, post_with_retry, request_for
from slo.router.dispatcher import Dispatcher, Notification
from slo.router.payloads import wall_start
from slo.router.routing import owner_for

log = logging.getLogger("asrwatch.router")


def _wall_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Delivery:
    notification: Notification
    result: DeliveryResult


class AlertRouter:
    def __init__(self, engine: Engine, config: RouterConfig, *, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep, external_url: str | None = "",
                 wall_clock: Callable[[], datetime] = _wall_now) -> None:
        self.engine = engine
        self.config = config
        self.dispatcher = Dispatcher(config)
        self.client = client or httpx.Client()
        self.sleep = sleep
        self.external_url = external_url or ""
        self.wall_clock = wall_clock
        self._by_source: dict[str, set[str]] = {}
        # Wall-clock start of each firing episode as first sent, so an Alertmanager sees one
        # stable startsAt across re-sends whatever event time does meanwhile.
        self._wall_starts: dict[str, datetime] = {}

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings | Mapping[str, Any], **kwargs: Any) -> "AlertRouter":
        """The router for `settings`: links made absolute on its `external_url`. Receivers that
        would get relative runbook links are named in one startup warning (not refused: loopback
        and demo setups send to local receivers where a relative link costs nothing)."""
        config = load_router_config(settings)  # `settings`: a Settings, or a plain dict in tests
        external_url = (settings.get("external_url") if isinstance(settings, Mapping) else settings.external_url) or ""
        kwargs.setdefault("external_url", external_url)
        names = relative_link_receivers(config, external_url)
        if names:
            log.warning("receivers %s get relative runbook links (/runbooks/...) that their readers "
                        "cannot open: set `external_url` (env ASRWATCH_EXTERNAL_URL) to the address "
                        "people reach asrwatch at, e.g. https://asrwatch.example.com", ", ".join(names))
        return cls(engine, config, **kwargs)

    def process(self, alerts: Iterable[Alert], at: datetime) -> list[Delivery]:
        if at.tzinfo is None:
            raise ValueError("at: must be timezone-aware UTC")
        wall = self.wall_clock()
        self.dispatcher.set_silences(store.active_silences(self.engine, at))
        self.dispatcher.ingest(alerts, at)
        deliveries = [self._deliver(note, wall) for note in self.dispatcher.tick(at, wall)]
        # An episode's start is forgotten only once no group holds the alert: a resolution still
        # waiting for its group's next flush must go out with the startsAt first sent.
        pending = self.dispatcher.pending_fingerprints()
        self._wall_starts = {fp: t for fp, t in self._wall_starts.items() if fp in pending}
        return deliveries

    def tick(self, at: datetime) -> list[Delivery]:
        return self.process([], at)

    def sync(self, source: str, firing: Iterable[Alert], at: datetime, resolved: Iterable[Alert] = ()
             ) -> list[Delivery]:
        """`firing` is everything `source` (e.g. "slo", "drift") has firing at `at`: an alert
        of that source that is no longer in it resolves at `at`, even if the pass that saw it
        stop ran elsewhere (another replica won the evaluator's lock for that pass)."""
        current = {a.fingerprint: a for a in firing}
        gone = {a.fingerprint: (a if a.resolved else a.resolve(at)) for a in resolved}
        for fp in self._by_source.get(source, set()) - set(current):
            known = self.dispatcher.alerts.get(fp)
            if fp not in gone and known is not None and not known.resolved:
                gone[fp] = known.resolve(at)
        self._by_source[source] = set(current)
        return self.process(list(current.values()) + [a for fp, a in gone.items() if fp not in current], at)

    def on_transitions(self, firing: Iterable[Alert], resolved: Iterable[Alert], at: datetime | None = None
                       ) -> list[Delivery]:
        """The SLO evaluator's hook: every alert firing now, and those resolved in this pass."""
        firing, resolved = list(firing), list(resolved)
        if at is None:
            times = [a.ends_at for a in resolved if a.ends_at] + [a.starts_at for a in firing]
            at = max(times) if times else datetime.now(timezone.utc)
        return self.sync("slo", firing, at, resolved)

    def _deliver(self, note: Notification, wall: datetime) -> Delivery:
        receiver = self.config.receiver(note.receiver)
        starts = {a.fingerprint: self._wall_starts.setdefault(a.fingerprint, wall_start(a, note.at, wall))
                  for a in note.alerts}
        url, body = request_for(note, receiver, external_url=self.external_url, wall_now=wall, wall_starts=starts)
        result = DeliveryResult(True, 0, None, None)
        if receiver.kind == "ticket":
            first = note.alerts[0]
            owner = owner_for(first.labels, self.config.owners)
            store.upsert_ticket(self.engine, note, receiver.name, first.labels.get("team")
                                or first.annotations.get("team") or (owner.team if owner else ""),
                                external_url=self.external_url)
        if url:
            result = post_with_retry(self.client, url, body, receiver, sleep=self.sleep)
        store.log_delivery(self.engine, note, receiver.name, receiver.kind, delivered=result.delivered,
                           attempts=result.attempts, http_status=result.http_status, error=result.error)
        if result.delivered:
            self.dispatcher.delivery_ok(receiver.name, note.at)
        else:
            self.dispatcher.delivery_failed(receiver.name, note.at, result.error or "unknown error")
        return Delivery(note, result)

    def close(self) -> None:
        self.client.close()
