"""The pull runs its sources side by side, the directory listed first, and splits into shards exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ALL_STORES, Record, Rejected, SourceError, StoreRef
from connectors.memory import MemoryConnector, MemorySource
from jobs.pull import pull
from tests.integration.jobs.test_pull import AZ, DIRECTORY, NOW, NV, facts, rows, sales, state
from worker.shards import assign

pytestmark = pytest.mark.integration


class Meeting(MemorySource):
    """A source whose stores only get going once every source of the barrier is in flight."""

    def __init__(self, name: str, data: Any, barrier: threading.Barrier, events: list[str]) -> None:
        super().__init__(name, data, concurrency=1)
        self.barrier, self.events = barrier, events

    def stores(self, directory: Sequence[StoreRef]) -> Sequence[StoreRef | Rejected]:
        self.events.append(f"{self.name} listed {sorted(s.store_id for s in directory)}")
        return super().stores(directory)

    def connector(self, store: StoreRef) -> MemoryConnector:
        source = self

        class Waiting(MemoryConnector):
            def iter_records(self, stream: str, since: str | None):  # type: ignore[no-untyped-def]
                source.barrier.wait()  # raises BrokenBarrierError unless the other source runs meanwhile
                yield from super().iter_records(stream, since)

        return Waiting(store, self.data.get(store.store_id, {}))


def test_sources_run_side_by_side_after_the_directory(tmp_path: Path) -> None:
    engine = state(tmp_path)
    events: list[str] = []
    barrier = threading.Barrier(2, timeout=5)

    class Listing(MemorySource):
        def stores(self, directory: Sequence[StoreRef]) -> Sequence[StoreRef | Rejected]:
            events.append("directory listed")
            return super().stores(directory)

    pos = Meeting("pos", {"NV-001": {"transactions": sales("NV-001", 2)}}, barrier, events)
    billing = Meeting("billing", {"AZ-001": {"transactions": sales("AZ-001", 3)}}, barrier, events)
    report = pull(engine, [pos, billing, Listing("platform", {}, directory=[NV, AZ])], NOW)

    assert report.ok, report.summary()
    assert events[0] == "directory listed"
    assert sorted(events[1:]) == [
        "billing listed ['AZ-001', 'NV-001']",
        "pos listed ['AZ-001', 'NV-001']",
    ]
    assert {(o.source, o.store_id): o.records for o in report.outcomes if o.records} == {
        ("pos", "NV-001"): 2,
        ("billing", "AZ-001"): 3,
    }
    # Outcomes keep the sources' order, directory first, whichever finished first.
    assert [o.source for o in report.outcomes][:2] == ["platform", "platform"]


def test_a_failing_source_does_not_stop_the_others(tmp_path: Path) -> None:
    engine = state(tmp_path)

    class Down(MemorySource):
        def stores(self, directory: Sequence[StoreRef]) -> Sequence[StoreRef | Rejected]:
            raise SourceError("support: GET /v1/accounts failed after 6 attempt(s)")

    pos = MemorySource("pos", {"NV-001": {"transactions": sales("NV-001", 2)}})
    broken = MemorySource("nps", {"NV-001": {}, "AZ-001": {}}, broken_stores={"AZ-001": "bad key"})
    report = pull(engine, [DIRECTORY, Down("support", {}), pos, broken], NOW)

    assert report.source_errors == {"support": "support: GET /v1/accounts failed after 6 attempt(s)"}
    assert [(o.source, o.store_id, o.error) for o in report.failed] == [("nps", "AZ-001", "bad key")]
    assert report.records == 2 and report.status == "partial"
    assert facts(engine, "pos")
    fresh = {(r["source"], r["store_id"]): r["last_error"] for r in rows(engine, "freshness")}
    assert fresh[("nps", "AZ-001")] == "bad key" and fresh[("nps", "NV-001")] == ""


def test_one_store_of_a_source_failing_keeps_its_other_stores(tmp_path: Path) -> None:
    engine = state(tmp_path)
    pos = MemorySource(
        "pos",
        {"NV-001": {"transactions": sales("NV-001", 2)}, "AZ-001": {"transactions": sales("AZ-001", 4)}},
        fail_after={("AZ-001", "transactions"): 1},
    )
    billing = MemorySource("billing", {"AZ-001": {"transactions": sales("AZ-001", 1)}})
    report = pull(engine, [DIRECTORY, pos, billing], NOW, batch_size=1)
    by = {(o.source, o.store_id): o for o in report.outcomes}
    assert by[("pos", "NV-001")].ok and by[("billing", "AZ-001")].ok
    assert by[("pos", "AZ-001")].error == "transactions: injected failure"
    assert len(rows(engine, "quarantine")) == 0


def stores_of(n: int) -> list[StoreRef]:
    return [StoreRef(f"NV-{i:03d}", timezone="America/Los_Angeles") for i in range(n)]


def account_wide(stores: Sequence[StoreRef]) -> MemorySource:
    """A CSV-like source: one listing (`*`) whose rows name their own stores."""
    return MemorySource("files", {ALL_STORES: {"transactions": [sales(s.store_id, 1)[0] for s in stores]}})


def test_a_firings_shards_pull_every_store_once_and_account_wide_sources_once(tmp_path: Path) -> None:
    engine = state(tmp_path)
    directory = stores_of(12)
    data = {s.store_id: {"transactions": sales(s.store_id, 1)} for s in directory}
    platform = MemorySource("platform", data, directory=directory)
    pull(engine, [platform], NOW)  # the firing's owner listed the directory
    listed: list[str] = []

    class Counting(MemorySource):
        def stores(self, directory: Sequence[StoreRef]) -> Sequence[StoreRef | Rejected]:
            listed.append(self.name)
            return super().stores(directory)

    shards = assign({s.store_id: s.store_id for s in directory}, 3)
    pulled: Counter[tuple[str, str]] = Counter()
    for n, shard in enumerate(shards):
        sources = [
            Counting("platform", data, directory=directory),
            MemorySource("pos", data),
            account_wide(directory),
        ]
        report = pull(engine, sources, NOW, stores=shard, list_directory=False, account_wide=n == 0)
        assert report.ok, report.summary()
        pulled.update((o.source, o.store_id) for o in report.outcomes)

    assert listed == []  # no shard listed the directory again
    assert set(pulled.values()) == {1}
    assert {s for (source, s) in pulled if source == "platform"} == {s.store_id for s in directory}
    assert {s for (source, s) in pulled if source == "pos"} == {s.store_id for s in directory}
    assert [s for (source, s) in pulled if source == "files"] == [ALL_STORES]


def test_a_shard_pulls_the_directory_sources_latest_listing_only(tmp_path: Path) -> None:
    engine = state(tmp_path)
    first, second = stores_of(3), stores_of(2)  # NV-002 left the platform
    data = {s.store_id: {"transactions": sales(s.store_id, 1)} for s in first}
    pull(engine, [MemorySource("platform", {}, directory=first)], NOW)
    pull(engine, [MemorySource("platform", {}, directory=second)], NOW.replace(hour=19))
    report = pull(
        engine,
        [MemorySource("platform", data, directory=first)],
        NOW.replace(hour=20),
        stores=[s.store_id for s in first],
        list_directory=False,
    )
    assert sorted(o.store_id for o in report.outcomes) == ["NV-000", "NV-001"]


def test_records_of_side_by_side_sources_land_in_their_own_facts(tmp_path: Path) -> None:
    engine = state(tmp_path)
    directory = stores_of(6)
    many = {s.store_id: {"transactions": sales(s.store_id, 5)} for s in directory}

    def renamed(records: list[Any], prefix: str) -> list[Record]:
        return [
            Record(r.stream, f"{prefix}{r.key}", r.store_id, r.occurred_at, r.cursor, r.facts)
            for r in records
        ]

    other = {k: {"transactions": renamed(list(v["transactions"]), "b:")} for k, v in many.items()}
    report = pull(
        engine,
        [
            MemorySource("platform", {}, directory=directory),
            MemorySource("pos", many),
            MemorySource("billing", other),
        ],
        NOW,
        batch_size=2,
    )
    assert report.ok and report.records == 60
    pos, billing = facts(engine, "pos"), facts(engine, "billing")
    assert len(pos) == len(billing) > 0
    assert sum(pos.values()) == sum(billing.values())
