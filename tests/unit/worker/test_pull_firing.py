"""A pull firing: the owner lists the directory once, then each shard pulls its stores, one shard the rest."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from jobs.pull import PullReport
from state.tables import StoreRow
from worker import commands, shards
from worker.app import App
from worker.scheduler import default_body
from worker.shards import Firing, ShardOptions

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STORES = [f"S-{i:03d}" for i in range(30)]


def test_the_owner_lists_the_directory_and_shards_pull_each_store_once(
    make_app: Callable[..., App], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(clock=lambda: NOW)
    listings: list[str] = []

    def refresh(raw: Sequence[Mapping[str, Any]], engine: Any, now: datetime, env: Any = None) -> int:
        listings.append("listed")  # a first pull: the directory is only known once listed
        with Session(engine) as s:
            for store in STORES:
                s.add(StoreRow(store_id=store, source="platform", seen_at=now))
            s.commit()
        return len(STORES)

    calls: list[dict[str, Any]] = []
    lock = threading.Lock()

    def run_pull(*args: Any, **kwargs: Any) -> PullReport:
        stores: Collection[str] | None = args[6]
        with lock:
            calls.append({"stores": None if stores is None else sorted(stores), **kwargs})
        return PullReport(args[3], NOW, 0.0, ())

    monkeypatch.setattr(shards, "refresh_directory", refresh)
    monkeypatch.setattr(commands.registry, "run_pull", run_pull)
    options = ShardOptions(shards=3, lease_ttl=timedelta(seconds=5), poll_seconds=0.02)
    result = Firing(app, "pull", "2026-03-02T09:00:00Z", default_body(app)("pull"), options=options).run()

    assert result.role == "owner" and result.run is not None and result.run.exit_code == 0
    assert listings == ["listed"]
    assert len(calls) == 3
    assert all(c["list_directory"] is False for c in calls)
    assert sum(c["account_wide"] for c in calls) == 1
    pulled = [s for c in calls for s in c["stores"]]
    assert sorted(pulled) == STORES  # every store in exactly one shard


def test_run_job_pulls_everything_and_lists_the_directory(
    make_app: Callable[..., App], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(clock=lambda: NOW)
    calls: list[dict[str, Any]] = []

    def run_pull(*args: Any, **kwargs: Any) -> PullReport:
        calls.append({"stores": args[6], **kwargs})
        return PullReport(args[3], NOW, 0.0, ())

    monkeypatch.setattr(commands.registry, "run_pull", run_pull)
    commands.run_one(app, "pull", "run-1")
    commands.run_one(app, "pull", "run-2", stores=["S-001"])
    assert calls == [
        {"stores": None, "list_directory": True, "account_wide": True},
        {"stores": ["S-001"], "list_directory": True, "account_wide": True},
    ]
