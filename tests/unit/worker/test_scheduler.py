"""The scheduler: cron schedules become triggers, an overrun slot is skipped not stacked, SIGTERM drains."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from rich.console import Console
from sqlmodel import Session, select
from structlog.testing import capture_logs

from state.tables import RunRecord
from worker.app import App
from worker.cron import crontab_weekdays
from worker.locks import JobLock
from worker.runner import ExitCode, Outcome
from worker.scheduler import Scheduler, build_triggers, fire_key, scheduled_time, serve
from worker.settings import ConfigError
from worker.shards import ShardBody, ShardTask

from .conftest import settings


def console() -> tuple[Console, StringIO]:
    out = StringIO()
    return Console(file=out, width=200), out


def fire_times(trigger: CronTrigger, start: datetime, n: int) -> list[datetime]:
    out: list[datetime] = []
    prev = None
    now = start
    for _ in range(n):
        t = trigger.get_next_fire_time(prev, now)
        assert t is not None
        out.append(t)
        prev, now = t, t + timedelta(microseconds=1)
    return out


def test_each_enabled_scheduled_job_gets_a_cron_trigger() -> None:
    s = settings(
        "sqlite://",
        scheduler={"timezone": "America/Denver"},
        jobs={
            "pull": {"schedule": "*/15 * * * *"},
            "account_health": {"schedule": "5 6 * * 1-5"},
            "qbr": {"schedule": "0 7 1 * *", "enabled": False},
            "renewals": {},
        },
    )
    triggers = build_triggers(s)
    assert sorted(triggers) == ["account_health", "pull"]
    start = datetime(2026, 3, 6, 14, 7, tzinfo=UTC)  # a Friday, 07:07 in Denver
    pull = fire_times(triggers["pull"], start, 3)  # type: ignore[arg-type]
    assert [t.astimezone(UTC).strftime("%H:%M") for t in pull] == ["14:15", "14:30", "14:45"]
    health = fire_times(triggers["account_health"], start, 2)  # type: ignore[arg-type]
    # weekdays at 06:05 local: next Monday, then Tuesday (DST starts on Sunday 8 March)
    assert [t.isoformat() for t in health] == ["2026-03-09T06:05:00-06:00", "2026-03-10T06:05:00-06:00"]


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("*", "*"),
        ("1-5", "mon,tue,wed,thu,fri"),  # APScheduler 3 alone would read this as Tuesday to Saturday
        ("0", "sun"),
        ("7", "sun"),
        ("5-7", "sun,fri,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("1-5/2", "mon,wed,fri"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("sat,sun", "sun,sat"),
        ("3/2", "wed,fri"),
    ],
)
def test_weekdays_keep_their_crontab_meaning(field: str, days: str) -> None:
    assert crontab_weekdays(field) == days


@pytest.mark.parametrize("field", ["8", "fri-mon", "x", "1/0"])
def test_bad_weekdays_are_refused(field: str) -> None:
    with pytest.raises(ValueError):
        crontab_weekdays(field)


def test_every_bad_schedule_is_reported_at_once() -> None:
    s = settings(
        "sqlite://",
        jobs={
            "pull": {"schedule": "every 5 minutes"},
            "qbr": {"schedule": "0 25 * * *"},
            "renewals": {"schedule": "0 6 * * *"},
        },
    )
    with pytest.raises(ConfigError) as info:
        build_triggers(s)
    problems = info.value.problems
    assert len(problems) == 2
    assert problems[0].startswith('jobs.pull.schedule: "every 5 minutes" is not a cron expression')
    assert problems[1].startswith('jobs.qbr.schedule: "0 25 * * *" is not a cron expression')


def test_a_bad_timezone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="scheduler.timezone"):
        build_triggers(settings("sqlite://", scheduler={"timezone": "Mars/Olympus"}))


def test_scheduled_time_is_the_same_on_every_replica() -> None:
    trigger = CronTrigger.from_crontab("*/15 * * * *", timezone="UTC")
    slot = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    lookback = timedelta(minutes=6)
    # replicas fire a few ms to a few s late, and one is late by a coalesced misfire
    for late in (0.001, 0.4, 3.0, 299.0):
        assert scheduled_time(trigger, slot + timedelta(seconds=late), lookback) == slot
    assert fire_key(slot) == "2026-03-02T09:15:00Z"


def test_serve_refuses_a_config_with_nothing_scheduled(make_app: Callable[..., App]) -> None:
    app = make_app(jobs={"pull": {"schedule": ""}})
    c, out = console()
    assert serve(app, c, install_signals=False) == ExitCode.CONFIG
    assert "No job is scheduled" in out.getvalue()


def test_serve_reports_a_bad_schedule(make_app: Callable[..., App]) -> None:
    app = make_app(jobs={"pull": {"schedule": "61 * * * *"}})
    c, out = console()
    assert serve(app, c, install_signals=False) == ExitCode.CONFIG
    assert 'jobs.pull.schedule: "61 * * * *"' in out.getvalue()


class BlockingBody:
    """A job body that blocks until released, counting how many run at once."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.running = 0
        self.most_at_once = 0
        self.runs = 0
        self.finished = 0
        self._lock = threading.Lock()

    def __call__(self, job: str) -> ShardBody:
        def body(task: ShardTask) -> Outcome:
            with self._lock:
                self.running += 1
                self.runs += 1
                self.most_at_once = max(self.most_at_once, self.running)
            self.started.set()
            self.release.wait(10)
            with self._lock:
                self.running -= 1
                self.finished += 1
            return Outcome(counts={"stores": "all" if task.stores is None else len(task.stores)})

        return body


