"""Job locks: a second run is refused with BUSY; a dead holder's lock expires and is taken over."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from state import leases
from state.tables import RunRecord
from tests.doubles import FakeClock
from tests.unit.worker.conftest import MARCH
from worker.app import App
from worker.locks import Busy, Heartbeat, JobLock, run_exclusive
from worker.runner import ExitCode, Outcome

TTL = timedelta(seconds=60)


def test_second_acquirer_is_busy_and_told_who_holds_it(make_app: Callable[..., App]) -> None:
    clock = FakeClock(MARCH)
    app = make_app(clock)
    first = JobLock(app.engine, "pull", TTL, clock, owner="host-a:10:aaaa")
    first.acquire()
    second = JobLock(app.engine, "pull", TTL, clock, owner="host-b:20:bbbb")
    with pytest.raises(Busy) as info:
        second.acquire()
    assert "pull is already running" in str(info.value)
    assert "host-a:10:aaaa" in str(info.value)
    assert info.value.holder is not None and info.value.holder.owner == "host-a:10:aaaa"


def test_other_jobs_are_not_blocked(make_app: Callable[..., App]) -> None:
    clock = FakeClock(MARCH)
    app = make_app(clock)
    JobLock(app.engine, "pull", TTL, clock).acquire()
    JobLock(app.engine, "account_health", TTL, clock).acquire()  # no Busy


def test_released_lock_is_free_again(make_app: Callable[..., App]) -> None:
    clock = FakeClock(MARCH)
    app = make_app(clock)
    first = JobLock(app.engine, "pull", TTL, clock)
    with first.held():
        pass
    JobLock(app.engine, "pull", TTL, clock).acquire()


def test_expired_lock_is_taken_over_and_the_dead_run_marked_lost(make_app: Callable[..., App]) -> None:
    clock = FakeClock(MARCH)
    app = make_app(clock)
    dead = JobLock(app.engine, "pull", TTL, clock, owner="host-a:10:aaaa")
    dead.acquire()
    with Session(app.engine) as s:
        s.add(RunRecord(id="run-dead", job="pull", started_at=clock()))
        s.commit()
    dead.bind_run("run-dead")  # then the process is killed: no heartbeat, no release

    clock.advance(59)
    with pytest.raises(Busy):
        JobLock(app.engine, "pull", TTL, clock).acquire()

    clock.advance(2)
    heir = JobLock(app.engine, "pull", TTL, clock, owner="host-b:20:bbbb")
    heir.acquire()
    holder = leases.read_lock(app.engine, "pull")
    assert holder is not None and holder.owner == "host-b:20:bbbb"
    with Session(app.engine) as s:
        lost = s.get(RunRecord, "run-dead")
        assert lost is not None
        assert lost.status == "failed"
        assert lost.error.startswith("lost: host-a:10:aaaa stopped renewing")
    assert not dead.renew()  # the old holder, were it only paused, learns it lost the lock


def test_heartbeat_keeps_a_long_run_locked_past_its_ttl(make_app: Callable[..., App]) -> None:
    clock = FakeClock(MARCH)
    app = make_app(clock)
    lock = JobLock(app.engine, "pull", TTL, clock)
    lock.acquire()
    for _ in range(5):  # 5 minutes of renewals, each before the TTL runs out
        clock.advance(30)
        assert lock.renew()
    with pytest.raises(Busy):
        JobLock(app.engine, "pull", TTL, clock).acquire()


def test_heartbeat_thread_renews_and_reports_a_lost_lease() -> None:
    calls: list[int] = []
    answers = iter([True, True, False])

    def renew() -> bool:
        calls.append(1)
        return next(answers)

    with Heartbeat(renew, 0.01, "test") as beat:
        assert beat.lost.wait(2)
    assert len(calls) == 3


def test_heartbeat_survives_a_database_blip() -> None:
    answers = iter([RuntimeError("connection reset"), True, False])

    def renew() -> bool:
        a = next(answers)
        if isinstance(a, Exception):
            raise a
        return a

    with Heartbeat(renew, 0.01, "test") as beat:
        assert beat.lost.wait(2)


def test_run_exclusive_refuses_an_overlapping_run(make_app: Callable[..., App]) -> None:
    app = make_app()
    inside, release = threading.Event(), threading.Event()

    def slow(_run_id: str) -> Outcome:
        inside.set()
        release.wait(5)
        return Outcome(counts={"n": 1})

    results: list[object] = []
    t = threading.Thread(target=lambda: results.append(run_exclusive(app, "pull", slow)))
    t.start()
    assert inside.wait(5)
    with pytest.raises(Busy):
        run_exclusive(app, "pull", lambda _r: Outcome())
    holder = leases.read_lock(app.engine, "pull")
    assert holder is not None and holder.run_id  # the lock names the run holding it
    release.set()
    t.join(5)
    (result,) = results
    assert getattr(result, "exit_code", None) == ExitCode.OK
    assert leases.read_lock(app.engine, "pull") is None  # released after the run
    # and now the next run goes ahead
    assert run_exclusive(app, "pull", lambda _r: Outcome()).exit_code == ExitCode.OK
    with Session(app.engine) as s:
        assert len(s.exec(select(RunRecord)).all()) == 2  # the refused attempt recorded no run


def test_run_exclusive_releases_the_lock_when_the_body_fails(make_app: Callable[..., App]) -> None:
    app = make_app()

    def broken(_run_id: str) -> Outcome:
        raise RuntimeError("boom")

    assert run_exclusive(app, "pull", broken).exit_code == ExitCode.PARTIAL
    assert leases.read_lock(app.engine, "pull") is None


def test_heartbeat_interval_renews_before_expiry(make_app: Callable[..., App]) -> None:
    app = make_app()
    lock = JobLock(app.engine, "pull", timedelta(seconds=0.3), app.clock)
    with lock.held():
        time.sleep(0.7)  # more than twice the TTL: only the heartbeat keeps it
        with pytest.raises(Busy):
            JobLock(app.engine, "pull", timedelta(seconds=0.3), app.clock).acquire()
