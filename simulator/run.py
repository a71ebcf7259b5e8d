"""The simulator's Python API: generate a fleet's traffic and post it to a collector.

`simulate(...)` runs as fast as the collector takes it (event time runs ahead of the wall
clock), or with `speed=S` paces itself so that S event-time seconds pass per wall second
(the demo's live mode; 1.0 is real time). The demo calls it in a thread and sets `stop`.
`after_minute` is called once each simulated minute is stored (the demo's lockstep replay runs
the collector's jobs there, at the same event minutes on any machine).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from simulator.fleet import FleetConfig
from simulator.generate import generate
from simulator.post import FleetPoster, PostStats
from simulator.scenarios import ScenarioSet, ScenarioTruth, activate
from simulator.traffic_router import RouterState, load_router_state


@dataclass
class SimulationReport:
    start: datetime
    end: datetime
    minutes: int
    wall_s: float
    stats: PostStats
    truths: list[ScenarioTruth] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def sessions_per_s(self) -> float:
        return (self.stats.sessions + self.stats.traced) / self.wall_s if self.wall_s > 0 else 0.0


def scenario_set(specs: Sequence[str] | str, start: datetime, hours: float) -> ScenarioSet:
    """'a,b@2h' or ['a', 'b@2h'] -> the scenarios on one timeline."""
    if isinstance(specs, str):
        specs = [s for s in specs.split(",") if s.strip()]
    if not specs:
        raise ValueError("scenario: name at least one scenario (see `asrwatch simulate --list`)")
    return ScenarioSet([activate(spec, start, hours) for spec in specs])


def default_start(hours: float, speed: float | None, now: datetime) -> datetime:
    """Live runs start now; fast runs end now (so the data is recent)."""
    at = now if speed else now - timedelta(hours=hours)
    return at.astimezone(timezone.utc).replace(second=0, microsecond=0)


def simulate(
    collector_url: str,
    token: str | None = None,
    scenarios: Sequence[str] | str = ("steady",),
    *,
    start: datetime | None = None,
    hours: float = 1.0,
    rate: float = 300.0,
    seed: int = 0,
    speed: float | None = None,
    router_file: str | None = None,
    label_fraction: float = 0.05,
    otlp_fraction: float = 0.0,
    fleet: FleetConfig | None = None,
    hypotheses: bool = False,
    batch_size: int = 500,
    progress: bool = True,
    stop: threading.Event | None = None,
    max_retries: int = 6,
    backoff_s: float = 0.2,
    after_minute: Callable[[datetime], None] | None = None,
) -> SimulationReport:
    """Simulate `hours` of fleet traffic from `start` and post it to the collector.

    `after_minute(t)`, when given, is called after each simulated minute with the event time the
    traffic has reached (the end of that minute), once every session of the minute is
    acknowledged; the next minute is generated (and the router file read) only after it returns.

    Raises `collector.client.CollectorUnreachable` / `CollectorAuthError` with a message
    naming the URL or the refused token, and `simulator.post.SimulationRejected` when the
    collector rejects a whole batch.
    """
    if speed is not None and speed <= 0:
        raise ValueError(f"speed: must be > 0 (event seconds per wall second), got {speed}")
    if start is None:
        start = default_start(hours, speed, datetime.now(timezone.utc))
    if start.tzinfo is None:
        raise ValueError("start: must be timezone-aware (UTC)")
    start = start.astimezone(timezone.utc).replace(second=0, microsecond=0)
    fleet = fleet or FleetConfig(label_fraction=label_fraction)
    active = scenario_set(scenarios, start, hours)
    router = None
    if router_file:
        def router(_minute: datetime) -> RouterState:
            return load_router_state(router_file)

    minutes = max(1, round(hours * 60))
    poster = FleetPoster(collector_url, token, batch_size=batch_size, max_retries=max_retries, backoff_s=backoff_s)
    stopped = False
    wall0 = time.monotonic()
    from tqdm import tqdm

    with poster, tqdm(total=minutes, unit="min", desc="simulate", disable=not progress, leave=False) as bar:
        poster.check_reachable()
        batches = generate(active, start, hours, rate, seed, fleet=fleet, otlp_fraction=otlp_fraction,
                           router=router, hypotheses=hypotheses)
        for index, batch in enumerate(batches):
            if stop is not None and stop.is_set():
                stopped = True
                break
            if speed:
                # A minute's sessions are complete once that event minute has passed.
                due = wall0 + (index + 1) * 60.0 / speed
                if _sleep_until(due, stop):
                    stopped = True
                    break
            poster.add(batch)
            if speed or after_minute is not None:
                poster.flush()
            if after_minute is not None:
                after_minute(batch.minute + timedelta(minutes=1))
            bar.update(1)
            bar.set_postfix(sessions=poster.stats.sessions + poster.stats.traced, refresh=False)
    wall = time.monotonic() - wall0
    return SimulationReport(
        start=start,
        end=start + timedelta(minutes=minutes),
        minutes=minutes,
        wall_s=wall,
        stats=poster.stats,
        truths=active.truths(fleet),
        stopped_early=stopped,
    )


def _sleep_until(due: float, stop: threading.Event | None) -> bool:
    """Sleep until the monotonic time `due`; True if `stop` was set meanwhile."""
    remaining = due - time.monotonic()
    if remaining <= 0:
        return bool(stop and stop.is_set())
    if stop is not None:
        return stop.wait(remaining)
    time.sleep(remaining)
    return False
