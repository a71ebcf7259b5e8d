"""Every background job of the collector, run the same way: an interval, an optional leader
lock, the clock the job judges by, errors logged (a failed pass never stops the job), and a
clean shutdown that hands the lock over at once.

A job's `step` is synchronous (it reads and writes the database) and runs in a worker thread,
so the event loop keeps serving requests while a pass runs.

`Lockstep` runs the same jobs without timers, in event time, when its owner says so: a replay
that calls it after each simulated minute gets its passes at the same event minutes on any
machine, however fast the replay runs (the demo's `--lockstep`, its test).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from sqlalchemy.engine import Engine

from collector.store import LeaderLock, evaluation_time

log = logging.getLogger("asrwatch.jobs")


@dataclass(frozen=True)
class Job:
    name: str  # "<name> pass failed" is what the log says when a pass raises
    interval_s: float
    step: Callable[[datetime], object]  # one pass at `at`
    # "event": the collector's evaluation clock (`collector.store.clock`: wall or watermark);
    # "wall": wall-clock UTC (retention deletes by age on the wall clock, whatever is replayed).
    clock: Literal["event", "wall"] = "event"
    leader: LeaderLock | None = None  # only the replica holding it runs the step
    on_leadership: Callable[[bool], None] | None = None  # told each pass whether this replica leads
    # When the lock cannot be reached: "keep" what this replica last knew (the SLO evaluator:
    # a leader keeps judging through a blip), or "skip" the pass (the rollout judge acts on
    # rollouts only under a lease it has just renewed).
    on_lock_error: Literal["keep", "skip"] = "keep"
    leadership_log: str | None = None  # "<this>: this replica is now the leader" on each change
    # Seconds before the first pass (a callable runs in a thread: it may read the store).
    first_wait_s: float | Callable[[], float] = 0.0
    log: logging.Logger = log  # the part's own logger, so its lines read as they always did


def first_wait(job: Job) -> float:
    try:
        return job.first_wait_s() if callable(job.first_wait_s) else job.first_wait_s
    except Exception:
        job.log.exception("%s: cannot tell when to start; starting now", job.name)
        return 0.0


def take_lead(job: Job, was: bool) -> bool:
    """Take (or keep) the job's lock; log the changes; tell `on_leadership`."""
    assert job.leader is not None
    try:
        now = job.leader.acquire()
    except Exception:
        job.log.exception("%s: cannot reach the database to take the leader lock", job.leadership_log or job.name)
        now = job.leader.is_leader if job.on_lock_error == "keep" else False
    if now != was and job.leadership_log:
        job.log.warning("%s: this replica %s", job.leadership_log,
                        "is now the leader" if now else "is no longer the leader")
    if job.on_leadership is not None:
        job.on_leadership(now)
    return now


def run_step(job: Job, at: datetime | None) -> bool:
    """One pass; a failure is logged and the job goes on. True when the pass completed."""
    try:
        job.step(datetime.now(timezone.utc) if job.clock == "wall" else at)
        return True
    except Exception:
        job.log.exception("%s pass failed", job.name)
        return False


async def run(job: Job, engine: Engine, clock_mode: str) -> None:
    """Run `job` until cancelled."""
    wait = await asyncio.to_thread(first_wait, job)
    leading = False
    try:
        while True:
            await asyncio.sleep(wait)
            wait = job.interval_s
            if job.leader is not None:
                leading = await asyncio.to_thread(take_lead, job, leading)
                if not leading:
                    continue
            try:
                at = await asyncio.to_thread(evaluation_time, engine, clock_mode) if job.clock == "event" else None
            except Exception:
                job.log.exception("%s pass failed", job.name)
                continue
            await asyncio.to_thread(run_step, job, at)
    finally:
        if job.leader is not None:
            # A clean shutdown hands over at once; a crash does too, when the server drops the connection.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(job.leader.release)


class JobRunner:
    """Starts the jobs with the app and stops them with it."""

    def __init__(self, engine: Engine, clock_mode: str) -> None:
        self.engine, self.clock_mode = engine, clock_mode
        self.jobs: list[Job] = []
        self._tasks: list[asyncio.Task] = []

    def add(self, job: Job) -> None:
        self.jobs.append(job)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(run(job, self.engine, self.clock_mode), name=job.name) for job in self.jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []


class Lockstep:
    """Runs jobs synchronously in event time, on the caller's thread, when `advance(at)` is called.

    A job's event-time interval is its own `interval_s` (wall seconds on the timers) times
    `scale` (event seconds per wall second: the speed of a paced replay whose passes these are
    meant to be), never shorter than `min_interval_s` (the caller's step: a replay that advances
    a minute at a time cannot run a job more often). A job is due at `at` once that interval has
    elapsed since its last pass; its first pass comes `first_wait_s` (stretched alike) after
    the first `at`. Due jobs run in the order they were added, so a pass sees what the passes
    before it in the same minute wrote (the evaluator's page before the rollout judge). Leader
    locks are taken as `run` takes them; a failed pass is logged and the job keeps its cadence.
    "wall" jobs are judged at the wall clock (retention deletes by wall age) on the same cadence.
    """

    def __init__(self, *, scale: float = 1.0, min_interval_s: float = 60.0) -> None:
        self.scale, self.min_interval_s = scale, min_interval_s
        self.jobs: list[Job] = []
        self._origin: datetime | None = None
        # Per job, by its place in `jobs`: the wait before its first pass, its last pass, its leadership.
        self._first: dict[int, timedelta] = {}
        self._last: dict[int, datetime] = {}
        self._leading: dict[int, bool] = {}

    def add(self, job: Job) -> None:
        self.jobs.append(job)

    def interval(self, job: Job) -> timedelta:
        return timedelta(seconds=max(self.min_interval_s, job.interval_s * self.scale))

    def _first_wait(self, index: int) -> timedelta:
        if index not in self._first:
            self._first[index] = timedelta(seconds=first_wait(self.jobs[index]) * self.scale)
        return self._first[index]

    def _due(self, index: int, at: datetime) -> bool:
        last = self._last.get(index)
        if last is None:
            assert self._origin is not None
            return at - self._origin >= self._first_wait(index)
        return at - last >= self.interval(self.jobs[index])

    def _leads(self, index: int) -> bool:
        self._leading[index] = take_lead(self.jobs[index], self._leading.get(index, False))
        return self._leading[index]

    def advance(self, at: datetime) -> list[str]:
        """Run every job due at event time `at`, in order; the names of those that ran a pass."""
        if self._origin is None:
            self._origin = at
        ran = []
        for index, job in enumerate(self.jobs):
            if not self._due(index, at):
                continue
            self._last[index] = at  # a pass skipped (not the leader) or failed waits an interval too
            if job.leader is not None and not self._leads(index):
                continue
            if run_step(job, at):
                ran.append(job.name)
        return ran

    def close(self) -> None:
        """Hand over the leader locks at once (as `run` does on a clean shutdown)."""
        for job in self.jobs:
            if job.leader is not None:
                with contextlib.suppress(Exception):
                    job.leader.release()
