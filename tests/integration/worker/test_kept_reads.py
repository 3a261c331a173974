"""Kept portfolio reads in one replica: the shards of a firing, and the firings after it, share one
read of the Accounts and of each object's open records over real HTTP, until a write makes it stale;
a rerun still writes nothing and every record lands once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from jobs.portfolio import PortfolioReads
from jobs.sync import run_job
from state.engine import Engine
from tests.integration.org_fixtures import (
    NOW,
    ServedOrg,
    SyntheticJob,
    job_options,
    score_of,
    seed_stores,
    snapshot,
    state_engine,
    write_calls,
)
from worker.app import App
from worker.runner import Outcome
from worker.settings import Settings
from worker.shards import Firing, ShardOptions, ShardTask

pytestmark = pytest.mark.integration
SHARDS = 4


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = state_engine(tmp_path / "state.db")
    yield engine
    engine.dispose()


def app_for(engine: Engine, tmp_path: Path) -> App:
    settings = Settings.model_validate(
        {
            "state": {"url": str(engine.url)},
            "salesforce": {"auth": "client_credentials", "client_id": "app", "client_secret": "unused-here"},
            "metrics": {"port": 0},
        }
    )
    return App(settings, environ={}, clock=lambda: NOW)


class Cycle:
    """Firings of the synthetic job, every shard run by this one process, with or without kept reads."""

    def __init__(self, app: App, served: ServedOrg, reads: PortfolioReads | None) -> None:
        self.app, self.served, self.reads = app, served, reads
        self.client = served.client()
        self.job = SyntheticJob()
        self.fired = 0

    def fire(self) -> tuple[int, dict[str, int]]:
        """One firing: the queries it made and the records it read, by object."""
        before_calls = self.served.org.stats.snapshot()["query"]
        before = dict(self.served.org.stats.volume()["read"])

        def body(task: ShardTask) -> Outcome:
            result = run_job(
                self.app.engine, self.client, self.job, task.run_id, NOW, job_options(),
                stores=task.stores, reads=self.reads,
            )  # fmt: skip
            return Outcome(counts=result.data, partial=result.partial)

        self.fired += 1
        options = ShardOptions(shards=SHARDS, poll_seconds=0.05)
        result = Firing(self.app, "account_health", f"f{self.fired}", body, options=options).run()
        assert result.role == "owner" and len(result.shards_run) == SHARDS
        after = self.served.org.stats.volume()["read"]
        return self.served.org.stats.snapshot()["query"] - before_calls, {
            o: n - before.get(o, 0) for o, n in after.items() if n - before.get(o, 0)
        }


def test_shards_and_later_firings_share_one_read_until_a_write(
    engine: Engine, served_org: ServedOrg, tmp_path: Path
) -> None:
    stores = seed_stores(engine, served_org.org, 60)
    cycle = Cycle(app_for(engine, tmp_path), served_org, PortfolioReads.of(engine, timedelta(minutes=10)))
    cycle.fire()  # the first firing creates a flag and a Task per store and scores every Account
    state = snapshot(served_org.org)
    assert state["counts"] == {"Account": 60, "Risk_Flag__c": 60, "Task": 60}
    writes = write_calls(served_org.org)

    queries, read = cycle.fire()  # nothing changed: the four shards share one read of each object
    assert write_calls(served_org.org) == writes
    assert queries == 3 and read == {"Account": 60, "Risk_Flag__c": 60, "Task": 60}

    queries, read = cycle.fire()  # the next firing (or job) in the process: still nothing written since
    assert (queries, read) == (0, {})
    assert write_calls(served_org.org) == writes

    cycle.job.version = 2  # every score and flag changes: each shard's writes make the next one read again
    cycle.fire()
    assert write_calls(served_org.org) > writes
    state = snapshot(served_org.org)
    assert state["counts"] == {"Account": 60, "Risk_Flag__c": 60, "Task": 60}  # updated, not duplicated
    assert {s: state["Account"][s]["Health_Score__c"] for s in stores} == {s: score_of(s, 2) for s in stores}
    writes = write_calls(served_org.org)
    queries, read = cycle.fire()  # the writes are seen: read once more, and nothing left to write
    assert write_calls(served_org.org) == writes
    assert queries == 2 and read == {"Account": 60, "Risk_Flag__c": 60}  # no Task was written: still kept


def test_without_kept_reads_each_shard_reads_for_itself(
    engine: Engine, served_org: ServedOrg, tmp_path: Path
) -> None:
    seed_stores(engine, served_org.org, 60)
    cycle = Cycle(app_for(engine, tmp_path), served_org, None)
    cycle.fire()
    writes = write_calls(served_org.org)
    queries, read = cycle.fire()
    assert write_calls(served_org.org) == writes
    assert queries == SHARDS * 3 and read == {"Account": 60 * SHARDS, "Risk_Flag__c": 60, "Task": 60}
