"""Sharding across replicas: stores split by a stable hash, shards claimed under leases, one run a firing."""

from __future__ import annotations

import contextvars
import hashlib
import math
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from connectors.salesforce.client import SalesforceUnavailable
from jobs.names import PORTFOLIO_JOBS
from jobs.pull import refresh_directory
from jobs.sync import SafetyRefused
from mappings.load import MappingError
from state import leases, runs
from state import stores as store_directory
from state.engine import Engine
from state.leases import ShardClaim
from state.tables import RunRecord
from worker.app import App
from worker.locks import Busy, Heartbeat, JobLock, heartbeat_interval, lock_ttl, owner_id
from worker.runner import ExitCode, Outcome, RunResult, execute
from worker.settings import ConfigError

log = structlog.get_logger(__name__)

DEFAULT_SHARD_SIZE = 250  # stores per shard when the count is not configured
FIRING_HISTORY = timedelta(days=7)


@dataclass(frozen=True)
class ShardTask:
    """What one shard's body is given: the run it belongs to and the stores it covers."""

    run_id: str  # the firing's run, shared by its shards (a resume skips the run's own in-flight rows)
    stores: Sequence[str] | None  # None: every store (the job is not split)
    claim: ShardClaim | None = None  # the lease, for a body that commits its writes with `claim.complete`


ShardBody = Callable[[ShardTask], Outcome]


# -- assignment (pure) ----------------------------------------------------------------------------


def _left_unrecorded(rec: RunRecord) -> bool:
    """The owner finished recording the run with shards left (else it is still recording it, or
    recorded every shard already)."""
    return rec.finished_at is not None and bool(rec.counts.get("shards", {}).get("left"))


