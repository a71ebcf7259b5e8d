"""The lockstep driver runs the collector's jobs in event time, as the demo's replay advances it."""

from datetime import datetime, timedelta, timezone

import pytest

from asrwatch.demo import replay_start
from asrwatch.jobs import Job, Lockstep

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


class FakeLeader:
    def __init__(self, leads: bool) -> None:
        self.leads, self.is_leader, self.released = leads, False, False

    def acquire(self) -> bool:
        self.is_leader = self.leads
        return self.leads

    def release(self) -> None:
        self.released = True


def test_jobs_pass_in_order_when_their_event_time_interval_has_elapsed():
    passes = []
    driver = Lockstep(scale=240)
    # 2 s timers at 240x: every 8 event minutes; 0.1 s would be 24 event s: held to each minute.
    driver.add(Job("evaluator", 2, lambda at: passes.append(("evaluator", at))))
    driver.add(Job("fast", 0.1, lambda at: passes.append(("fast", at))))
    driver.add(Job("cost", 2, lambda at: passes.append(("cost", at)), first_wait_s=2))
    ran = [driver.advance(minute(n)) for n in range(17)]

    assert [at for name, at in passes if name == "evaluator"] == [minute(0), minute(8), minute(16)]
    assert [at for name, at in passes if name == "fast"] == [minute(n) for n in range(17)]
    # The first wait is stretched too: 2 s -> 8 event minutes after the first minute.
    assert [at for name, at in passes if name == "cost"] == [minute(8), minute(16)]
    assert ran[8] == ["evaluator", "fast", "cost"]                 # the order they were added
    assert passes[-3:] == [("evaluator", minute(16)), ("fast", minute(16)), ("cost", minute(16))]


def test_a_job_whose_lock_another_replica_holds_skips_its_pass_and_keeps_its_cadence():
    passes, told = [], []
    follower, leader = FakeLeader(leads=False), FakeLeader(leads=True)
    driver = Lockstep()
    driver.add(Job("judge", 60, lambda at: passes.append(("judge", at)), leader=follower,
                   on_leadership=told.append))
    driver.add(Job("drift", 60, lambda at: passes.append(("drift", at)), leader=leader))
    for n in range(3):
        driver.advance(minute(n))

    assert passes == [("drift", minute(n)) for n in range(3)]
    assert told == [False, False, False]
    driver.close()
    assert follower.released and leader.released                  # handed over at once on close


def test_a_failed_pass_is_logged_and_neither_stops_the_others_nor_runs_again_early(caplog):
    calls, passes = [], []

    def fails(at):
        calls.append(at)
        raise RuntimeError("database gone")

    driver = Lockstep()
    driver.add(Job("broken", 120, fails))
    driver.add(Job("steady", 60, passes.append))
    ran = [driver.advance(minute(n)) for n in range(3)]

    assert calls == [minute(0), minute(2)]                          # every 2 event minutes, failing or not
    assert passes == [minute(0), minute(1), minute(2)]
    assert ran[0] == ["steady"]                                     # only the passes that succeeded
    assert "broken pass failed" in caplog.text


def test_a_wall_clock_job_is_judged_at_the_wall_clock_on_the_event_cadence():
    seen = []
    driver = Lockstep()
    driver.add(Job("retention", 3600, seen.append, clock="wall"))
    before = datetime.now(timezone.utc)
    driver.advance(minute(0))
    driver.advance(minute(30))

    assert len(seen) == 1 and seen[0] >= before                     # not the replayed minute


def test_the_replay_starts_hours_before_now_or_where_asked_if_its_span_has_passed():
    now = datetime(2026, 12, 6, 13, 4, 45, tzinfo=timezone.utc)
    assert replay_start(None, 5, now) == datetime(2026, 12, 6, 8, 4, tzinfo=timezone.utc)
    assert replay_start(T0 + timedelta(seconds=30), 5, now) == T0
    with pytest.raises(ValueError, match="must end by now"):
        replay_start(datetime(2026, 12, 6, 10, 0, tzinfo=timezone.utc), 5, now)  # the clock would stop at now
    with pytest.raises(ValueError, match="time zone"):
        replay_start(datetime(2026, 11, 20, 8, 0), 5, now)
