"""Scale-out on a real PostgreSQL: three worker processes share one job, survive a killed replica, and a
firing at the same moment on every replica makes one run.

Run as a module, this file is also the replica process the tests start:
`python -m tests.integration.worker.test_scale_out_pg replica '<json>'`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger
from prometheus_client import CollectorRegistry
from rich.console import Console
from sqlalchemy import column, insert, table, text
from sqlmodel import Session

from state.engine import make_engine
from state.migrations import init_schema
from state.tables import StoreRow
from tests.integration.pg import fresh_schema, query
from worker.app import App
from worker.logging import configure
from worker.runner import Outcome
from worker.scheduler import Scheduler, serve
from worker.settings import Settings
from worker.shards import Firing, ShardOptions, ShardTask

ROOT = Path(__file__).resolve().parents[3]
JOB = "account_health"
STORES = [f"{state}-{i:03d}" for state in ("NV", "AZ", "CA", "IL", "MI", "CO") for i in range(1, 11)]  # 60

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


def prepare(url: str, stores: list[str]) -> None:
    """Schema, the store directory (one MSO among them), and the table shard bodies record into."""
    engine = make_engine(url)
    init_schema(engine)
    with Session(engine) as s:
        for sid in stores:
            parent = "MSO-1" if sid.startswith("IL-00") else None  # IL-001..IL-009 roll up to one MSO
            s.add(StoreRow(store_id=sid, state=sid[:2], attrs={"parent_id": parent}))
        s.commit()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE processed (store_id text, shard int, replica text, attempt int)"))
    engine.dispose()


# -- the replica process --------------------------------------------------------------------------


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[str]
    log: Path

    def result(self, timeout: float = 20) -> dict[str, Any]:
        out, _ = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, (
            f"replica {self.name} exit {self.proc.returncode}: {self.log.read_text()[-3000:]}"
        )
        return dict(json.loads(out.strip().splitlines()[-1]))


def start(tmp: Path, name: str, **args: Any) -> Replica:
    log = tmp / f"{name}.log"
    spec = json.dumps({"name": name, "tmp": str(tmp), **args})
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.worker.test_scale_out_pg", "replica", spec],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return Replica(name, proc, log)


def wait_for(path: Path, timeout: float = 15, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited {proc.returncode} before {path.name}")
        assert time.monotonic() < deadline, f"timed out waiting for {path.name}"
        time.sleep(0.02)


def go(tmp: Path, replicas: list[Replica], payload: Callable[[], str] = lambda: "go") -> str:
    """Start every replica at once: each has imported everything and waits on this file."""
    for r in replicas:
        wait_for(tmp / f"{r.name}.ready", proc=r.proc)
    text_ = payload()
    (tmp / "go.tmp").write_text(text_)
    (tmp / "go.tmp").rename(tmp / "go")
    return text_


def replica_main(spec: dict[str, Any]) -> None:
    configure("info", "json")
    tmp = Path(spec["tmp"])
    settings = Settings.model_validate(
        {
            "state": {"url": spec["url"]},
            "salesforce": {"auth": "client_credentials", "client_id": "app", "client_secret": "test-secret"},
            "metrics": {"port": 0},
        }
    )
    app = App(settings, environ={})
    engine = make_engine(spec["url"])
    processed = table("processed", column("store_id"), column("shard"), column("replica"), column("attempt"))
    options = ShardOptions(shards=spec["shards"], lease_ttl=timedelta(seconds=spec["ttl"]), poll_seconds=0.1)
    owner = f"replica-{spec['name']}:{os.getpid()}"

    def body(task: ShardTask) -> Outcome:
        assert task.claim is not None and task.stores is not None
        if spec.get("victim"):
            partial = tmp / "victim.holding.part"  # renamed whole, so the reader never sees it empty
            partial.write_text(str(task.claim.shard))
            partial.rename(tmp / "victim.holding")
            time.sleep(60)  # killed here, holding the lease
        time.sleep(spec["delay"])
        with engine.begin() as conn:  # the shard's writes and its completion commit together
            if not task.claim.complete(conn, datetime.now(UTC)):
                raise RuntimeError("lease lost before commit")
            conn.execute(
                insert(processed),
                [
                    {
                        "store_id": s,
                        "shard": task.claim.shard,
                        "replica": spec["name"],
                        "attempt": task.claim.attempt,
                    }
                    for s in task.stores
                ],
            )
        return Outcome(counts={"stores": len(task.stores)})

    (tmp / f"{spec['name']}.ready").write_text("")
    wait_for(tmp / "go", timeout=30)

    if spec["mode"] == "firing":
        if spec.get("victim"):  # join as a helper, so the run's owner survives
            while not query(spec["url"], "SELECT 1 FROM job_firing WHERE state = 'open'"):
                time.sleep(0.02)
        result = Firing(app, JOB, spec["fire_key"], body, options=options, owner=owner).run()
        out = {"role": result.role, "shards": result.shards_run}
    else:  # the real scheduler, firing on a cron trigger at the second the test chose
        at = datetime.fromtimestamp(float((tmp / "go").read_text()), UTC)
        trigger = CronTrigger(
            year=at.year,
            month=at.month,
            day=at.day,
            hour=at.hour,
            minute=at.minute,
            second=at.second,
            timezone=UTC,
        )
        stop = threading.Event()
        sched = Scheduler(
            app,
            lambda _job: body,
            stop=stop,
            triggers={JOB: trigger},
            options=options,
            registry=CollectorRegistry(),
            owner=owner,
        )

        def stop_after_first_firing() -> None:
            while not sched.results:
                time.sleep(0.02)
            stop.set()

        threading.Thread(target=stop_after_first_firing, daemon=True).start()
        code = serve(app, Console(stderr=True), scheduler=sched, install_signals=True)
        job, key, result = sched.results[0]
        out = {"exit": int(code), "fire_key": key, "role": result.role, "shards": result.shards_run}
    print(json.dumps(out), flush=True)


# -- the tests ------------------------------------------------------------------------------------


def processed_counts(url: str) -> Counter[str]:
    return Counter(r[0] for r in query(url, "SELECT store_id FROM processed"))


def test_three_replicas_share_one_job_and_process_every_store_once(pg_url: str, tmp_path: Path) -> None:
    prepare(pg_url, STORES)
    args = {
        "url": pg_url,
        "mode": "firing",
        "fire_key": "2026-03-02T09:15:00Z",
        "shards": 12,
        "ttl": 5,
        "delay": 0.3,
    }
    replicas = [start(tmp_path, name, **args) for name in "abc"]
    go(tmp_path, replicas)
    results = {r.name: r.result() for r in replicas}

    assert sorted(r["role"] for r in results.values()) == ["helper", "helper", "owner"]
    counts = processed_counts(pg_url)
    assert set(counts) == set(STORES) and set(counts.values()) == {1}  # every store, exactly once
    by_replica = {r[0] for r in query(pg_url, "SELECT DISTINCT replica FROM processed")}
    assert by_replica == {"a", "b", "c"}  # the work was shared
    # an MSO's locations were processed together, by one shard
    assert len({r[0] for r in query(pg_url, "SELECT shard FROM processed WHERE store_id LIKE 'IL-00%'")}) == 1
    runs = query(pg_url, "SELECT job, status, exit_code, counts FROM run")
    assert len(runs) == 1  # one run in the ledger for the firing
    job, status, exit_code, run_counts = runs[0]
    assert (job, status, exit_code) == (JOB, "ok", 0)
    assert run_counts["stores"] == 60
    assert run_counts["shards"] == {"total": 12, "done": 12, "left": 0, "taken_over": 0, "replicas": 3}
    assert query(pg_url, "SELECT state FROM job_firing") == [("done",)]
    assert query(pg_url, "SELECT count(*) FROM job_lock") == [(0,)]  # released


def test_a_killed_replicas_shard_is_taken_over_once_its_lease_expires(pg_url: str, tmp_path: Path) -> None:
    prepare(pg_url, STORES)
    args = {
        "url": pg_url,
        "mode": "firing",
        "fire_key": "2026-03-02T09:30:00Z",
        "shards": 10,
        "ttl": 2,
        "delay": 0.2,
    }
    survivors = [start(tmp_path, name, **args) for name in "ab"]
    victim = start(tmp_path, "victim", victim=True, **args)
    go(tmp_path, [*survivors, victim])
    wait_for(tmp_path / "victim.holding", proc=victim.proc)
    held = int((tmp_path / "victim.holding").read_text())
    victim.proc.send_signal(signal.SIGKILL)  # no heartbeat, no release: the lease just stops being renewed
    victim.proc.wait(5)
    started = time.monotonic()
    results = [r.result() for r in survivors]

    assert sorted(r["role"] for r in results) == ["helper", "owner"]
    assert time.monotonic() - started < 45  # the 2 s lease, not the default TTL; slack for a loaded machine
    counts = processed_counts(pg_url)
    assert set(counts) == set(STORES) and set(counts.values()) == {
        1
    }  # exactly once, the victim wrote nothing
    ((owner, attempts, state),) = query(
        pg_url, f"SELECT owner, attempts, state FROM shard_lease WHERE shard = {held}"
    )
    assert state == "done" and attempts == 2 and not owner.startswith("replica-victim")
    assert {r[0] for r in query(pg_url, f"SELECT replica FROM processed WHERE shard = {held}")} <= {"a", "b"}
    ((status, run_counts),) = query(pg_url, "SELECT status, counts FROM run")
    assert status == "ok"
    assert run_counts["shards"]["taken_over"] == 1 and run_counts["shards"]["done"] == 10


def test_one_scheduled_firing_on_three_replicas_makes_one_run(pg_url: str, tmp_path: Path) -> None:
    prepare(pg_url, STORES)
    args = {"url": pg_url, "mode": "scheduler", "shards": 6, "ttl": 5, "delay": 0.3}
    replicas = [start(tmp_path, name, **args) for name in "abc"]
    fire_at = int(go(tmp_path, replicas, payload=lambda: str(int(time.time()) + 2)))
    results = [r.result() for r in replicas]

    assert {r["exit"] for r in results} == {0}
    keys = {r["fire_key"] for r in results}
    assert keys == {datetime.fromtimestamp(fire_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    roles = Counter(r["role"] for r in results)
    assert roles["owner"] == 1 and roles["owner"] + roles["helper"] + roles["late"] == 3
    assert len(query(pg_url, "SELECT id FROM run")) == 1  # one run, not three
    assert query(pg_url, "SELECT count(*), min(state) FROM job_firing") == [(1, "done")]
    counts = processed_counts(pg_url)
    assert set(counts) == set(STORES) and set(counts.values()) == {1}


if __name__ == "__main__":
    if sys.argv[1:2] == ["replica"]:
        replica_main(json.loads(sys.argv[2]))
