"""Reliability drills: kills at any point (in-process at every call, SIGKILL at random), faults, limits.

Each drill compares the org with one that ran the same plans uninterrupted: same records by key, same
fields, same counts (a duplicate would add a record, a loss would drop one), and an empty outbox.
Long variants (`-m long` or CSM_SYNC_LONG=1) run many more trials.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select

from connectors.salesforce.auth import ClientCredentials
from connectors.salesforce.client import LimitReached, SalesforceClient, SalesforceUnavailable, make_session
from jobs.sync import JobResult
from sandbox.salesforce import Faults, Org, OrgAdapter
from sandbox.salesforce.jwt_keys import JwtKeys
from sandbox.server import serve
from sandbox.tls import TLSMaterial
from state.engine import make_engine
from state.tables import OutboxEntry
from tests.integration.org_fixtures import (
    BASE,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    SyntheticJob,
    client_for,
    jwt_client,
    new_org,
    seed_stores,
    snapshot,
    state_engine,
    sync,
    write_calls,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
STORES = 100
V1_FLAGGED = range(0, 70)
V2_FLAGGED = range(30, 100)  # 30 flags resolved (and Tasks completed), 30 new, 40 updated; 100 Accounts
DRILL = {"bulk_threshold": 80, "collection_size": 25}  # Accounts and flags by Bulk, Tasks by Collections


def v1(stores: list[str]) -> SyntheticJob:
    return SyntheticJob(version=1, flagged=frozenset(stores[i] for i in V1_FLAGGED))


def v2(stores: list[str]) -> SyntheticJob:
    return SyntheticJob(version=2, flagged=frozenset(stores[i] for i in V2_FLAGGED))


def queued(engine: Engine) -> list[OutboxEntry]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxEntry).where(OutboxEntry.status.in_(("pending", "sending")))).all())  # type: ignore[attr-defined]


def drill_org(tmp: Path, name: str, keys: JwtKeys | None = None, **org: Any) -> tuple[Org, Engine, list[str]]:
    """A fresh org and state store with v1 applied: the state the drilled v2 run starts from."""
    o = new_org(keys, **org)
    engine = state_engine(tmp / f"{name}.db")
    stores = seed_stores(engine, o, STORES)
    sync(engine, client_for(o), v1(stores), **DRILL)
    return o, engine, stores


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The end state of v1 then v2, uninterrupted and fault-free."""
    o, engine, stores = drill_org(tmp_path_factory.mktemp("reference"), "ref")
    result = sync(engine, client_for(o), v2(stores), **DRILL)
    assert not result.partial
    assert result.plan.counts == {"create": 60, "update": 140, "close": 60}
    return snapshot(o)


def assert_converged(o: Org, engine: Engine, reference: Mapping[str, Any], stores: list[str]) -> None:
    assert snapshot(o) == reference
    assert queued(engine) == []
    o.stats.reset()
    again = sync(engine, client_for(o), v2(stores), **DRILL)
    assert again.plan.counts == {"create": 0, "update": 0, "close": 0} and write_calls(o) == 0


# -- kills in-process, at every call boundary ---------------------------------------------------------
class Killed(BaseException):
    """The process died: nothing runs after this point, not even `except Exception` handlers."""


class KillSwitch(OrgAdapter):
    """Kills the client at its `at`-th request: before sending it, or after the org answered it."""

    def __init__(self, org: Org, at: int, when: str) -> None:
        super().__init__(org)
        self.at, self.when, self.count = at, when, 0

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.count += 1
        if self.count == self.at and self.when == "before":
            raise Killed(request.url)
        resp = super().send(request, *args, **kwargs)
        if self.count == self.at and self.when == "after":
            raise Killed(request.url)
        return resp


def switched_client(o: Org, switch: KillSwitch) -> SalesforceClient:
    session = make_session(30.0)
    session.mount(BASE, switch)
    return SalesforceClient(ClientCredentials(BASE, CONSUMER_KEY, SecretStr(CONSUMER_SECRET)), session=session,
                            sleep=lambda _s: None)  # fmt: skip


def calls_in_v2(tmp: Path) -> int:
    o, engine, stores = drill_org(tmp, "count")
    switch = KillSwitch(o, at=10**9, when="after")
    sync(engine, switched_client(o, switch), v2(stores), **DRILL)
    return switch.count


def kill_points(tmp: Path, every: int) -> Iterator[tuple[int, str]]:
    total = calls_in_v2(tmp)
    for at in range(1, total + 1, every):
        yield at, "before"
        yield at, "after"


