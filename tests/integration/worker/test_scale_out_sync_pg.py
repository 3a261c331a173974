"""The real write path, sharded: three replica processes run a mapping job's shards against an HTTPS sandbox
org through one PostgreSQL state store; every record lands once, and a rerun writes nothing.

Run as a module, this file is also the replica process:
`python -m tests.integration.worker.test_scale_out_sync_pg replica '<json>'`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs import accounts as accounts_module
from jobs.sync import run_job
from state.engine import make_engine
from state.migrations import init_schema
from tests.integration.org_fixtures import (
    NOW,
    ServedOrg,
    SyntheticJob,
    job_options,
    jwt_client,
    score_of,
    seed_stores,
    snapshot,
    write_calls,
)
from tests.integration.pg import fresh_schema, query
from tests.integration.worker.test_scale_out_pg import ROOT, wait_for
from worker.app import App
from worker.logging import configure
from worker.runner import Outcome
from worker.settings import Settings
from worker.shards import Firing, ShardOptions, ShardTask

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
JOB = "account_health"  # the ledger's name for it; the body runs the synthetic mapping job


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


def start(tmp: Path, name: str, **args: Any) -> subprocess.Popen[str]:
    spec = json.dumps({"name": name, "tmp": str(tmp), **args})
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.worker.test_scale_out_sync_pg", "replica", spec],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / f"{name}.log").open("w"),
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def replica_main(spec: dict[str, Any]) -> None:
    configure("info", "json")
    # Pages of 5 Accounts make 10-store shards read only their own Accounts, as at 10,000 stores.
    accounts_module.QUERY_PAGE = spec["query_page"]
    tmp = Path(spec["tmp"])
    settings = Settings.model_validate(
        {
            "state": {"url": spec["url"]},
            "salesforce": {"auth": "client_credentials", "client_id": "app", "client_secret": "unused-here"},
            "metrics": {"port": 0},
        }
    )
    app = App(settings, environ={}, clock=lambda: NOW)
    engine = make_engine(spec["url"])
    client = jwt_client(spec["org_url"], spec["ca"], Path(spec["key"]).read_text())
    job = SyntheticJob()

    def body(task: ShardTask) -> Outcome:
        result = run_job(engine, client, job, task.run_id, NOW, job_options(), stores=task.stores)
        return Outcome(counts=result.data, partial=result.partial, api_calls=client.usage.calls)

    (tmp / f"{spec['name']}.ready").write_text("")
    options = ShardOptions(shards=spec["shards"], lease_ttl=timedelta(seconds=10), poll_seconds=0.1)
    for i, fire_key in enumerate(spec["fire_keys"]):  # one process, several firings: start-up costs seconds
        wait_for(tmp / f"go{i}", timeout=30)
        result = Firing(app, JOB, fire_key, body, options=options, owner=f"replica-{spec['name']}").run()
        out = tmp / f"{spec['name']}-{i}.json"
        out.with_suffix(".tmp").write_text(json.dumps({"role": result.role, "shards": result.shards_run}))
        out.with_suffix(".tmp").rename(out)


def firing(tmp: Path, i: int, names: str = "abc") -> list[dict[str, Any]]:
    """Let every replica run firing `i`, and collect what each did."""
    for name in names:
        wait_for(tmp / f"{name}.ready", timeout=30)
    (tmp / f"go{i}").write_text("")
    results = []
    for name in names:
        wait_for(tmp / f"{name}-{i}.json", timeout=20)
        results.append(json.loads((tmp / f"{name}-{i}.json").read_text()))
    return results


def test_three_replicas_apply_a_mapping_job_exactly_once(
    pg_url: str, served_org: ServedOrg, tmp_path: Path
) -> None:
    engine = make_engine(pg_url)
    init_schema(engine)
    stores = seed_stores(engine, served_org.org, 60)
    key_path = tmp_path / "jwt.pem"
    key_path.write_text(served_org.keys.private_key_pem)
    args = {"url": pg_url, "org_url": served_org.url, "ca": str(served_org.ca_path), "key": str(key_path),
            "fire_keys": ["2026-03-04T15:30:00Z", "2026-03-04T16:30:00Z"], "shards": 6,
            "query_page": 5}  # fmt: skip
    procs = {name: start(tmp_path, name, **args) for name in "abc"}
    try:
        results = firing(tmp_path, 0)
        assert sorted(r["role"] for r in results) == ["helper", "helper", "owner"]
        state = snapshot(served_org.org)
        assert state["counts"] == {"Account": 60, "Risk_Flag__c": 60, "Task": 60}  # one of each, no duplicate
        assert {s: state["Account"][s]["Health_Score__c"] for s in stores} == {
            s: score_of(s, 1) for s in stores
        }
        assert query(pg_url, "SELECT status, count(*) FROM outbox GROUP BY status") == [("sent", 180)]
        ((status, counts),) = query(pg_url, "SELECT status, counts FROM run")
        assert status == "ok"
        assert counts["accounts"] == 60 and counts["shards"]["done"] == 6
        assert counts["applied"]["created"] == 120 and counts["applied"]["updated"] == 60

        writes = write_calls(served_org.org)
        again = firing(tmp_path, 1)  # the next hour, nothing changed since
        roles = sorted(r["role"] for r in again)  # with nothing to write, a slow replica may arrive late
        assert roles.count("owner") == 1 and set(roles) <= {"owner", "helper", "late"}
        assert write_calls(served_org.org) == writes  # a rerun with no change makes zero write calls
        assert snapshot(served_org.org)["counts"] == {"Account": 60, "Risk_Flag__c": 60, "Task": 60}
        assert [r[0] for r in query(pg_url, "SELECT status FROM run")] == ["ok", "ok"]
    finally:
        for name, proc in procs.items():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            assert proc.returncode == 0, (tmp_path / f"{name}.log").read_text()[-3000:]
        engine.dispose()


if __name__ == "__main__":
    if sys.argv[1:2] == ["replica"]:
        replica_main(json.loads(sys.argv[2]))
