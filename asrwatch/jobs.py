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
    name: str
    interval_s: float
    step: Callable[[datetime], object]  # one pass at `at`
    # "event": the collector's evaluation clock (`collector.store.clock`: wall or watermark);
    # "wall": wall-clock UTC (retention deletes by age on the wall clock, whatever is replayed).
    clock: Literal["event", "wall"] = "event"
    leader: LeaderLock | None = None  # only the replica holding it runs the step
    on_leadership: Callable[[bool], None] | None = None  # told each pass whether this replica leads
    # Seconds before the first pass (a callable runs in a thread: it may read the store).
    first_wait_s: float | Callable[[], float] = 0.0


async def _leading(job: Job, was: bool) -> bool:
    assert job.leader is not None
    try:
        now = await asyncio.to_thread(job.leader.acquire)
    except Exception:
        log.exception("%s: cannot reach the database to take the leader lock", job.name)
        now = job.leader.is_leader
    if now != was:
        log.warning("%s: this replica %s", job.name, "is now the leader" if now else "is no longer the leader")
    return now


async def run(job: Job, engine: Engine, clock_mode: str) -> None:
    """Run `job` until cancelled."""
    try:
        wait = await asyncio.to_thread(job.first_wait_s) if callable(job.first_wait_s) else job.first_wait_s
    except Exception:
        log.exception("%s: cannot tell when to start; starting now", job.name)
        wait = 0.0
    leading = False
    try:
        while True:
            await asyncio.sleep(wait)
            wait = job.interval_s
            if job.leader is not None:
                leading = await _leading(job, leading)
                if job.on_leadership is not None:
                    job.on_leadership(leading)
                if not leading:
                    continue
            try:
                at = (datetime.now(timezone.utc) if job.clock == "wall"
                      else await asyncio.to_thread(evaluation_time, engine, clock_mode))
                await asyncio.to_thread(job.step, at)
            except Exception:
                log.exception("%s pass failed", job.name)
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
        job = self.jobs[index]
        if index not in self._first:
            try:
                wait = job.first_wait_s() if callable(job.first_wait_s) else job.first_wait_s
            except Exception:
                log.exception("%s: cannot tell when to start; starting now", job.name)
                wait = 0.0
            self._first[index] = timedelta(seconds=wait * self.scale)
        return self._first[index]

    def _due(self, index: int, at: datetime) -> bool:
        last = self._last.get(index)
        if last is None:
            assert self._origin is not None
            return at - self._origin >= self._first_wait(index)
        return at - last >= self.interval(self.jobs[index])

    def _leads(self, index: int) -> bool:
        job = self.jobs[index]
        assert job.leader is not None
        was = self._leading.get(index, False)
        try:
            now = job.leader.acquire()
        except Exception:
            log.exception("%s: cannot reach the database to take the leader lock", job.name)
            now = job.leader.is_leader
        if now != was:
            log.warning("%s: this replica %s", job.name, "is now the leader" if now else "is no longer the leader")
        self._leading[index] = now
        if job.on_leadership is not None:
            job.on_leadership(now)
        return now

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
            try:
                job.step(datetime.now(timezone.utc) if job.clock == "wall" else at)
                ran.append(job.name)
            except Exception:
                log.exception("%s pass failed", job.name)
        return ran

    def close(self) -> None:
        """Hand over the leader locks at once (as `run` does on a clean shutdown)."""
        for job in self.jobs:
            if job.leader is not None:
                with contextlib.suppress(Exception):
                    job.leader.release()