@pytest.mark.parametrize(
    "every", [pytest.param(4, id="quick"), pytest.param(1, id="every-call", marks=pytest.mark.long)]
)
def test_a_kill_at_any_call_resumes_to_the_uninterrupted_end_state(
    tmp_path: Path, reference: dict[str, Any], every: int
) -> None:
    tried = 0
    for at, when in kill_points(tmp_path, every):
        o, engine, stores = drill_org(tmp_path, f"kill-{at}-{when}")
        with pytest.raises(Killed):
            sync(engine, switched_client(o, KillSwitch(o, at, when)), v2(stores), **DRILL)
        result = sync(engine, client_for(o), v2(stores), **DRILL)
        assert not result.partial, (at, when, result.data)
        assert_converged(o, engine, reference, stores)
        tried += 1
    assert tried >= 10


# -- SIGKILL of a separate process, at random points --------------------------------------------------
class Switchboard:
    """One HTTPS server for the whole drill; each trial points it at a fresh org."""

    def __init__(self) -> None:
        self.org: Org | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        assert self.org is not None
        return self.org(environ, start_response)


@dataclass
class Drill:
    url: str
    ca: Path
    key: Path
    board: Switchboard
    keys: JwtKeys

    def child(self, db: Path) -> subprocess.Popen[str]:
        config = {"url": self.url, "ca": str(self.ca), "key": str(self.key), "db": str(db), "stores": STORES}
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.jobs.test_reliability", json.dumps(config)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip


def wait_for(proc: subprocess.Popen[str], word: str) -> float:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == word:
            return time.monotonic()
    raise AssertionError(f"child exited ({proc.wait()}) before saying {word!r}")


@pytest.fixture(scope="module")
def drill(
    tmp_path_factory: pytest.TempPathFactory, tls_material: TLSMaterial, jwt_keys: JwtKeys
) -> Iterator[Drill]:
    board = Switchboard()
    server = serve(board, tls_material)
    key = tmp_path_factory.mktemp("keys") / "jwt.pem"
    key.write_text(jwt_keys.private_key_pem)
    try:
        yield Drill(server.url, server.ca_path, key, board, jwt_keys)
    finally:
        server.stop()


