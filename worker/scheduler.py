"""`csm-sync run`: every enabled job on its cron schedule, one run per firing across all replicas."""

from __future__ import annotations

import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from prometheus_client import CollectorRegistry
from rich.console import Console

from worker import metrics
from worker.app import App
from worker.cron import cron_trigger, schedule_problem, zone_problem
from worker.locks import Busy, owner_id, run_exclusive
from worker.runner import ExitCode, Outcome
from worker.settings import ConfigError, Settings
from worker.shards import Firing, FiringResult, ShardBody, ShardOptions, ShardTask, shard_options

log = structlog.get_logger(__name__)

# Which body runs a job: (job name) -> the shard body (all stores when not sharded).
BodyFor = Callable[[str], ShardBody]


def build_triggers(settings: Settings) -> dict[str, BaseTrigger]:
    """One cron trigger per enabled job with a schedule; every bad schedule reported at once."""
    tz = settings.scheduler.timezone
    problems: list[str] = []
    if zone := zone_problem(tz):
        raise ConfigError([zone])
    triggers: dict[str, BaseTrigger] = {}
    for name, job in sorted(settings.jobs.items()):
        if not job.enabled or not job.schedule.strip():
            continue
        try:
            triggers[name] = cron_trigger(job.schedule, tz)
        except ValueError as exc:
            problems.append(schedule_problem(name, job.schedule, exc))
    if problems:
        raise ConfigError(problems)
    return triggers


def scheduled_time(trigger: BaseTrigger, now: datetime, lookback: timedelta) -> datetime:
    """The latest time `trigger` fired at or before `now`: what every replica's scheduler fired for.

    Replicas fire a few milliseconds apart, so the wall clock would not do as a key; the scheduled
    time is the same everywhere (coalesced misfires run for the latest one, as APScheduler does).
    """
    t: datetime | None = trigger.get_next_fire_time(None, now - lookback)
    last: datetime | None = None
    while t is not None and t <= now:
        last = t
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return (last or now.replace(microsecond=0)).astimezone(UTC)


