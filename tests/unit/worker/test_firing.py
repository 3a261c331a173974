"""One firing shared by replicas (threads here, processes in tests/integration): roles, outcome, stop, busy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import structlog
from sqlmodel import Session, select

from jobs.sync import SafetyRefused
from state import leases
from state.tables import RunRecord
from worker.app import App
from worker.locks import JobLock
from worker.runner import ExitCode, Outcome
from worker.shards import Firing, ShardOptions, ShardTask

KEY = "2026-03-02T09:15:00Z"
GROUPS = {f"S-{i:02d}": f"S-{i:02d}" for i in range(40)}
FAST = ShardOptions(shards=8, lease_ttl=timedelta(seconds=5), poll_seconds=0.02)


def firing(app: App, body: Callable[[ShardTask], Outcome], owner: str, **kw: object) -> Firing:
    return Firing(app, "account_health", KEY, body, options=FAST, owner=owner, groups=lambda: GROUPS, **kw)  # type: ignore[arg-type]


def the_run(app: App) -> RunRecord:
    with Session(app.engine) as s:
        (run,) = s.exec(select(RunRecord)).all()
        return run


def test_owner_and_helper_split_the_shards_and_one_run_sums_them(make_app: Callable[..., App]) -> None:
    app = make_app()
    seen: list[tuple[str, ...]] = []
    lock = threading.Lock()
    both_working = threading.Barrier(2)  # each replica's first shard waits for the other's: both take part
    started: set[int] = set()

    def body(task: ShardTask) -> Outcome:
        assert task.stores is not None and task.claim is not None
        with lock:
            seen.append(tuple(task.stores))
            first = threading.get_ident() not in started
            started.add(threading.get_ident())
        if first:
            both_working.wait(10)
        return Outcome(counts={"stores": len(task.stores), "applied": {"created": 1}}, api_calls=2)

    results = {}
    assert app.engine  # created once before the replicas start, as `serve` does
    threads = [
        threading.Thread(target=lambda n=n: results.__setitem__(n, firing(app, body, n).run()))
        for n in ("a", "b")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(r.role for r in results.values()) == ["helper", "owner"]
    assert sorted(s for shard in seen for s in shard) == sorted(GROUPS)  # each store once
    run = the_run(app)
    assert (run.status, run.exit_code, run.api_calls) == ("ok", 0, 16)
    assert run.counts["stores"] == 40 and run.counts["applied"] == {"created": 8}
    assert run.counts["shards"]["total"] == 8 and run.counts["shards"]["done"] == 8
    firing_row = leases.read_firing(app.engine, "account_health", KEY)
    assert firing_row is not None and firing_row.state == "done"


def test_a_replica_that_comes_after_the_end_does_nothing(make_app: Callable[..., App]) -> None:
    app = make_app()
    assert firing(app, lambda t: Outcome(), "a").run().role == "owner"
    calls: list[ShardTask] = []
    late = firing(app, lambda t: calls.append(t) or Outcome(), "b").run()  # type: ignore[func-returns-value]
    assert late.role == "late" and calls == []


def test_the_worst_shard_decides_the_exit_code(make_app: Callable[..., App]) -> None:
    app = make_app()

    def body(task: ShardTask) -> Outcome:
        assert task.claim is not None
        if task.claim.shard == 3:
            raise SafetyRefused("the plan changes 80% of existing records")
        return Outcome(counts={"stores": 1})

    result = firing(app, body, "a").run()
    assert result.run is not None and result.run.exit_code == ExitCode.REFUSED
    run = the_run(app)
    assert run.status == "refused" and "shard 3: SafetyRefused: the plan changes 80%" in run.error


def test_a_crashing_shard_makes_the_run_partial_and_the_others_still_run(
    make_app: Callable[..., App],
) -> None:
    app = make_app()
    ran: list[int] = []

    def body(task: ShardTask) -> Outcome:
        assert task.claim is not None
        ran.append(task.claim.shard)
        if task.claim.shard == 0:
            raise RuntimeError("connection reset")
        return Outcome(counts={"stores": len(task.stores or ())})

    result = firing(app, body, "a").run()
    assert sorted(ran) == list(range(8))
    assert result.run is not None and result.run.exit_code == ExitCode.PARTIAL
    assert the_run(app).counts["shard_errors"] == ["shard 0: RuntimeError: connection reset"]


def test_stop_finishes_the_current_shard_and_leaves_the_rest_to_others(make_app: Callable[..., App]) -> None:
    app = make_app()
    stop = threading.Event()

    def body(task: ShardTask) -> Outcome:
        stop.set()  # SIGTERM arrives while the first shard runs
        return Outcome(counts={"stores": len(task.stores or ())})

    result = firing(app, body, "a", stop=stop).run()
    assert result.shards_run == [0]
    run = the_run(app)
    assert run.status == "partial" and run.counts["shards"]["left"] == 7
    # another replica picks the rest up: the firing is still open
    helper = firing(app, lambda t: Outcome(counts={"stores": len(t.stores or ())}), "b").run()
    assert helper.role == "helper" and helper.shards_run == [1, 2, 3, 4, 5, 6, 7]
    assert leases.progress(app.engine, "account_health", KEY, app.clock()).finished
    run = the_run(app)  # the replica that finished the firing recorded it in the owner's run
    assert (run.status, run.exit_code, run.counts["stores"]) == ("ok", 0, 40)
    assert run.counts["shards"] == {"total": 8, "done": 8, "left": 0, "taken_over": 0, "replicas": 2}


def test_a_job_already_running_makes_the_firing_skip(make_app: Callable[..., App]) -> None:
    app = make_app()
    JobLock(app.engine, "account_health", timedelta(hours=1), app.clock, owner="cron:1:x").acquire()
    result = firing(app, lambda t: Outcome(), "a").run()
    assert result.role == "skipped" and "account_health is already running" in result.note
    firing_row = leases.read_firing(app.engine, "account_health", KEY)
    assert firing_row is not None and firing_row.state == "skipped"
    assert firing(app, lambda t: Outcome(), "b").run().role == "skipped"  # helpers see it and leave


def test_one_shard_means_the_whole_job(make_app: Callable[..., App]) -> None:
    app = make_app()
    got: list[ShardTask] = []
    one = ShardOptions(shards=0, lease_ttl=timedelta(seconds=5), poll_seconds=0.02)  # 40 stores: one shard
    f = Firing(app, "pull", KEY, lambda t: got.append(t) or Outcome(), options=one, groups=lambda: GROUPS)  # type: ignore[func-returns-value]
    f.run()
    (task,) = got
    assert task.stores is None  # the whole job: new stores not yet in the directory too


def test_one_replica_runs_a_sync_jobs_shards_side_by_side_in_its_context(
    make_app: Callable[..., App],
) -> None:
    app = make_app()
    side = ShardOptions(shards=8, lease_ttl=timedelta(seconds=5), poll_seconds=0.02, side_by_side=3)
    together = threading.Barrier(3)  # the first three shards each wait until all three are running
    lock = threading.Lock()
    seen: list[str] = []
    run_ids: set[str] = set()
    threads: set[int] = set()
    started: list[object] = []

    def body(task: ShardTask) -> Outcome:
        assert task.stores is not None
        with lock:
            seen.extend(task.stores)
            threads.add(threading.get_ident())
            started.append(task.claim)
            first = len(started) <= 3
            run_ids.add(structlog.contextvars.get_contextvars().get("run_id", ""))
        if first:
            together.wait(10)  # BrokenBarrierError (a failed shard) unless three run at once
        return Outcome(counts={"stores": len(task.stores)}, api_calls=1)

    f = Firing(app, "account_health", KEY, body, options=side, owner="a", groups=lambda: GROUPS)
    result = f.run()
    assert result.role == "owner" and sorted(seen) == sorted(GROUPS) and len(threads) == 3
    run = the_run(app)
    assert (run.status, run.exit_code, run.api_calls) == ("ok", 0, 8)
    assert run.counts["stores"] == 40 and run.counts["shards"]["done"] == 8
    assert run_ids == {run.id}  # each thread logs with the run's id bound


def test_the_pulls_shards_run_one_at_a_time_whatever_side_by_side_says(make_app: Callable[..., App]) -> None:
    app = make_app()
    side = ShardOptions(shards=4, lease_ttl=timedelta(seconds=5), poll_seconds=0.02, side_by_side=4)
    running, most = [0], [0]
    lock = threading.Lock()

    def body(task: ShardTask) -> Outcome:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return Outcome()

    assert (
        Firing(app, "pull", KEY, body, options=side, owner="a", groups=lambda: GROUPS).run().role == "owner"
    )
    assert most[0] == 1
