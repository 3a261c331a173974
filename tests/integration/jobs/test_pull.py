"""The pull job over in-memory sources: idempotence, crash resume, quarantine, isolation, freshness."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from connectors.base import Checkpoint, Fact, Record, Rejected, Signal, SourceError, StoreRef
from connectors.memory import MemoryConnector, MemorySource
from jobs.pull import PullReport, pull
from state.engine import make_engine
from state.migrations import init_schema

pytestmark = pytest.mark.integration


def state(tmp_path: Path, name: str = "state.db") -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    init_schema(engine)
    return engine


def facts(engine: Engine, source: str | None = None) -> dict[tuple[str, str, str, str, str], float]:
    query = "SELECT source, store_id, metric, dimension, day, value FROM metric_fact"
    with engine.connect() as conn:
        rows = conn.execute(text(query)).fetchall()
    return {(r[0], r[1], r[2], r[3], str(r[4])): r[5] for r in rows if source is None or r[0] == source}


def rows(engine: Engine, table: str, where: str = "") -> list[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(text(f"SELECT * FROM {table} {where}"))
        return [dict(r._mapping) for r in result]


def cursor(engine: Engine, source: str, stream: str, store_id: str) -> str:
    found = rows(engine, "cursor", f"WHERE source='{source}' AND stream='{stream}' AND store_id='{store_id}'")
    return str(found[0]["value"]) if found else ""


def sale(store: str, n: int, when: datetime, amount: float = 10.0, channel: str = "online") -> Record:
    cursor_value = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    facts_ = (Fact("orders", 1.0), Fact("orders", 1.0, f"channel={channel}"), Fact("revenue", amount))
    return Record("transactions", f"{store}:{n}", store, when, cursor_value, facts_, {"n": n})


NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
NV = StoreRef("NV-001", "Desert Bloom", "NV", "America/Los_Angeles", {"pos_kind": "dutchie_pos"})
AZ = StoreRef("AZ-001", "Saguaro", "AZ", "America/Phoenix", {"pos_kind": "treez_pos"})
DIRECTORY = MemorySource("platform", {}, directory=[NV, AZ])


def sales(
    store: str, count: int, start: datetime = NOW - timedelta(days=3), step_hours: int = 7
) -> list[Record]:
    return [sale(store, i, start + timedelta(hours=step_hours * i), 10.0 + i) for i in range(count)]


def checkpointed(records: list[Record], every: int) -> list[Record | Checkpoint]:
    """Records oldest first with a checkpoint after every `every`, as windowed connectors yield them."""
    out: list[Record | Checkpoint] = []
    for i, rec in enumerate(records, start=1):
        out.append(rec)
        if i % every == 0 or i == len(records):
            out.append(Checkpoint("transactions", rec.cursor))
    return out


def test_pull_writes_stores_records_facts_cursor_and_freshness(tmp_path: Path) -> None:
    engine = state(tmp_path)
    pos = MemorySource("pos", {"NV-001": {"transactions": sales("NV-001", 3)}})
    report = pull(engine, [pos, DIRECTORY], NOW)
    assert report.status == "ok" and report.records == 3
    assert {r["store_id"]: (r["state"], r["timezone"], r["source"]) for r in rows(engine, "store")} == {
        "NV-001": ("NV", "America/Los_Angeles", "platform"),
        "AZ-001": ("AZ", "America/Phoenix", "platform"),
    }
    assert len(rows(engine, "source_record")) == 3
    # Days are the store's local days: 18:00Z and 01:00Z next day are both the 17th in Las Vegas (UTC-8),
    # 08:00Z on the 18th is midnight there, so the third sale counts on the 18th.
    assert facts(engine, "pos") == {
        ("pos", "NV-001", "orders", "", "2026-11-17"): 2.0,
        ("pos", "NV-001", "orders", "channel=online", "2026-11-17"): 2.0,
        ("pos", "NV-001", "revenue", "", "2026-11-17"): 21.0,
        ("pos", "NV-001", "orders", "", "2026-11-18"): 1.0,
        ("pos", "NV-001", "orders", "channel=online", "2026-11-18"): 1.0,
        ("pos", "NV-001", "revenue", "", "2026-11-18"): 12.0,
    }
    assert cursor(engine, "pos", "transactions", "NV-001") == "2026-11-18T08:00:00Z"
    [fresh] = rows(engine, "freshness", "WHERE source='pos'")
    assert fresh["store_id"] == "NV-001" and fresh["last_error"] == "" and fresh["records_last_pull"] == 3
    assert str(fresh["newest_data_at"]).startswith("2026-11-18 08:00:00")
    assert str(fresh["last_success_at"]).startswith("2026-11-20 18:00:00")


def test_repulling_the_same_window_is_idempotent(tmp_path: Path) -> None:
    engine = state(tmp_path)
    pos = MemorySource("pos", {"NV-001": {"transactions": sales("NV-001", 5)}})
    pull(engine, [DIRECTORY, pos], NOW)
    first = facts(engine)
    pull(engine, [DIRECTORY, pos], NOW, full_refresh=True)
    pull(engine, [DIRECTORY, pos], NOW + timedelta(hours=1), since=NOW - timedelta(days=10))
    assert facts(engine) == first
    assert len(rows(engine, "source_record")) == 5


def test_a_record_that_moves_to_another_day_leaves_its_old_day(tmp_path: Path) -> None:
    engine = state(tmp_path)
    original = sale("NV-001", 1, datetime(2026, 11, 18, 20, tzinfo=UTC), 50.0)
    pull(engine, [DIRECTORY, MemorySource("pos", {"NV-001": {"transactions": [original]}})], NOW)
    moved = replace(
        original, occurred_at=datetime(2026, 11, 19, 20, tzinfo=UTC), cursor="2026-11-19T21:00:00Z"
    )
    pull(engine, [DIRECTORY, MemorySource("pos", {"NV-001": {"transactions": [moved]}})], NOW)
    revenue = {k[4]: v for k, v in facts(engine, "pos").items() if k[2] == "revenue"}
    assert revenue == {"2026-11-19": 50.0}


def test_crash_after_the_first_batch_resumes_from_the_stored_cursor(tmp_path: Path) -> None:
    records = sales("NV-001", 12, step_hours=5)
    data = {"NV-001": {"transactions": checkpointed(records, 4)}}
    # An uninterrupted pull is the reference.
    reference = state(tmp_path, "reference.db")
    pull(reference, [DIRECTORY, MemorySource("pos", data)], NOW, batch_size=4)
    # The crash: the source fails after the first batch and its checkpoint (5 items: 4 records + 1 checkpoint).
    engine = state(tmp_path)
    crashing = MemorySource("pos", data, fail_after={("NV-001", "transactions"): 6})
    report = pull(engine, [DIRECTORY, crashing], NOW, batch_size=4)
    [outcome] = [o for o in report.outcomes if o.source == "pos"]
    assert outcome.error == "transactions: injected failure"
    stored = cursor(engine, "pos", "transactions", "NV-001")
    assert stored == records[3].cursor  # the first batch's checkpoint, committed with it
    # Only the committed batch is stored: the fifth record was read but never committed.
    assert len(rows(engine, "source_record", "WHERE source='pos'")) == 4
    # The rerun resumes after the stored cursor and ends where the uninterrupted pull did.
    rerun = MemorySource("pos", data)
    pull(engine, [DIRECTORY, rerun], NOW, batch_size=4)
    assert rerun.connectors["NV-001"].seen_since["transactions"] == stored
    assert facts(engine) == facts(reference)
    assert cursor(engine, "pos", "transactions", "NV-001") == cursor(
        reference, "pos", "transactions", "NV-001"
    )
    assert len(rows(engine, "source_record", "WHERE source='pos'")) == 12


def test_lookback_rereads_before_the_cursor(tmp_path: Path) -> None:
    engine = state(tmp_path)
    pull(engine, [DIRECTORY, MemorySource("pos", {"NV-001": {"transactions": sales("NV-001", 2)}})], NOW)
    again = MemorySource("pos", {"NV-001": {"transactions": sales("NV-001", 2)}}, lookback_minutes=90)
    pull(engine, [DIRECTORY, again], NOW)
    assert again.connectors["NV-001"].seen_since["transactions"] == "2026-11-17T23:30:00Z"
    full = MemorySource("pos", {"NV-001": {"transactions": sales("NV-001", 2)}})
    pull(engine, [DIRECTORY, full], NOW, full_refresh=True)
    assert full.connectors["NV-001"].seen_since["transactions"] is None
    since = MemorySource("pos", {"NV-001": {"transactions": sales("NV-001", 2)}})
    pull(engine, [DIRECTORY, since], NOW, since=datetime(2026, 11, 1, tzinfo=UTC))
    assert since.connectors["NV-001"].seen_since["transactions"] == "2026-11-01T00:00:00Z"


def test_quarantine_keeps_reasons_and_unknown_stores(tmp_path: Path) -> None:
    engine = state(tmp_path)
    bad = Rejected(
        "transactions", "NV-001", {"transactionId": None}, "transactionId: expected an id, got None"
    )
    stray = sale("ZZ-999", 1, NOW - timedelta(hours=1))
    pos = MemorySource("pos", {"NV-001": {"transactions": [bad, stray, *sales("NV-001", 1)]}})
    report = pull(engine, [DIRECTORY, pos], NOW, run_id="run-q")
    assert report.rejected == 2 and report.records == 1
    reasons = {(r["store_id"], r["reason"]) for r in rows(engine, "quarantine")}
    assert reasons == {
        ("NV-001", "transactionId: expected an id, got None"),
        ("ZZ-999", "unknown store 'ZZ-999': not in the store directory"),
    }
    assert {r["run_id"] for r in rows(engine, "quarantine")} == {"run-q"}


def test_directory_entries_that_fail_validation_are_quarantined(tmp_path: Path) -> None:
    engine = state(tmp_path)
    directory = MemorySource(
        "platform",
        {},
        directory=[NV],
        extra_directory=[Rejected("stores", "", {"id": None}, "id: expected an id, got None")],
    )
    pull(engine, [directory], NOW)
    assert [r["reason"] for r in rows(engine, "quarantine")] == ["id: expected an id, got None"]


def test_one_failing_store_does_not_fail_the_others(tmp_path: Path) -> None:
    engine = state(tmp_path)
    pos = MemorySource(
        "pos",
        {"NV-001": {"transactions": sales("NV-001", 2)}, "AZ-001": {"transactions": sales("AZ-001", 2)}},
        broken_stores={
            "AZ-001": "pos: GET /reporting/transactions returned text/html, not JSON (first bytes: '<html>')"
        },
    )
    report = pull(engine, [DIRECTORY, pos], NOW)
    assert report.status == "partial"
    [failed] = report.failed
    assert failed.store_id == "AZ-001" and "text/html" in failed.error
    fresh = {r["store_id"]: r for r in rows(engine, "freshness", "WHERE source='pos'")}
    assert "text/html" in fresh["AZ-001"]["last_error"] and fresh["AZ-001"]["last_success_at"] is None
    assert fresh["NV-001"]["last_error"] == "" and fresh["NV-001"]["last_success_at"] is not None
    assert {k[1] for k in facts(engine, "pos")} == {"NV-001"}
    # The next good pull clears the error but keeps the earlier success time of the other store.
    pull(
        engine,
        [DIRECTORY, MemorySource("pos", {"AZ-001": {"transactions": sales("AZ-001", 2)}})],
        NOW + timedelta(hours=1),
    )
    fresh = {r["store_id"]: r for r in rows(engine, "freshness", "WHERE source='pos'")}
    assert fresh["AZ-001"]["last_error"] == ""


def test_one_failing_stream_keeps_the_others(tmp_path: Path) -> None:
    engine = state(tmp_path)
    pos = MemorySource(
        "pos",
        {"NV-001": {"inventory": [sale("NV-001", 99, NOW)], "transactions": sales("NV-001", 2)}},
        fail_after={("NV-001", "inventory"): 0},
    )
    report = pull(engine, [DIRECTORY, pos], NOW)
    [outcome] = report.outcomes[2:]
    assert outcome.error == "inventory: injected failure" and outcome.records == 2


def test_snapshot_streams_forget_items_no_longer_listed(tmp_path: Path) -> None:
    engine = state(tmp_path)

    def item(n: int) -> Record:
        return Record("menu_items", f"NV-001:m{n}", "NV-001", NOW, "", (), {"id": f"m{n}", "stock": n})

    first = MemorySource(
        "platform",
        {"NV-001": {"menu_items": [item(1), item(2), item(3)]}},
        directory=[NV, AZ],
        snapshot_streams=("menu_items",),
    )
    pull(engine, [first], NOW)
    second = MemorySource(
        "platform",
        {"NV-001": {"menu_items": [item(1), item(3)]}},
        directory=[NV, AZ],
        snapshot_streams=("menu_items",),
    )
    pull(engine, [second], NOW + timedelta(hours=1))
    assert sorted(r["key"] for r in rows(engine, "source_record")) == ["NV-001:m1", "NV-001:m3"]
    assert second.connectors["NV-001"].seen_since["menu_items"] is None  # snapshots are always read whole


def test_signals_become_freshness_rows(tmp_path: Path) -> None:
    engine = state(tmp_path)
    synced = datetime(2026, 11, 20, 6, tzinfo=UTC)
    plat = MemorySource(
        "platform", {"NV-001": {"menu_items": [Signal("menu_sync", "NV-001", synced)]}}, directory=[NV]
    )
    pull(engine, [plat], NOW)
    [row] = rows(engine, "freshness", "WHERE source='menu_sync'")
    assert row["store_id"] == "NV-001" and str(row["newest_data_at"]).startswith("2026-11-20 06:00:00")


def test_stores_are_pulled_in_parallel_up_to_the_source_limit(tmp_path: Path) -> None:
    engine = state(tmp_path)
    stores = [StoreRef(f"NV-{i:03d}", timezone="America/Los_Angeles") for i in range(8)]
    barrier = threading.Barrier(4, timeout=5)

    class Waiting(MemoryConnector):
        def iter_records(self, stream: str, since: str | None):  # type: ignore[no-untyped-def]
            barrier.wait()  # only returns when 4 stores are in flight at once
            yield from super().iter_records(stream, since)

    class Parallel(MemorySource):
        def connector(self, store: StoreRef) -> MemoryConnector:
            return Waiting(store, self.data.get(store.store_id, {}))

    data = {s.store_id: {"transactions": sales(s.store_id, 1)} for s in stores}
    report = pull(
        engine, [MemorySource("platform", {}, directory=stores), Parallel("pos", data, concurrency=4)], NOW
    )
    assert report.ok, report.summary()
    assert report.records == 8


def test_report_for_the_cli(tmp_path: Path) -> None:
    engine = state(tmp_path)
    pos = MemorySource(
        "pos", {"NV-001": {"transactions": sales("NV-001", 1)}}, broken_stores={"AZ-001": "boom"}
    )
    pos.data = {**pos.data, "AZ-001": {}}  # type: ignore[misc]
    report = pull(engine, [DIRECTORY, pos], NOW, run_id="r1")
    assert isinstance(report, PullReport)
    assert report.rows()[2][:4] == ("pos", "AZ-001", 0, 0) and report.rows()[2][5] == "boom"
    assert (
        report.summary()
        .splitlines()[0]
        .startswith("pull r1: 4 store pulls, 1 records, 0 quarantined, 1 failed")
    )
    assert report.counts()["failed_stores"] == 1


def test_a_directory_outage_keeps_the_stored_directory(tmp_path: Path) -> None:
    engine = state(tmp_path)
    pull(engine, [DIRECTORY], NOW)

    class Down(MemorySource):
        def stores(self, directory):  # type: ignore[no-untyped-def]
            raise SourceError("platform: GET /v1/stores failed after 6 attempt(s)")

    pos = MemorySource("pos", {"NV-001": {"transactions": sales("NV-001", 1)}})
    report = pull(engine, [Down("platform", {}, directory=[NV]), pos], NOW)
    assert report.source_errors == {"platform": "platform: GET /v1/stores failed after 6 attempt(s)"}
    assert report.records == 1 and report.status == "partial"
    assert facts(engine, "pos")


def test_fact_values_that_cannot_be_stored_are_quarantined(tmp_path: Path) -> None:
    engine = state(tmp_path)
    bad = Record("transactions", "NV-001:x", "NV-001", NOW, "", (Fact("revenue", float("nan")),))
    naive = Record("transactions", "NV-001:y", "NV-001", datetime(2026, 11, 20, 10), "", ())
    pull(engine, [DIRECTORY, MemorySource("pos", {"NV-001": {"transactions": [bad, naive]}})], NOW)
    assert sorted(r["reason"] for r in rows(engine, "quarantine")) == [
        "fact revenue: not a finite number (nan)",
        "occurred_at has no time zone",
    ]
