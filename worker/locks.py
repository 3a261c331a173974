"""Job locks: one run of a job at a time across processes and machines, kept alive by a heartbeat."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import structlog

from state import leases, runs
from state.engine import Engine
from state.leases import LockState
from worker.app import App
from worker.runner import Outcome, RunResult, execute

log = structlog.get_logger(__name__)


def owner_id() -> str:
    """Who holds a lease: host and pid for the operator, a random part so a reused pid never matches."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Busy(Exception):
    """Another run of the job holds its lock: this one does nothing and exits 5."""

    def __init__(self, job: str, holder: LockState | None) -> None:
        self.job, self.holder = job, holder
        if holder is None:
            detail = "its lock was taken while we asked"
        else:
            run = f", run {holder.run_id}" if holder.run_id else ""
            detail = (
                f"held by {holder.owner}{run} since {holder.acquired_at:%Y-%m-%d %H:%M:%S}Z, "
                f"expires {holder.expires_at:%Y-%m-%d %H:%M:%S}Z unless renewed"
            )
        super().__init__(f"{job} is already running ({detail}); nothing was done")


class Heartbeat:
    """Calls `renew` every `interval` seconds on a daemon thread until stopped; tells once if it failed."""

    def __init__(self, renew: Callable[[], bool], interval: float, what: str) -> None:
        self._renew, self._interval, self._what = renew, interval, what
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{what}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                held = self._renew()
            except Exception as exc:  # the database blinked: the lease lives on until its TTL, try again
                log.warning("heartbeat_failed", lease=self._what, error=f"{type(exc).__name__}: {exc}")
                continue
            if not held:
                log.error("lease_lost", lease=self._what)
                self.lost.set()
                return


def heartbeat_interval(ttl: timedelta) -> float:
    """Renew three times per TTL, so two missed beats in a row still keep the lease."""
    return max(0.05, ttl.total_seconds() / 3)


class JobLock:
    """The `job_lock` row for one job name, held by this process between `acquire` and `release`."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        ttl: timedelta,
        clock: Callable[[], datetime],
        owner: str | None = None,
    ) -> None:
        self.engine, self.name, self.ttl, self.clock = engine, name, ttl, clock
        self.owner = owner or owner_id()

    def acquire(self) -> None:
        """Take the lock or raise Busy; taking over an expired lock marks the dead holder's run as lost."""
        got = leases.acquire_lock(self.engine, self.name, self.owner, self.clock(), self.ttl)
        if not got.ok:
            log.warning("job_busy", job=self.name, holder=got.holder.owner if got.holder else None)
            raise Busy(self.name, got.holder)
        if got.previous is not None:
            log.warning(
                "lock_taken_over",
                job=self.name,
                previous_owner=got.previous.owner,
                previous_run=got.previous.run_id or None,
                expired_at=got.previous.expires_at.isoformat(),
            )
            if got.previous.run_id:
                mark_lost(self.engine, got.previous, self.clock())

    def renew(self) -> bool:
        return leases.renew_lock(self.engine, self.name, self.owner, self.clock(), self.ttl)

    def bind_run(self, run_id: str) -> None:
        leases.set_lock_run(self.engine, self.name, self.owner, run_id)

    def release(self) -> None:
        if not leases.release_lock(self.engine, self.name, self.owner):
            log.warning("lock_release_missed", job=self.name, owner=self.owner)

    def heartbeat(self) -> Heartbeat:
        return Heartbeat(self.renew, heartbeat_interval(self.ttl), f"job:{self.name}")

    @contextmanager
    def held(self) -> Iterator[JobLock]:
        """Acquire (or raise Busy), renew while the block runs, release after it."""
        self.acquire()
        try:
            with self.heartbeat():
                yield self
        finally:
            self.release()


def mark_lost(engine: Engine, previous: LockState, now: datetime) -> None:
    """A run whose process died keeps `running` in the ledger; say what happened to it instead."""
    error = (
        f"lost: {previous.owner} stopped renewing the job lock (expired "
        f"{previous.expires_at:%Y-%m-%d %H:%M:%S}Z); the outbox resumes what it left"
    )
    if not runs.mark_lost(engine, previous.run_id, now, error):
        return
    log.warning("run_marked_lost", lost_run=previous.run_id, previous_owner=previous.owner)


def lock_ttl(app: App) -> timedelta:
    return timedelta(seconds=app.settings.scheduler.lock_ttl_seconds)


def run_exclusive(
    app: App, job: str, body: Callable[[str], Outcome], *, owner: str | None = None
) -> RunResult:
    """`execute` a run while holding the job's lock; raise Busy (nothing recorded) if another run holds it."""
    lock = JobLock(app.engine, job, lock_ttl(app), app.clock, owner)

    def locked_body(run_id: str) -> Outcome:
        lock.bind_run(run_id)
        return body(run_id)

    with lock.held():
        return execute(app, job, locked_body)