def runs(app: App) -> list[RunRecord]:
    with Session(app.engine) as s:
        return list(s.exec(select(RunRecord)).all())


def test_an_overrunning_job_skips_its_next_slots_instead_of_stacking(make_app: Callable[..., App]) -> None:
    app = make_app()
    body = BlockingBody()
    sched = Scheduler(app, body, triggers={"pull": IntervalTrigger(seconds=0.2)})
    with capture_logs() as logs:
        sched.start()
        try:
            assert body.started.wait(5)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and sum(e["event"] == "job_skipped_overrun" for e in logs) < 2:
                time.sleep(0.05)
            assert body.runs == 1  # slots came and went while the first run was still going
            body.release.set()
        finally:
            sched.shutdown()
    skipped = [e for e in logs if e["event"] == "job_skipped_overrun" and e["job"] == "pull"]
    assert len(skipped) >= 2
    assert all(e["log_level"] == "warning" for e in skipped)
    assert body.most_at_once == 1
    assert sched.counters.skipped.labels("pull", "overrun")._value.get() == len(skipped)


def test_a_run_already_holding_the_lock_makes_the_firing_skip(make_app: Callable[..., App]) -> None:
    app = make_app()
    JobLock(app.engine, "pull", timedelta(hours=1), app.clock, owner="cron:1:manual").acquire()
    body = BlockingBody()
    body.release.set()
    sched = Scheduler(app, body, triggers={"pull": IntervalTrigger(seconds=10)})
    with capture_logs() as logs:
        sched.fire("pull")
    assert body.runs == 0
    mine = [e["event"] for e in logs if e["event"].startswith("job_") and e.get("job") == "pull"]
    assert mine == ["job_fired", "job_busy", "job_skipped_busy"]
    assert runs(app) == []


def test_sigterm_lets_the_current_run_finish_records_it_and_exits_0(make_app: Callable[..., App]) -> None:
    app = make_app()
    body = BlockingBody()
    stop = threading.Event()
    sched = Scheduler(app, body, stop=stop, triggers={"pull": IntervalTrigger(seconds=0.2)})

    def operator() -> None:
        assert body.started.wait(5)
        os.kill(os.getpid(), signal.SIGTERM)  # what `docker stop` / Kubernetes send
        assert stop.wait(5)
        time.sleep(0.3)  # the run is still going after the signal...
        body.release.set()  # ...and finishes its batch

    t = threading.Thread(target=operator)
    t.start()
    before = signal.getsignal(signal.SIGTERM)
    c, out = console()
    code = serve(app, c, scheduler=sched, install_signals=True)
    t.join(5)
    assert code == ExitCode.OK
    assert body.finished == 1 and body.runs == 1  # finished, and nothing new started after SIGTERM
    (run,) = runs(app)
    assert run.status == "ok" and run.exit_code == 0 and run.finished_at is not None
    assert run.counts == {"stores": "all"}  # SQLite: one process runs the whole job
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored
    assert "scheduler stopped" in out.getvalue()


def test_an_injected_stop_drains_the_same_way(make_app: Callable[..., App]) -> None:
    app = make_app()
    body = BlockingBody()
    stop = threading.Event()
    sched = Scheduler(app, body, stop=stop, triggers={"pull": IntervalTrigger(seconds=0.2)})
    done: list[ExitCode] = []
    t = threading.Thread(
        target=lambda: done.append(serve(app, console()[0], scheduler=sched, install_signals=False))
    )
    t.start()
    assert body.started.wait(5)
    stop.set()
    time.sleep(0.3)
    assert t.is_alive()  # still waiting for the run
    body.release.set()
    t.join(5)
    assert done == [ExitCode.OK]
    assert [r.status for r in runs(app)] == ["ok"]


def test_a_taken_metrics_port_is_a_clear_config_error(make_app: Callable[..., App]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = make_app(metrics={"port": port, "host": "127.0.0.1"})
        sched = Scheduler(app, BlockingBody(), triggers={"pull": IntervalTrigger(seconds=60)})
        c, out = console()
        assert serve(app, c, scheduler=sched, install_signals=False) == ExitCode.CONFIG
    assert f"metrics.port: cannot serve metrics on 127.0.0.1:{port}" in out.getvalue()