def shard_of(key: str, shards: int) -> int:
    """A stable shard number for a key: the same on every replica and every Python (no `hash()` salt)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def shard_count(stores: int, configured: int = 0, per_shard: int = DEFAULT_SHARD_SIZE) -> int:
    """`configured` shards if set, else one per `per_shard` stores; never more shards than stores."""
    wanted = configured if configured > 0 else math.ceil(stores / per_shard)
    return max(1, min(wanted, stores))


def assign(groups: Mapping[str, str], shards: int) -> list[list[str]]:
    """Split stores (store id -> group) into `shards` lists by a hash of the group, each list sorted.

    Stores of one group (an MSO's locations) land in the same shard, so a job that rolls locations up
    to their parent sees all of them in one run.
    """
    out: list[list[str]] = [[] for _ in range(max(1, shards))]
    for store, group in groups.items():
        out[shard_of(group or store, len(out))].append(store)
    return [sorted(s) for s in out]


def store_groups(engine: Engine) -> dict[str, str]:
    """The store directory as store id -> group: the MSO parent when the directory names one."""
    refs = store_directory.refs(engine)
    return {store_id: str(ref.attrs.get("parent_id") or store_id) for store_id, ref in refs.items()}


def split(job: str, groups: Mapping[str, str], configured: int = 0) -> list[list[str]]:
    """A firing's shards: the stores split by group, or all in one for a job that adds up the portfolio."""
    n = 1 if job in PORTFOLIO_JOBS else shard_count(len(groups), configured)
    return assign(groups, n)


def job_groups(app: App, job: str) -> dict[str, str]:
    """The stores a firing of `job` splits: for the pull, the directory freshly listed first.

    So the very first pull of a deployment is split too, a new store is pulled in the firing that
    first lists it, and the shards need not each list the whole directory again.
    """
    if job == "pull":
        try:
            listed = refresh_directory(app.settings.sources, app.engine, app.clock(), app.environ)
            log.info("directory_refreshed", stores=listed)
        except Exception as exc:  # the stored directory still splits the firing; the shards report errors
            log.error("directory_refresh_failed", error=f"{type(exc).__name__}: {exc}")
    return store_groups(app.engine)


# -- one firing across replicas -------------------------------------------------------------------


STATUS = {ExitCode.OK: "ok", ExitCode.PARTIAL: "partial", ExitCode.REFUSED: "refused"}  # else "failed"


@dataclass(frozen=True)
class RunSummary:
    outcome: Outcome
    code: ExitCode
    error: str


@dataclass
class FiringResult:
    """What this replica did for a firing."""

    role: str  # owner | helper | late (already finished) | skipped (busy, or nothing opened in time)
    run: RunResult | None = None  # only for the owner: the recorded run
    shards_run: list[int] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class ShardOptions:
    shards: int = 0  # 0: one per DEFAULT_SHARD_SIZE stores
    lease_ttl: timedelta = timedelta(seconds=120)
    poll_seconds: float = 1.0  # how often an idle replica looks for expired leases to take over
    open_timeout: timedelta = timedelta(seconds=60)  # how long a helper waits for the owner to open
    side_by_side: int = 1  # shards a replica runs at once (not the pull's: its sources' limits are per API)


class Firing:
    """One scheduled firing of a job, run by every replica whose scheduler fired at the same time.

    The first replica to record (job, fire time) owns it: it takes the job lock, splits the stores into
    shards and records the one run. Every replica, owner included, then claims shards until none is
    left, and keeps watching until all are done, so a shard whose replica died (its lease expired) is
    taken over and finished.
    """

    def __init__(
        self,
        app: App,
        job: str,
        fire_key: str,
        body: ShardBody,
        *,
        options: ShardOptions | None = None,
        stop: threading.Event | None = None,
        owner: str | None = None,
        groups: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.app, self.job, self.fire_key, self.body = app, job, fire_key, body
        self.opts = options or ShardOptions()
        self.stop = stop or threading.Event()
        self.owner = owner or owner_id()
        self.groups = groups or (lambda: job_groups(app, job))
        self.shards_run: list[int] = []

    @property
    def engine(self) -> Engine:
        return self.app.engine

    def run(self) -> FiringResult:
        now = self.app.clock()
        if leases.open_firing(self.engine, self.job, self.fire_key, self.owner, now):
            return self._lead()
        return self._help()

    # -- the owner ----------------------------------------------------------------------------------

    def _lead(self) -> FiringResult:
        log.info("firing_opened", job=self.job, fire_key=self.fire_key, owner=self.owner)
        leases.prune(self.engine, self.app.clock(), FIRING_HISTORY)
        lock = JobLock(self.engine, self.job, lock_ttl(self.app), self.app.clock, self.owner)
        try:
            lock.acquire()
        except Busy as exc:
            leases.close_firing(
                self.engine, self.job, self.fire_key, "skipped", self.app.clock(), note=str(exc)
            )
            log.warning("job_skipped_busy", job=self.job, fire_key=self.fire_key, reason=str(exc))
            return FiringResult("skipped", note=str(exc))
        try:
            with lock.heartbeat():
                result = execute(self.app, self.job, lambda run_id: self._lead_body(lock, run_id))
        finally:
            lock.release()
        return FiringResult("owner", result, self.shards_run)

    def _lead_body(self, lock: JobLock, run_id: str) -> Outcome:
        lock.bind_run(run_id)
        groups = dict(self.groups())
        shards = split(self.job, groups, self.opts.shards)
        n = len(shards)
        leases.publish_shards(self.engine, self.job, self.fire_key, run_id, shards, self.app.clock())
        log.info("shards_published", shards=n, stores=len(groups), fire_key=self.fire_key)
        self._work_side_by_side(run_id, whole_job=n == 1)
        return self._outcome()

    def _outcome(self) -> Outcome:
        """The run's outcome for `execute`: an error the worst shard had is raised as that error."""
        summary = self._summary()
        if summary.code == ExitCode.CONFIG:
            raise ConfigError([summary.error])
        if summary.code == ExitCode.REFUSED:
            raise SafetyRefused(summary.error)
        if summary.code == ExitCode.UNAVAILABLE:
            raise SalesforceUnavailable(summary.error)
        return summary.outcome

    def _summary(self) -> RunSummary:
        """Every shard's outcome summed: counts added up, the worst shard decides the exit code."""
        rows = leases.shard_outcomes(self.engine, self.job, self.fire_key)
        done = [r for r in rows if r["state"] == "done"]
        counts: dict[str, Any] = {}
        for r in done:
            merge_counts(counts, r["outcome"].get("counts", {}))
        codes = [int(r["outcome"].get("exit_code", ExitCode.PARTIAL)) for r in done]
        errors = [f"shard {r['shard']}: {r['outcome']['error']}" for r in done if r["outcome"].get("error")]
        left = len(rows) - len(done)
        counts["shards"] = {
            "total": len(rows),
            "done": len(done),
            "left": left,
            "taken_over": sum(1 for r in rows if r["attempts"] > 1),
            "replicas": len({r["owner"] for r in done}),
        }
        if errors:
            counts["shard_errors"] = errors[:20]
        worst = ExitCode(max(codes, default=ExitCode.OK))
        if worst == ExitCode.UNAVAILABLE and not all(c == ExitCode.UNAVAILABLE for c in codes):
            worst = ExitCode.PARTIAL  # some shards got through: what is left is retried next run
        if worst == ExitCode.OK and left:
            worst = ExitCode.PARTIAL
        api = [r["outcome"] for r in done]
        used = [o["api_used"] for o in api if o.get("api_used") is not None]
        outcome = Outcome(
            counts=counts,
            partial=worst != ExitCode.OK,
            api_calls=sum(int(o.get("api_calls", 0)) for o in api),
            api_used=max(used) if used else None,
            api_max=max((o["api_max"] for o in api if o.get("api_max") is not None), default=None),
        )
        return RunSummary(outcome, worst, "; ".join(errors)[:2000])

    def _complete_late(self, run_id: str) -> None:
        """The owner stopped (SIGTERM) before the others finished: record the whole firing in its run."""
        summary = self._summary()
        out = summary.outcome
        if not runs.finish(
            self.engine,
            run_id,
            self.app.clock(),
            STATUS.get(summary.code, "failed"),
            int(summary.code),
            summary.error,
            out.counts,
            (out.api_calls, out.api_used, out.api_max),
            # unless the owner is still recording it, or recorded every shard already
            only_if=lambda rec: (
                rec.finished_at is not None and bool(rec.counts.get("shards", {}).get("left"))
            ),
        ):
            return
        log.info(
            "run_completed_by_replicas",
            status=STATUS.get(summary.code, "failed"),
            exit_code=int(summary.code),
        )

    # -- a helper -----------------------------------------------------------------------------------

    def _help(self) -> FiringResult:
        deadline = self.app.clock() + self.opts.open_timeout
        while True:
            firing = leases.read_firing(self.engine, self.job, self.fire_key)
            state = firing.state if firing else "opening"
            if state == "open" and firing is not None:
                break
            if state in ("done", "skipped"):
                return FiringResult(
                    "late" if state == "done" else "skipped", note=firing.note if firing else ""
                )
            if self.app.clock() >= deadline or self.stop.is_set():
                log.warning("firing_not_opened", job=self.job, fire_key=self.fire_key)
                return FiringResult("skipped", note="the owning replica did not open the firing in time")
            self.stop.wait(min(self.opts.poll_seconds, 0.2))
        structlog.contextvars.bind_contextvars(run_id=firing.run_id, job=self.job)
        try:
            log.info("firing_joined", fire_key=self.fire_key, owner=firing.owner, shards=firing.shards)
            self._work_side_by_side(firing.run_id, whole_job=firing.shards == 1)
        finally:
            structlog.contextvars.unbind_contextvars("run_id", "job")
        return FiringResult("helper", None, self.shards_run)

    # -- every replica ------------------------------------------------------------------------------

    def _work_side_by_side(self, run_id: str, whole_job: bool) -> None:
        """`_work` on up to `side_by_side` threads, so one shard's Salesforce round trips overlap another's
        CPU. Not for the pull (each source's `concurrency` is that API's limit, per replica) nor a job run
        whole; each thread runs in a copy of this context (run id, job and progress sink bound)."""
        n = 1 if whole_job or self.job == "pull" else max(1, self.opts.side_by_side)
        if n == 1:
            self._work(run_id, whole_job)
            return
        with ThreadPoolExecutor(n, thread_name_prefix=f"shards-{self.job}") as pool:
            futures = [
                pool.submit(contextvars.copy_context().run, self._work, run_id, whole_job) for _ in range(n)
            ]
            for future in futures:
                future.result()

    def _work(self, run_id: str, whole_job: bool) -> None:
        """Claim and run shards until every shard is done, or until asked to stop (after the current one)."""
        while not self.stop.is_set():
            claim = leases.claim_shard(
                self.engine, self.job, self.fire_key, self.owner, self.app.clock(), self.opts.lease_ttl
            )
            if claim is None:
                progress = leases.progress(self.engine, self.job, self.fire_key, self.app.clock())
                if progress.finished or progress.total == 0:
                    if leases.close_firing(
                        self.engine, self.job, self.fire_key, "done", self.app.clock(), expect="open"
                    ):
                        log.info("firing_done", fire_key=self.fire_key, shards=progress.total)
                        self._complete_late(run_id)
                    return
                self.stop.wait(self.opts.poll_seconds)  # others are still working: watch their leases
                continue
            self._run_shard(claim, run_id, whole_job)
        log.info("shard_claims_stopped", fire_key=self.fire_key, shards_run=self.shards_run)

    def _run_shard(self, claim: ShardClaim, run_id: str, whole_job: bool) -> None:
        structlog.contextvars.bind_contextvars(shard=claim.shard)
        if claim.attempt > 1:
            log.warning("shard_taken_over", attempt=claim.attempt, stores=len(claim.stores))
        else:
            log.info("shard_claimed", stores=len(claim.stores))
        ttl = self.opts.lease_ttl

        def renew() -> bool:
            return leases.renew_shard(self.engine, claim, self.app.clock(), ttl)

        try:
            with Heartbeat(renew, heartbeat_interval(ttl), f"shard:{self.job}:{claim.shard}") as beat:
                task = ShardTask(run_id, None if whole_job else claim.stores, claim)
                outcome = run_shard_body(self.body, task)
            if beat.lost.is_set():
                outcome["lease_lost"] = True
            if leases.finish_shard(self.engine, claim, self.app.clock(), outcome):
                self.shards_run.append(claim.shard)
                log.info("shard_done", exit_code=outcome["exit_code"])
            else:
                log.error("shard_lease_lost", note="another replica took the shard over; its result stands")
        finally:
            structlog.contextvars.unbind_contextvars("shard")


def run_shard_body(body: ShardBody, task: ShardTask) -> dict[str, Any]:
    """Run a shard's body and describe what happened as JSON, with the exit code its error would give."""
    try:
        outcome = body(task)
    except Exception as exc:
        code = classify(exc)
        if code == ExitCode.PARTIAL:
            log.error("shard_crashed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        return {"exit_code": int(code), "error": f"{type(exc).__name__}: {exc}"[:2000], "counts": {}}
    return {
        "exit_code": int(ExitCode.PARTIAL if outcome.partial else ExitCode.OK),
        "counts": _jsonable(outcome.counts),
        "api_calls": outcome.api_calls,
        "api_used": outcome.api_used,
        "api_max": outcome.api_max,
    }


def classify(exc: BaseException) -> ExitCode:
    """The exit code an exception means (as `worker.runner.execute` maps them)."""
    if isinstance(exc, ConfigError | MappingError):
        return ExitCode.CONFIG
    if isinstance(exc, SafetyRefused):
        return ExitCode.REFUSED
    if isinstance(exc, SalesforceUnavailable):
        return ExitCode.UNAVAILABLE
    return ExitCode.PARTIAL  # LimitReached (the rest stays queued) and anything unexpected


def merge_counts(into: dict[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """Add one shard's counts into the run's: numbers summed, lists joined, nested tables merged."""
    for key, value in more.items():
        have = into.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float | list | dict):
            into[key] = value
        elif isinstance(value, int | float):
            into[key] = (have if isinstance(have, int | float) and not isinstance(have, bool) else 0) + value
        elif isinstance(value, list):
            into[key] = [*(have if isinstance(have, list) else []), *value]
        else:
            into[key] = merge_counts(have if isinstance(have, dict) else {}, value)
    return into


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def shard_options(app: App) -> ShardOptions:
    sched = app.settings.scheduler
    return ShardOptions(
        shards=sched.shards,
        lease_ttl=timedelta(seconds=sched.lease_ttl_seconds),
        poll_seconds=sched.poll_seconds,
        open_timeout=timedelta(seconds=max(60, sched.lease_ttl_seconds)),
        side_by_side=sched.shards_side_by_side,
    )
