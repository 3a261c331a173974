"""Lock and lease races on a real PostgreSQL: many contenders at the same instant, exactly one winner each."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import Engine

from state import leases

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
T = TypeVar("T")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


@pytest.fixture
def engine(pg_engine: Engine) -> Engine:
    return pg_engine


def race(n: int, fn: Callable[[int], T]) -> list[T]:
    """Run fn(0..n-1) on n threads released together."""
    gate = threading.Barrier(n)

    def go(i: int) -> T:
        gate.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_one_of_many_simultaneous_acquirers_gets_the_lock(engine: Engine) -> None:
    got = race(8, lambda i: leases.acquire_lock(engine, "pull", f"replica-{i}", NOW, TTL).ok)
    assert got.count(True) == 1


def test_one_of_many_gets_an_expired_lock(engine: Engine) -> None:
    assert leases.acquire_lock(engine, "pull", "dead", NOW, TTL).ok
    later = NOW + TTL + timedelta(seconds=1)
    results = race(8, lambda i: leases.acquire_lock(engine, "pull", f"replica-{i}", later, TTL))
    winners = [r for r in results if r.ok]
    assert len(winners) == 1
    assert winners[0].previous is not None and winners[0].previous.owner == "dead"


def test_one_replica_opens_a_firing(engine: Engine) -> None:
    opened = race(8, lambda i: leases.open_firing(engine, "pull", "2026-03-02T09:00:00Z", f"r{i}", NOW))
    assert opened.count(True) == 1


def test_simultaneous_claimers_never_get_the_same_shard(engine: Engine) -> None:
    key = "2026-03-02T09:00:00Z"
    leases.open_firing(engine, "pull", key, "r0", NOW)
    leases.publish_shards(engine, "pull", key, "run", [[f"S-{i}"] for i in range(40)], NOW)

    def claim_all(i: int) -> list[int]:
        mine = []
        while (claim := leases.claim_shard(engine, "pull", key, f"r{i}", NOW, TTL)) is not None:
            mine.append(claim.shard)
        return mine

    claimed = race(8, claim_all)
    every = Counter(s for mine in claimed for s in mine)
    assert sorted(every) == list(range(40)) and set(every.values()) == {1}
    assert sum(1 for mine in claimed if mine) >= 2  # SKIP LOCKED let them work side by side
    assert leases.progress(engine, "pull", key, NOW).running == 40