def sigkill_trials(tmp: Path, drill: Drill, reference: dict[str, Any], trials: int) -> None:
    rng = random.Random(trials)
    # Calibrate: an uninterrupted child run, which also proves the child path end to end.
    o, engine, stores = drill_org(tmp, "calibrate", drill.keys, faults=Faults(latency=0.005))
    drill.board.org = o
    proc = drill.child(tmp / "calibrate.db")
    start = wait_for(proc, "ready")
    span = wait_for(proc, "done") - start
    assert proc.wait(timeout=30) == 0
    assert_converged(o, engine, reference, stores)
    left_work = 0
    for trial in range(trials):
        o, engine, stores = drill_org(tmp, f"trial-{trial}", drill.keys, faults=Faults(latency=0.005))
        drill.board.org = o
        proc = drill.child(tmp / f"trial-{trial}.db")
        started = wait_for(proc, "ready")
        time.sleep(max(0.0, started + rng.uniform(0, span * 1.1) - time.monotonic()))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        left_work += bool(queued(engine)) or _unplanned(engine)
        o.faults = Faults()
        result = sync(engine, client_for(o), v2(stores), **DRILL)
        assert not result.partial, (trial, result.data)
        assert_converged(o, engine, reference, stores)
    assert left_work >= max(1, trials // 5), left_work  # kills that really cut a run short


@pytest.mark.parametrize(
    "trials", [pytest.param(10, id="10-trials"), pytest.param(100, id="100-trials", marks=pytest.mark.long)]
)
def test_sigkill_of_the_apply_process_at_random_points(
    tmp_path: Path, drill: Drill, reference: dict[str, Any], trials: int
) -> None:
    sigkill_trials(tmp_path, drill, reference, trials)


def _unplanned(engine: Engine) -> bool:
    """The killed run died before it wrote its plan: only v1's rows are in the outbox."""
    with Session(engine) as s:
        return len(s.exec(select(OutboxEntry)).all()) == 240  # type: ignore[arg-type]


def child(config_json: str) -> None:
    """The drilled process: apply v2 over HTTPS with JWT login, as a cron-run worker would."""
    config = json.loads(config_json)
    engine = make_engine(f"sqlite:///{config['db']}")
    stores = [f"NV-{i:05d}" for i in range(1, config["stores"] + 1)]
    client = jwt_client(config["url"], config["ca"], Path(config["key"]).read_text(),
                        sleep=lambda s: time.sleep(min(s, 0.05)))  # fmt: skip
    print("ready", flush=True)
    sync(engine, client, v2(stores), **DRILL)
    print("done", flush=True)


# -- faults, failed Bulk jobs, limits ----------------------------------------------------------------
def converge(o: Org, engine: Engine, stores: list[str], runs: int, **options: Any) -> list[JobResult | str]:
    outcomes: list[JobResult | str] = []
    for _ in range(runs):
        try:
            outcomes.append(sync(engine, client_for(o), v2(stores), **{**DRILL, **options}))
        except SalesforceUnavailable as exc:  # exit 3: nothing lost, the next run resumes
            outcomes.append(f"unavailable: {exc}")
    return outcomes


@pytest.mark.parametrize(
    "seed",
    [*range(1, 4), *(pytest.param(s, marks=pytest.mark.long) for s in range(4, 40))],
)
def test_20_percent_faults_converge_within_three_runs(
    tmp_path: Path, reference: dict[str, Any], seed: int
) -> None:
    o, engine, stores = drill_org(tmp_path, "faults")
    o.faults = Faults(unavailable_rate=0.2, lock_rate=0.2, session_expiry_after=5, seed=seed)
    outcomes = converge(o, engine, stores, 3)
    o.faults = Faults()
    assert snapshot(o) == reference, outcomes
    assert queued(engine) == []


def test_a_failed_bulk_job_keeps_its_records_for_the_next_run(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    o, engine, stores = drill_org(tmp_path, "bulk-failed")
    o.faults = Faults(bulk_failure_rate=1.0)
    first = sync(engine, client_for(o), v2(stores), **DRILL)
    assert first.partial and first.applied is not None and first.applied.failed == 200  # Accounts and flags
    with Session(engine) as s:
        failed = s.exec(select(OutboxEntry).where(OutboxEntry.status == "failed")).all()
    assert {r.sobject for r in failed} == {"Account", "Risk_Flag__c"}
    assert all("the sandbox failed this job" in r.error and "Failed" in r.error for r in failed)
    o.faults = Faults()
    second = sync(engine, client_for(o), v2(stores), **DRILL)
    assert not second.partial
    assert_converged(o, engine, reference, stores)


def test_record_errors_in_a_bulk_job_are_matched_back_with_their_message(tmp_path: Path) -> None:
    o, engine, stores = drill_org(tmp_path, "bulk-errors")
    bad = frozenset(stores[40:45])
    job = SyntheticJob(version=2, flagged=frozenset(stores[i] for i in V2_FLAGGED), bad=bad)
    result = sync(engine, client_for(o), job, **DRILL)
    assert result.partial and result.applied is not None and result.applied.failed == 5
    with Session(engine) as s:
        failed = s.exec(select(OutboxEntry).where(OutboxEntry.status == "failed")).all()
    assert {r.key.split(":")[1] for r in failed} == bad
    assert all(
        r.error.startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: ") and "Severe" in r.error
        for r in failed
    )
    assert o.stats.snapshot()["bulk_create"] >= 2


def test_the_daily_limit_reached_mid_run_stops_cleanly_and_the_next_run_finishes(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    o, engine, stores = drill_org(tmp_path, "org-limit")
    o.set_api_usage(0, 10_000)
    o.set_api_usage(10_000 - 12)  # enough for the reads and part of the writes
    first = sync(engine, client_for(o), v2(stores), **DRILL)
    assert first.partial and first.applied is not None
    assert "daily API limit" in first.applied.stopped or "REQUEST_LIMIT_EXCEEDED" in first.applied.stopped
    assert first.applied.queued > 0
    o.set_api_usage(0)
    second = sync(engine, client_for(o), v2(stores), **DRILL)
    assert not second.partial and second.resumed is not None and second.resumed.sent > 0
    assert_converged(o, engine, reference, stores)


def test_a_limit_hit_while_reading_raises_for_the_runner_to_report_partial(tmp_path: Path) -> None:
    o, engine, stores = drill_org(tmp_path, "org-limit-reads")
    o.set_api_usage(o.api_limit)
    with pytest.raises(LimitReached):  # worker.runner maps it to exit 1 (partial)
        sync(engine, client_for(o), v2(stores), **DRILL)
    assert queued(engine) == []  # nothing planned, nothing half-sent


def test_the_run_budget_stops_cleanly_and_the_next_run_finishes(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    o, engine, stores = drill_org(tmp_path, "budget")
    client = client_for(o, budget_calls=12)
    first = sync(engine, client, v2(stores), **DRILL)
    assert first.partial and first.applied is not None and "budget is spent" in first.applied.stopped
    assert client.usage.calls <= 12 and first.applied.queued > 0
    assert o.bulk.jobs("59.0")["records"] == [] or all(
        j["state"] in ("JobComplete", "Failed", "Aborted") for j in o.bulk.jobs("59.0")["records"]
    )  # no job left half-run by the budget
    second = sync(engine, client_for(o), v2(stores), **DRILL)
    assert not second.partial
    assert_converged(o, engine, reference, stores)


if __name__ == "__main__":
    child(sys.argv[1])
