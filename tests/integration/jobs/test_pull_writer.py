"""The pull's writer: set-based groups, unchanged records left alone, one store's failed write kept apart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, inspect, text
from sqlmodel import Session

from connectors.base import Record, Signal, StoreRef
from connectors.memory import MemorySource
from jobs.pull import pull
from state import pull_writer
from state.engine import make_engine
from state.migrations import SCHEMA_VERSION, init_schema
from state.pull_writer import PullWriter, StoreMark, WriteUnit, record_digest
from tests.integration.jobs.test_pull import AZ, DIRECTORY, NOW, NV, cursor, facts, rows, sale, sales, state

pytestmark = pytest.mark.integration


def pulled_at(engine: Engine) -> dict[str, str]:
    return {r["key"]: str(r["pulled_at"]) for r in rows(engine, "source_record")}


def test_a_repull_rewrites_only_the_records_that_changed(tmp_path: Path) -> None:
    engine = state(tmp_path)
    first = sales("NV-001", 4)
    pull(engine, [DIRECTORY, MemorySource("pos", {"NV-001": {"transactions": first}})], NOW)
    before, totals = pulled_at(engine), facts(engine, "pos")
    changed = [*first[:3], sale("NV-001", 3, first[3].occurred_at, 99.0)]
    later = NOW + timedelta(hours=1)
    pos = MemorySource("pos", {"NV-001": {"transactions": changed}})
    pull(engine, [DIRECTORY, pos], later, full_refresh=True)
    after = pulled_at(engine)
    assert {k for k in after if after[k] != before[k]} == {"NV-001:3"}  # the other three were not written
    day = first[3].occurred_at.astimezone(UTC).date().isoformat()  # NV's zone puts it on the same day here
    revenue = {k[4]: v for k, v in facts(engine, "pos").items() if k[2] == "revenue"}
    old = {k[4]: v for k, v in totals.items() if k[2] == "revenue"}
    assert revenue[day] == pytest.approx(old[day] - first[3].facts[2].value + 99.0)
    assert {d: v for d, v in revenue.items() if d != day} == {d: v for d, v in old.items() if d != day}


def _unit(store: str, n: int) -> WriteUnit:
    records = [sale(store, i, NOW - timedelta(hours=i)) for i in range(n)]
    return WriteUnit("pos", "transactions", store, records, cursor=records[0].cursor)


def _statements(engine: Engine, stores: int) -> tuple[int, int]:
    """Statements one group of `stores` stores (3 records each, marks, cursors, freshness) costs:
    re-deriving the stores' facts (two a store), and all the others."""
    directory = {f"S{i}": StoreRef(f"S{i}", timezone="America/Phoenix") for i in range(stores)}
    group: list[Any] = []
    for store in directory:
        group += [StoreMark("pos", store), _unit(store, 3), StoreMark("pos", store, True, records=3)]
    group.append(WriteUnit("platform", "menu", "S0", signals=[Signal("menu_sync", "S0", NOW)]))
    count = rederiving = 0

    def counted(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        nonlocal count, rederiving
        if statement.startswith(("DELETE FROM metric_fact", "SELECT source_record.day, source_record.facts")):
            rederiving += 1
        else:
            count += 1

    writer = PullWriter(lambda: Session(engine), "run", NOW, directory)
    try:
        event.listen(engine, "before_cursor_execute", counted)
        with Session(engine) as session, session.begin():
            writer._write(session, group)
    finally:
        event.remove(engine, "before_cursor_execute", counted)
        writer.close()
    return rederiving, count


def test_a_group_costs_the_same_statements_for_5_stores_as_for_60_but_facts_per_store(tmp_path: Path) -> None:
    small = _statements(state(tmp_path, "small.db"), 5)
    engine = state(tmp_path, "large.db")
    large = _statements(engine, 60)
    assert large[1] == small[1] <= 12 and (small[0], large[0]) == (2 * 5, 2 * 60)
    assert len(rows(engine, "source_record")) == 180 and len(rows(engine, "cursor")) == 60
    fresh = rows(engine, "freshness", "WHERE source='pos'")
    assert len(fresh) == 60 and all(r["last_success_at"] and r["records_last_pull"] == 3 for r in fresh)


def test_a_store_whose_write_fails_keeps_its_cursor_and_the_others_are_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = state(tmp_path)
    original = PullWriter._records

    def failing(self: PullWriter, session: Session, source: str, stream: str, units: Any, *a: Any) -> None:
        if any(u.store_id == "AZ-001" for u in units):
            raise RuntimeError("disk full")
        original(self, session, source, stream, units, *a)

    monkeypatch.setattr(PullWriter, "_records", failing)
    monkeypatch.setattr(pull_writer, "GROUP_ITEMS", 10_000)  # all in as few groups as the queue allows
    pos = MemorySource("pos", {s: {"transactions": sales(s, 3)} for s in ("NV-001", "AZ-001")}, concurrency=2)
    report = pull(engine, [DIRECTORY, pos], NOW)
    assert report.status == "partial"
    [failed] = report.failed
    assert failed.store_id == "AZ-001" and "storing failed: RuntimeError: disk full" in failed.error
    assert cursor(engine, "pos", "transactions", "AZ-001") == ""
    assert cursor(engine, "pos", "transactions", "NV-001") != ""
    assert {k[1] for k in facts(engine, "pos")} == {"NV-001"}
    fresh = {r["store_id"]: r for r in rows(engine, "freshness", "WHERE source='pos'")}
    assert "disk full" in fresh["AZ-001"]["last_error"] and fresh["AZ-001"]["last_success_at"] is None
    assert fresh["NV-001"]["last_error"] == "" and fresh["NV-001"]["last_success_at"] is not None

    monkeypatch.setattr(PullWriter, "_records", original)  # the next run stores what was missed
    assert pull(engine, [DIRECTORY, pos], NOW + timedelta(hours=1)).status == "ok"
    assert {k[1] for k in facts(engine, "pos")} == {"NV-001", "AZ-001"}


def test_the_writer_drains_everything_queued_before_close(tmp_path: Path) -> None:
    engine = state(tmp_path)
    directory = {"S": StoreRef("S")}

    @contextmanager
    def session() -> Iterator[Session]:
        with Session(engine) as s, s.begin():
            yield s

    writer = PullWriter(session, "run", NOW, directory)
    for i in range(200):  # more than the queue holds: submit waits, nothing is dropped
        writer.submit(WriteUnit("pos", "transactions", "S", [sale("S", i, NOW - timedelta(minutes=i))]))
    writer.close()
    writer.close()  # idempotent
    assert len(rows(engine, "source_record")) == 200


def test_schema_version_2_adds_the_digest_to_an_older_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    init_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE source_record DROP COLUMN digest"))
        conn.execute(text("UPDATE schema_info SET version = 1"))
    assert init_schema(engine) == SCHEMA_VERSION == 4
    assert "digest" in {c["name"] for c in inspect(engine).get_columns("source_record")}
    assert init_schema(engine) == SCHEMA_VERSION  # idempotent


def test_schema_version_3_adds_the_implausible_hold_to_freshness(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    init_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE freshness DROP COLUMN implausible_at"))
        conn.execute(text("UPDATE schema_info SET version = 2"))
    assert init_schema(engine) == SCHEMA_VERSION
    assert "implausible_at" in {c["name"] for c in inspect(engine).get_columns("freshness")}


def test_records_for_a_store_the_directory_lacks_use_utc_days(tmp_path: Path) -> None:
    engine = state(tmp_path)
    late = datetime(2026, 11, 19, 23, 30, tzinfo=UTC)
    record = Record("transactions", "X:1", "X", late, "", ())
    writer = PullWriter(lambda: Session(engine), "run", NOW, {})
    with Session(engine) as session, session.begin():
        writer._write(session, [WriteUnit("pos", "transactions", "X", [record])])
    writer.close()
    assert [str(r["day"]) for r in rows(engine, "source_record")] == ["2026-11-19"]


def test_a_feed_of_every_store_marks_every_store_pulled(tmp_path: Path) -> None:
    """Billing, support and NPS are measured by their last good pull: a quiet store is not a stale one."""
    engine = state(tmp_path)
    feed = MemorySource("billing", {"*": {"invoices": [replace(sale("NV-001", 1, NOW), stream="invoices")]}})
    assert pull(engine, [DIRECTORY, feed], NOW).status == "ok"
    fresh = {r["store_id"]: r for r in rows(engine, "freshness", "WHERE source='billing'")}
    assert set(fresh) == {"*", "NV-001", "AZ-001"}
    assert all(r["last_success_at"] is not None for r in fresh.values())
    assert fresh["NV-001"]["newest_data_at"] is not None and fresh["AZ-001"]["newest_data_at"] is None


def test_the_digest_follows_every_part_of_a_stored_record() -> None:
    base = sale("NV-001", 1, NOW, 10.0)
    day = NOW.date()
    same = record_digest(sale("NV-001", 1, NOW, 10.0), day)
    assert record_digest(base, day) == same
    changed = [
        record_digest(base, day - timedelta(days=1)),
        record_digest(sale("NV-001", 1, NOW, 11.0), day),  # a fact
        record_digest(replace(base, attrs={"n": 2}), day),
        record_digest(replace(base, occurred_at=NOW + timedelta(minutes=1)), day),
        record_digest(replace(base, store_id="AZ-001"), day),
    ]
    assert same not in changed and len(set(changed)) == len(changed)


def test_an_unchanged_snapshot_is_not_even_looked_up(tmp_path: Path) -> None:
    engine = state(tmp_path)

    def menu(*stock: int, synced: datetime = NOW) -> MemorySource:
        items: list[Any] = [
            Record("menu_items", f"NV-001:m{i}", "NV-001", NOW, "", (), {"id": f"m{i}", "stock": n})
            for i, n in enumerate(stock)
        ]
        items.append(Signal("menu_sync", "NV-001", synced))
        return MemorySource(
            "platform",
            {"NV-001": {"menu_items": items}},
            directory=[NV, AZ],
            snapshot_streams=("menu_items",),
        )

    first = pull(engine, [menu(5, 0, 2)], NOW)
    assert first.writer["written"] == 3
    later = NOW + timedelta(hours=1)
    same = pull(engine, [menu(5, 0, 2, synced=later)], later)
    assert (same.writer["written"], same.writer["unchanged"]) == (0, 0) and same.records == 3
    sync = rows(engine, "freshness", "WHERE source='menu_sync'")
    assert [str(r["newest_data_at"])[:16] for r in sync] == [later.strftime("%Y-%m-%d %H:%M")]  # still news

    gone = pull(engine, [menu(5, 1)], later)  # m1 restocked, m2 taken off the menu
    assert gone.writer["written"] == 1 and gone.writer["unchanged"] == 1
    stock = {r["key"]: json.loads(r["attrs"])["stock"] for r in rows(engine, "source_record")}
    assert stock == {"NV-001:m0": 5, "NV-001:m1": 1}
    again = pull(engine, [menu(5, 1)], later, full_refresh=True)  # a full refresh looks everything up
    assert again.writer["unchanged"] == 2


def test_records_without_facts_re_derive_nothing_but_a_record_losing_its_facts_does(tmp_path: Path) -> None:
    engine = state(tmp_path)
    directory = {"NV-001": StoreRef("NV-001", timezone="America/Los_Angeles")}
    menu = [Record("menu_items", f"NV-001:m{i}", "NV-001", NOW, "", (), {"stock": i}) for i in range(5)]
    rederived: list[str] = []

    def counted(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("DELETE FROM metric_fact"):
            rederived.append(statement)

    writer = PullWriter(lambda: Session(engine), "run", NOW, directory)
    event.listen(engine, "before_cursor_execute", counted)
    try:
        with Session(engine) as session, session.begin():
            writer._write(session, [WriteUnit("platform", "menu_items", "NV-001", menu)])
        assert rederived == [], "a menu item has no facts: no day's metrics to rebuild"
        assert len(rows(engine, "source_record")) == 5
        # A sale is counted; re-stated without facts (voided at the source), its day loses it.
        counted_sale = sale("NV-001", 1, NOW - timedelta(hours=2))
        with Session(engine) as session, session.begin():
            writer._write(session, [WriteUnit("pos", "transactions", "NV-001", [counted_sale])])
        assert facts(engine, "pos") and len(rederived) == 1
        voided = replace(counted_sale, facts=())
        with Session(engine) as session, session.begin():
            writer._write(session, [WriteUnit("pos", "transactions", "NV-001", [voided])])
        assert len(rederived) == 2 and facts(engine, "pos") == {}
    finally:
        event.remove(engine, "before_cursor_execute", counted)
        writer.close()
