"""Which alerts were firing at `at`, once the evaluator has recorded episodes.

The engine recomputes an alert's conditions at any `at` from the rollups, but the evaluator saw
the data as it arrived: in a replay or after late data, the recomputed run of firing minutes can
start later (a one-minute dip splits it) or not cover `at` at all, although on-call was paged at
the recorded `starts_at` and the episode stayed open until its recorded `resolved_at`. An answer
about the past must not rewrite what was notified, so a recorded episode is authoritative over
the span it covers: from its `starts_at` to its `resolved_at` (or, while still open, to the last
pass that judged it, `last_evaluated_at`). Past that span the engine decides whether an alert
fires, and an open episode only lends it its `starts_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from slo.alert import Alert


@dataclass(frozen=True)
class Episode:
    """One recorded firing episode (a `slo_alert_state` row) as the API reads it."""

    alert: Alert  # as recorded: labels, summary, runbook and annotations of its last firing pass
    starts_at: datetime
    resolved_at: datetime | None
    last_evaluated_at: datetime
    routed_to: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        return self.alert.fingerprint

    def covers(self, at: datetime) -> bool:
        """Whether the evaluator judged this episode firing at `at`."""
        if at < self.starts_at:
            return False
        if self.resolved_at is not None:
            return at < self.resolved_at
        return at <= self.last_evaluated_at

    def open_at(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.resolved_at is None or at < self.resolved_at)


def alerts_as_of(computed: list[Alert], episodes: list[Episode], at: datetime) -> list[Alert]:
    """The alerts firing at `at`: every recorded episode that covers `at` (with the engine's
    current details when it still computes the alert, else as recorded), then the engine's other
    alerts, each with the `starts_at` of the open episode it continues, if any."""
    covering: dict[str, Episode] = {}
    open_: dict[str, Episode] = {}
    for episode in episodes:
        fp = episode.fingerprint
        if episode.covers(at) and (fp not in covering or episode.starts_at > covering[fp].starts_at):
            covering[fp] = episode
        if episode.open_at(at) and (fp not in open_ or episode.starts_at > open_[fp].starts_at):
            open_[fp] = episode
    by_fp = {a.fingerprint: a for a in computed}
    out: list[Alert] = []
    for fp, episode in covering.items():
        current = by_fp.pop(fp, None)
        base = current if current is not None else episode.alert
        out.append(replace(base, starts_at=episode.starts_at, ends_at=None))
    for fp, alert in by_fp.items():
        episode = open_.get(fp)
        out.append(replace(alert, starts_at=episode.starts_at) if episode is not None else alert)
    out.sort(key=lambda a: (a.starts_at, a.fingerprint))
    return out


def routed_to(episodes: list[Episode], alerts: list[Alert], at: datetime) -> dict[str, list[str]]:
    """Per alert fingerprint, the receivers its episode at `at` was routed to."""
    starts = {a.fingerprint: a.starts_at for a in alerts}
    out: dict[str, list[str]] = {}
    for episode in episodes:
        if starts.get(episode.fingerprint) == episode.starts_at and episode.open_at(at):
            out[episode.fingerprint] = list(episode.routed_to)
    return out
