"""The pull at the boundary: a bad record is quarantined alone, stored + quarantined = received, and a
store whose data was implausible is held stale for that source until a clean pull."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.base import Fact, Record, Rejected, Runtime, StoreRef
from connectors.catalog import build_source
from connectors.memory import MemorySource
from jobs.accounts import build_account_data
from jobs.pull import pull
from mappings.evaluate import evaluate_account
from mappings.load import load_mapping_set
from tests.integration.jobs.test_pull import AZ, DIRECTORY, NOW, NV, cursor, rows, sales, state
from tests.unit.connectors.helpers import config

pytestmark = pytest.mark.integration


def analytics(store: str, day: int, sessions: float) -> Record:
    when = NOW - timedelta(days=day)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Record("analytics", f"{store}:{day}", store, when, stamp, (Fact("sessions", sessions),), {})


def test_one_bad_record_is_quarantined_alone_and_the_counts_add_up(tmp_path: Path) -> None:
    engine = state(tmp_path)
    good = sales("NV-001", 6)
    surrogate = Record("transactions", "NV-001:s", "NV-001", NOW, good[0].cursor, (), {"note": "a\ud800"})
    huge = Record("transactions", "NV-001:h", "NV-001", NOW, good[0].cursor, (), {"note": "x" * 10_000_000})
    wild = Record("transactions", "NV-001:w", "NV-001", NOW, good[0].cursor, (Fact("revenue", 1e40),))
    items = [
        *good[:3],
        surrogate,
        huge,
        wild,
        *good[3:],
        Rejected("transactions", "NV-001", {"id": 1}, "bad"),
    ]
    report = pull(engine, [DIRECTORY, MemorySource("pos", {"NV-001": {"transactions": items}})], NOW)
    assert report.status == "ok"
    assert report.tally["pos/transactions"] == {"received": 10, "stored": 6, "quarantined": 4, "failed": 0}
    assert report.unaccounted == {}
    assert report.data["streams"]["pos/transactions"]["received"] == 10
    assert len(rows(engine, "source_record", "WHERE source='pos'")) == 6
    quarantined = {r["reason"] for r in rows(engine, "quarantine")}
    assert "attrs.note: invalid Unicode: a lone surrogate U+D800 at position 1" in quarantined
    assert "attrs.note: 10,000,000 characters, over the limit of 32,768" in quarantined
    for row in rows(engine, "quarantine"):
        assert len(json.dumps(row["payload"])) < 20_000  # the quarantine row is bounded too
    assert (tmp_path / "state.db").stat().st_size < 2_000_000


def test_a_store_id_of_megabytes_never_enters_the_directory(tmp_path: Path) -> None:
    engine = state(tmp_path)
    directory = MemorySource("platform", {}, directory=[NV, AZ, StoreRef("S" * 10_000_000, "Huge")])
    report = pull(engine, [directory], NOW)
    assert sorted(r["store_id"] for r in rows(engine, "store")) == ["AZ-001", "NV-001"]
    (bad,) = rows(engine, "quarantine")
    assert bad["reason"] == "store: store_id: 10,000,000 characters, over the limit of 256"
    assert report.tally["platform/stores"] == {"received": 3, "stored": 2, "quarantined": 1, "failed": 0}


def test_a_cursor_from_the_far_future_cannot_stop_a_stream(tmp_path: Path) -> None:
    engine = state(tmp_path)
    good = sales("NV-001", 3)
    poisoned = Record("transactions", "NV-001:p", "NV-001", NOW, "9999-12-31T00:00:00Z", (Fact("orders", 1),))
    pull(engine, [DIRECTORY, MemorySource("pos", {"NV-001": {"transactions": [*good, poisoned]}})], NOW)
    assert cursor(engine, "pos", "transactions", "NV-001") == good[-1].cursor
    assert "is more than 2 days ahead" in rows(engine, "quarantine")[0]["reason"]


def test_implausible_data_holds_the_store_stale_for_that_source_until_a_clean_pull(tmp_path: Path) -> None:
    engine = state(tmp_path)
    clean = [analytics("NV-001", d, 900.0) for d in (3, 2)] + [analytics("AZ-001", d, 500.0) for d in (3, 2)]
    bad = analytics("NV-001", 1, 1e40)
    platform = MemorySource("platform", {}, directory=[NV, AZ], feed={"analytics": [*clean, bad]})
    pull(engine, [platform], NOW)
    held = {r["store_id"]: r["implausible_at"] for r in rows(engine, "freshness", "WHERE source='platform'")}
    assert held["NV-001"] is not None and held["AZ-001"] is None

    nv, az = build_account_data(engine, ["NV-001", "AZ-001"], {}, {}, NOW, history_days=30)
    assert nv.freshness["platform"] is None and nv.last_success["platform"] is None  # stale: held
    assert az.freshness["platform"] is not None
    # The health mapping holds the score (the previous one kept, Health_Stale__c set) instead of scoring.
    health = evaluate_account(load_mapping_set(), nv).health
    assert health is not None and health.stale and "platform" in health.stale_sources
    assert health.computed is None

    # The store's own pull of the same source does not release what the feed just marked.
    later = NOW + timedelta(hours=1)
    platform = MemorySource("platform", {}, directory=[NV, AZ], feed={"analytics": [bad]})
    pull(engine, [platform], later)
    (nv,) = build_account_data(engine, ["NV-001"], {}, {}, later, history_days=30)
    assert nv.freshness["platform"] is None

    fixed = analytics("NV-001", 1, 950.0)
    platform = MemorySource("platform", {}, directory=[NV, AZ], feed={"analytics": [fixed]})
    pull(engine, [platform], later + timedelta(hours=1))
    (nv,) = build_account_data(engine, ["NV-001"], {}, {}, later + timedelta(hours=1), history_days=30)
    assert nv.freshness["platform"] is not None


def test_two_records_sharing_one_key_in_a_pull_are_not_merged_silently(tmp_path: Path) -> None:
    """Ids collapsed to one value (`n/a`, an overflowed integer) used to merge tickets under one key."""
    engine = state(tmp_path)
    stamp = (NOW - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def ticket(subject: str, cursor: str = stamp) -> Record:
        return Record(
            "tickets", "NV-001:n/a", "NV-001", NOW, cursor, (Fact("tickets_opened", 1),), {"s": subject}
        )

    items = [
        ticket("printer on fire"),
        ticket("printer on fire"),  # the same record again (overlapping windows): stored once
        ticket("menu sync broken"),  # another ticket under the same id: quarantined, not merged
        ticket("printer on fire, update", later),  # a later version of the first: replaces it
    ]
    report = pull(engine, [DIRECTORY, MemorySource("support", {"NV-001": {"tickets": items}})], NOW)
    assert report.tally["support/tickets"] == {"received": 4, "stored": 3, "quarantined": 1, "failed": 0}
    (stored,) = rows(engine, "source_record", "WHERE source='support'")
    assert json.loads(stored["attrs"]) == {"s": "printer on fire, update"}
    (bad,) = rows(engine, "quarantine")
    assert "read twice in one pull with different content" in bad["reason"]


def test_a_csv_folder_source_keeps_the_same_books(tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    header = "store,date,orders,net_sales,register\n"
    (folder / "a.csv").write_text(header + "NV-001,2026-11-18,10,500.5,R1\nAZ-001,2026-11-18,4,90,R1\n")
    (folder / "b.csv").write_text(header + "NV-001,2026-11-19,1e40,5,R1\n")  # implausible orders
    (folder / "c.csv").write_text(header + "AZ-001,2026-11-19,3,50,R\x001\n")  # a NUL in the register
    options = {
        "folder": str(folder),
        "store_column": "store",
        "day_column": "date",
        "facts": [{"metric": "orders", "column": "orders"}, {"metric": "revenue", "column": "net_sales"}],
        "attrs": ["register"],
    }
    cfg = config(name="legacy_pos", kind="csv_folder", base_url="", options=options)
    csv = build_source(cfg, Runtime(now=lambda: NOW))
    report = pull(engine := state(tmp_path), [DIRECTORY, csv], NOW)
    assert report.tally["legacy_pos/daily"] == {"received": 4, "stored": 2, "quarantined": 2, "failed": 0}
    reasons = sorted(r["reason"] for r in rows(engine, "quarantine"))
    assert "fact orders: 1e+40 is implausible (outside [0, 100000])" in reasons
    assert any("invalid Unicode: a NUL character" in r for r in reasons)
    held = {
        r["store_id"]: r["implausible_at"] for r in rows(engine, "freshness", "WHERE source='legacy_pos'")
    }
    assert held.get("NV-001") is not None and held.get("AZ-001") is None
