"""Every background job of the collector, run the same way: an interval, an optional leader
lock, the clock the job judges by, errors logged (a failed pass never stops the job), and a
clean shutdown that hands the lock over at once.

A job's `step` is synchronous (it reads and writes the database) and runs in a worker thread,
so the event loop keeps serving requests while a pass runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
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