def fire_key(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_body(app: App) -> BodyFor:
    """The real job bodies: `run_one` over the shard's stores, sharing the process's portfolio reads."""

    def body_for(job: str) -> ShardBody:
        from worker.commands import run_one  # noqa: PLC0415 - commands imports the scheduler lazily too

        def body(task: ShardTask) -> Outcome:
            shard = task.claim.shard if task.claim is not None else None
            return run_one(app, job, task.run_id, stores=task.stores, shard=shard, reads=app.portfolio)

        return body

    return body_for


class Scheduler:
    """APScheduler with one cron job per enabled job: coalesced, never stacked, stoppable between runs."""

    def __init__(
        self,
        app: App,
        body_for: BodyFor | None = None,
        *,
        stop: threading.Event | None = None,
        triggers: Mapping[str, BaseTrigger] | None = None,
        options: ShardOptions | None = None,
        registry: CollectorRegistry | None = None,
        owner: str | None = None,
    ) -> None:
        self.app = app
        self.body_for = body_for or default_body(app)
        self.stop = stop or threading.Event()
        self.triggers = dict(triggers) if triggers is not None else build_triggers(app.settings)
        self.options = options or shard_options(app)
        self.owner = owner or owner_id()
        # Open the state store (and migrate it) here, once, before any job thread reaches for it.
        self._sharded = app.engine.dialect.name == "postgresql"
        self.registry = registry or metrics.registry_for(app)
        self.counters = metrics.SchedulerMetrics(self.registry)
        # (job, fire key, what happened) of the latest firings, newest last; bounded for a months-long process
        self.results: deque[tuple[str, str, Any]] = deque(maxlen=100)
        sched = app.settings.scheduler
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=max(1, len(self.triggers)))},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": sched.misfire_grace_seconds,
            },
            timezone=ZoneInfo(sched.timezone),
        )
        self._scheduler.add_listener(self._on_overrun, EVENT_JOB_MAX_INSTANCES)
        self._scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self._scheduler.add_listener(self._on_error, EVENT_JOB_ERROR)
        for name, trigger in self.triggers.items():
            self._scheduler.add_job(self.fire, trigger, args=[name], id=name, name=name)

    @property
    def sharded(self) -> bool:
        """Replicas share work only through PostgreSQL; on SQLite one process runs each job whole."""
        return self._sharded

    def start(self) -> None:
        self._scheduler.start()
        for job in self._scheduler.get_jobs():
            nxt = job.next_run_time
            log.info("job_scheduled", job=job.id, next_run=nxt.isoformat() if nxt else None)

    def shutdown(self) -> None:
        """No new firings; wait for the running ones, which stop claiming shards once `stop` is set."""
        self.stop.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def fire(self, job: str) -> Any:
        """One firing of `job` (APScheduler calls this on its thread pool)."""
        if self.stop.is_set():
            return None
        lookback = timedelta(seconds=self.app.settings.scheduler.misfire_grace_seconds + 60)
        key = fire_key(scheduled_time(self.triggers[job], self.app.clock(), lookback))
        log.info("job_fired", job=job, fire_key=key, sharded=self.sharded)
        try:
            result = self._fire_sharded(job, key) if self.sharded else self._fire_whole(job)
        except Exception as exc:  # one bad firing must not take the scheduler down
            log.error("job_fire_failed", job=job, fire_key=key, error=f"{type(exc).__name__}: {exc}")
            result = exc
        self.results.append((job, key, result))
        return result

    def _fire_whole(self, job: str) -> Any:
        body = self.body_for(job)
        try:
            result = run_exclusive(
                self.app, job, lambda run_id: body(ShardTask(run_id, None)), owner=self.owner
            )
        except Busy as exc:
            log.warning("job_skipped_busy", job=job, reason=str(exc))
            self.counters.skipped.labels(job, "busy").inc()
            return exc
        self.counters.firings.labels(job, "owner").inc()
        return result

    def _fire_sharded(self, job: str, key: str) -> FiringResult:
        firing = Firing(
            self.app, job, key, self.body_for(job), options=self.options, stop=self.stop, owner=self.owner
        )
        result = firing.run()
        if result.role == "skipped":
            self.counters.skipped.labels(job, "busy").inc()
        else:
            self.counters.firings.labels(job, result.role).inc()
        log.info("job_firing_left", job=job, fire_key=key, role=result.role, shards=result.shards_run)
        return result

    def _on_overrun(self, event: JobSubmissionEvent) -> None:
        # The previous run is still going: this slot is skipped, not queued behind it.
        times = [t.isoformat() for t in getattr(event, "scheduled_run_times", [])]
        log.warning("job_skipped_overrun", job=event.job_id, scheduled=times)
        self.counters.skipped.labels(event.job_id, "overrun").inc()

    def _on_missed(self, event: JobExecutionEvent) -> None:
        log.warning("job_missed", job=event.job_id, scheduled=event.scheduled_run_time.isoformat())
        self.counters.skipped.labels(event.job_id, "missed").inc()

    def _on_error(self, event: JobExecutionEvent) -> None:
        log.error("job_fire_failed", job=event.job_id, error=repr(event.exception))


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop` (no new runs; the current one finishes); handlers restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def serve(
    app: App,
    console: Console,
    *,
    stop: threading.Event | None = None,
    scheduler: Scheduler | None = None,
    install_signals: bool = True,
) -> ExitCode:
    """Run the scheduler until SIGTERM/SIGINT (or `stop`), then let running jobs finish and exit 0."""
    stop = stop or (scheduler.stop if scheduler else threading.Event())
    try:
        sched = scheduler or Scheduler(app, stop=stop)
    except ConfigError as exc:
        for problem in exc.problems:
            console.print(problem, markup=False, highlight=False)
        return ExitCode.CONFIG
    if not sched.triggers:
        console.print(
            "No job is scheduled: give at least one enabled job a schedule, e.g. "
            '[jobs.pull] schedule = "*/30 * * * *"',
            markup=False,
        )
        return ExitCode.CONFIG
    sched.stop = stop
    try:
        stop_metrics = metrics.serve_http(app, sched.registry)
    except OSError as exc:
        m = app.settings.metrics
        console.print(f"metrics.port: cannot serve metrics on {m.host}:{m.port}: {exc}", markup=False)
        return ExitCode.CONFIG
    mode = "sharded across replicas (PostgreSQL)" if sched.sharded else "single process (SQLite)"
    try:
        with stop_on_signals(stop) if install_signals else nullcontext():
            sched.start()
            for name, trigger in sched.triggers.items():
                console.print(f"scheduled {name}: {app.settings.job(name).schedule or trigger}", markup=False)
            console.print(f"csm-sync scheduler running, {mode}; SIGTERM stops it after the current runs")
            log.info(
                "scheduler_started", jobs=sorted(sched.triggers), sharded=sched.sharded, owner=sched.owner
            )
            while not stop.wait(0.5):
                pass
            log.info("scheduler_stopping")
            sched.shutdown()
    finally:
        if stop_metrics is not None:
            stop_metrics()
    log.info("scheduler_stopped")
    console.print("csm-sync scheduler stopped", markup=False)
    return ExitCode.OK
