"""The real clock on the sandbox: a rerun with unchanged sources a minute or an hour later writes nothing.

Every job runs once on the planted portfolio, then again at +1 minute and at +1 hour on the same data.
The clock moves, the sources do not: whatever a job would write then depends on the wall clock (an age,
a "last pull" time), which rewrites records, churns field history and hides real changes from CSMs.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog

from jobs.registry import job_names
from sandbox.environment import SandboxEnvironment
from worker.app import App
from worker.commands import run_one
from worker.demo import WRITE_KINDS
from worker.logging import configure
from worker.runner import ExitCode, execute
from worker.settings import load_settings

pytestmark = pytest.mark.integration

# The stores whose records carry time: the menu sync (an age), the stale feed (its newest data and our
# pulls), receivables (days past due). The long variant runs the whole portfolio, every scenario.
STORES = ("NV-001", "CA-002", "IL-002")
LATER = (timedelta(minutes=1), timedelta(hours=1))


@dataclass
class Clocked:
    env: SandboxEnvironment
    app: App
    times: list[datetime]

    def writes(self) -> int:
        calls = self.env.org.stats.snapshot()
        return sum(calls.get(k, 0) for k in WRITE_KINDS)

    def run_all(self, stores: Sequence[str] | None) -> dict[str, tuple[int, list[Any]]]:
        """Every job once; per job its write calls and the changes it planned (op, object, key, fields)."""
        out: dict[str, tuple[int, list[Any]]] = {}
        for job in job_names():
            before = self.writes()
            result = execute(
                self.app, job, lambda run_id, job=job: run_one(self.app, job, run_id, stores=stores)
            )
            assert result.exit_code == ExitCode.OK, (job, result.error)
            summary = result.outcome.summary if result.outcome else None
            plan = getattr(summary, "plan", None)
            changes = [(c.op, c.sobject, c.key, sorted(c.fields)) for c in plan.changes] if plan else []
            out[job] = (self.writes() - before, changes)
        return out


def _world(tmp: Path, days: int, stores_only: bool) -> Iterator[Clocked]:
    log = io.StringIO()
    configure("warning", "json", log)
    with SandboxEnvironment.start(tmp, days=days, orders_per_day=25.0) as env:
        if stores_only:  # per-store endpoints only: the all-store feeds would pull the whole portfolio
            text = env.config_path.read_text().replace("portfolio_feeds = true", "portfolio_feeds = false")
            env.config_path.write_text(text.replace('scope = "all"', 'scope = "store"'))
        times = [env.portfolio.now]
        app = App(load_settings(env.config_path, {}), environ={}, clock=lambda: times[-1])
        yield Clocked(env, app, times)
    structlog.reset_defaults()


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clocked]:
    yield from _world(
        tmp_path_factory.mktemp("clock"), 63, stores_only=True
    )  # 8 weeks of baseline and a week


def _reruns_write_nothing(w: Clocked, stores: Sequence[str] | None) -> None:
    first = w.run_all(stores)
    assert sum(n for n, _ in first.values()) > 0
    open_flags = {f["Sync_Key__c"] for f in w.env.org.records("Risk_Flag__c") if f.get("Status__c") == "Open"}
    # the records whose text carries time are there: an age (menu sync), a stale feed, days past due
    assert {k.split(":")[0] + ":" + k.split(":")[1] for k in open_flags} >= {
        "NV-001:menu_sync", "CA-002:feed_stale/pos", "receivables:IL-002",
    }  # fmt: skip
    start = w.times[0]
    for later in LATER:
        w.times.append(start + later)
        again = w.run_all(stores)
        moved = {job: changes for job, (n, changes) in again.items() if n or changes}
        assert moved == {}, f"+{later}: {moved}"


def test_reruns_a_minute_and_an_hour_later_write_nothing(clocked: Clocked) -> None:
    _reruns_write_nothing(clocked, STORES)
    flag = next(
        f
        for f in clocked.env.org.records("Risk_Flag__c")
        if str(f.get("Sync_Key__c")).startswith("NV-001:menu_sync")
    )
    assert "Values:" not in flag["Evidence__c"] and flag["Evidence_Data__c"].startswith("{")


@pytest.mark.long
def test_reruns_of_the_whole_portfolio_write_nothing(tmp_path: Path) -> None:
    for w in _world(tmp_path, 120, stores_only=False):
        _reruns_write_nothing(w, None)


def test_only_a_store_whose_local_day_ended_moves_at_its_midnight(tmp_path: Path) -> None:
    """Nothing moves within a store's local day; at its midnight, only that store's daily records do.

    The first run is at noon UTC (06:00 in Chicago, 04:00 in Nevada and California). Just before Chicago's
    midnight, 18 hours later, nothing is written; just after it, only IL-002 (Chicago) moves: its new
    day's snapshot and what is counted in days (days past due), while the Pacific stores, still on the
    same local day, are untouched.
    """
    for w in _world(tmp_path, 63, stores_only=True):
        w.run_all(STORES)
        zone = ZoneInfo(w.env.portfolio.store("IL-002").timezone)
        local = w.times[0].astimezone(zone)
        midnight = datetime.combine(local.date() + timedelta(days=1), time(0), zone).astimezone(UTC)
        w.times.append(midnight - timedelta(minutes=2))
        before = w.run_all(STORES)
        assert {job: c for job, (n, c) in before.items() if n or c} == {}
        w.times.append(midnight + timedelta(minutes=2))
        after = w.run_all(STORES)
        keys = {key for _n, changes in after.values() for _op, _obj, key, _fields in changes}
        day = (local.date() + timedelta(days=1)).isoformat()
        assert f"IL-002:{day}" in keys  # the new local day's snapshot
        assert keys and all("IL-002" in key for key in keys), keys
