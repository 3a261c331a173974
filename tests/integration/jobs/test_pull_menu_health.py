"""Menu health over pulled data: top sellers unavailable online, hidden/out-of-stock items, broken images."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from connectors.base import Record, Signal, StoreRef
from connectors.memory import MemorySource
from jobs import menu_health
from jobs.menu_health import assess, run_menu_health
from jobs.pull import pull
from tests.integration.jobs.test_pull import facts, rows, state

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
NV = StoreRef("NV-001", "Desert Bloom", "NV", "America/Los_Angeles", {"pos_kind": "dutchie_pos"})
SYNC = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
PRODUCTS = {  # POS product → (name, category, units per day, POS stock)
    "9": ("Blue Dream 3.5g", "flower", 9, 24),
    "10": ("Midnight Berry Gummies", "edibles", 7, 60),
    "11": ("Live Resin Cart", "vapes", 5, 0),
    "12": ("Sour Peach Gummies", "edibles", 4, 5),
    "13": ("Grape Tincture", "tinctures", 1, 8),
}


def pos_records() -> dict[str, list[Any]]:
    sales = []
    for d in range(20):  # 20 days of sales; only the last 14 count
        when = NOW - timedelta(days=d, hours=2)
        items = [
            {"product_id": pid, "category": cat, "quantity": float(units), "amount": 10.0}
            for pid, (_, cat, units, _) in PRODUCTS.items()
        ]
        if d >= 14:  # an old best seller that no longer sells
            items = [{"product_id": "99", "category": "flower", "quantity": 500.0, "amount": 10.0}]
        sales.append(
            Record(
                "transactions",
                f"NV-001:{d}",
                "NV-001",
                when,
                when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                (),
                {"items": items},
            )
        )
    stock = [
        Record(
            "inventory",
            f"NV-001:i{pid}",
            "NV-001",
            NOW,
            "",
            (),
            {"product_id": pid, "name": name, "category": cat, "quantity": float(qty)},
        )
        for pid, (name, cat, _, qty) in PRODUCTS.items()
    ]
    return {"transactions": sales, "inventory": stock}


def menu_item(
    mid: str, pos_id: str, name: str, category: str, stock: float, visible: bool, image: str
) -> Record:
    attrs = {
        "id": mid,
        "pos_product_id": pos_id,
        "name": name,
        "category": category,
        "stock": stock,
        "visible": visible,
        "image_url": image,
    }
    return Record("menu_items", f"NV-001:{mid}", "NV-001", NOW, "", (), attrs)


MENU = [
    Signal("menu_sync", "NV-001", SYNC),
    menu_item("m-1", "10", "Midnight Berry Gummies", "edibles", 0, True, "https://img.example.com/ok.png"),
    menu_item("m-2", "9", "Blue Dream 3.5g", "flower", 12, False, "https://img.example.com/gone.png"),
    menu_item("m-3", "13", "Grape Tincture", "tinctures", 8, True, ""),
    menu_item("m-4", "11", "Live Resin Cart", "vapes", 0, True, "https://img.example.com/ok.png"),
]


def setup(tmp_path: Path) -> Any:
    engine = state(tmp_path)
    platform = MemorySource(
        "platform", {"NV-001": {"menu_items": MENU}}, directory=[NV], snapshot_streams=("menu_items",)
    )
    pos = MemorySource("dutchie", {"NV-001": pos_records()}, snapshot_streams=("inventory",))
    assert pull(engine, [platform, pos], NOW).ok
    return engine


class Head:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, url: str) -> int:
        self.calls.append(url)
        return 200 if url.endswith("ok.png") else 404


def test_menu_health_flags_top_sellers_with_pos_stock_that_shoppers_cannot_buy(tmp_path: Path) -> None:
    engine = setup(tmp_path)
    head = Head()
    report = run_menu_health(engine, NOW, head=head, top_n=4)
    [health] = report.stores
    assert health.day == date(2026, 11, 20)
    assert [(t.product_id, t.menu_state, t.pos_stock) for t in health.top_sellers] == [
        ("9", "hidden", 24.0),
        ("10", "out_of_stock", 60.0),
        ("11", "out_of_stock", 0.0),  # no POS stock either: a plain stock-out, not a sync problem
        ("12", "missing", 5.0),
    ]
    got = {
        k[2:4]: v for k, v in facts(engine, "derived").items() if k[1] == "NV-001" and k[4] == "2026-11-20"
    }
    assert got == {
        ("menu_top_sellers_unavailable", ""): 3.0,
        ("menu_top_sellers_unavailable", "category=flower"): 1.0,
        ("menu_top_sellers_unavailable", "category=edibles"): 2.0,
        ("menu_items", ""): 4.0,
        ("menu_items", "category=edibles"): 1.0,
        ("menu_items", "category=flower"): 1.0,
        ("menu_items", "category=tinctures"): 1.0,
        ("menu_items", "category=vapes"): 1.0,
        ("menu_items_hidden", ""): 1.0,
        ("menu_items_hidden", "category=flower"): 1.0,
        ("menu_items_out_of_stock", ""): 2.0,
        ("menu_items_out_of_stock", "category=edibles"): 1.0,
        ("menu_items_out_of_stock", "category=vapes"): 1.0,
        ("menu_broken_images", ""): 2.0,
        ("menu_broken_images", "category=flower"): 1.0,
        ("menu_broken_images", "category=tinctures"): 1.0,
    }
    [record] = rows(engine, "source_record", "WHERE source='derived' AND stream='menu_health'")
    assert record["key"] == "NV-001:2026-11-20"
    attrs = json.loads(record["attrs"])
    assert attrs["last_menu_sync_at"] == "2026-11-20T06:00:00+00:00" and attrs["menu_sync_age_hours"] == 12.0
    assert [(t["name"], t["pos_stock"], t["menu_state"]) for t in attrs["top_sellers_unavailable"]] == [
        ("Blue Dream 3.5g", 24.0, "hidden"),
        ("Midnight Berry Gummies", 60.0, "out_of_stock"),
        ("Sour Peach Gummies", 5.0, "missing"),
    ]
    assert {(b["name"], b["status"]) for b in attrs["broken_images"]} == {
        ("Blue Dream 3.5g", 404),
        ("Grape Tincture", None),
    }
    assert sorted(head.calls) == ["https://img.example.com/gone.png", "https://img.example.com/ok.png"]
    # evidence names the items per category, with why each is unavailable online
    assert attrs["unavailable_by_category"] == {
        "edibles": ["Midnight Berry Gummies (out of stock)"],
        "flower": ["Blue Dream 3.5g (hidden, broken image)"],
        "tinctures": ["Grape Tincture (broken image)"],
        "vapes": [attrs["unavailable_by_category"]["vapes"][0]],
    }
    assert attrs["unavailable_by_category"]["vapes"][0].endswith("(out of stock)")


def test_image_checks_are_cached_per_url_per_day_and_reruns_replace_the_day(tmp_path: Path) -> None:
    engine = setup(tmp_path)
    head = Head()
    run_menu_health(engine, NOW, head=head)
    run_menu_health(engine, NOW + timedelta(hours=2), head=head)
    assert len(head.calls) == 2  # the second run reuses today's statuses
    assert len(rows(engine, "source_record", "WHERE source='derived'")) == 1
    assert facts(engine, "derived")[("derived", "NV-001", "menu_items", "", "2026-11-20")] == 4.0
    run_menu_health(engine, NOW + timedelta(days=1), head=head)
    assert len(head.calls) == 4  # a new day checks again
    assert len(rows(engine, "source_record", "WHERE source='derived'")) == 2  # one record per day: history


def test_an_unchanged_link_is_rechecked_after_the_age_not_at_midnight(tmp_path: Path) -> None:
    engine = setup(tmp_path)
    head = Head()
    late = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    run_menu_health(engine, late, head=head)
    assert len(head.calls) == 2
    run_menu_health(engine, late + timedelta(hours=1), head=head)
    assert len(head.calls) == 2  # the next day's first cycle reuses an hour-old status
    run_menu_health(engine, late + timedelta(hours=2), head=head, image_max_age=timedelta(hours=1))
    assert len(head.calls) == 4  # older than the configured age: checked again


def test_stores_without_menu_data_are_skipped_not_reported_healthy(tmp_path: Path) -> None:
    engine = state(tmp_path)
    pull(engine, [MemorySource("platform", {}, directory=[NV])], NOW)
    report = run_menu_health(engine, NOW, head=Head())
    assert report.stores == () and report.skipped == {"NV-001": "no menu items pulled"}
    assert facts(engine, "derived") == {}


def test_without_pos_sales_top_sellers_are_not_counted() -> None:
    menu = [
        {
            "id": "m",
            "pos_product_id": "1",
            "category": "edibles",
            "stock": 3,
            "visible": True,
            "image_url": "u",
        }
    ]
    health = assess("S", date(2026, 11, 20), menu, [], [], {"u": 200})
    assert ("menu_top_sellers_unavailable", "") not in health.counts
    assert health.counts[("menu_items", "")] == 1.0 and health.counts[("menu_broken_images", "")] == 0.0
    assert health.attrs(NOW, 14, 10)["has_pos_sales"] is False


def test_a_top_seller_is_ok_when_any_of_its_menu_items_is_buyable() -> None:
    menu = [
        {
            "id": "a",
            "pos_product_id": "1",
            "category": "flower",
            "stock": 0,
            "visible": True,
            "image_url": "u",
        },
        {
            "id": "b",
            "pos_product_id": "1",
            "category": "flower",
            "stock": 4,
            "visible": True,
            "image_url": "u",
        },
    ]
    sales = [{"items": [{"product_id": "1", "quantity": 3, "category": "flower"}]}]
    health = assess("S", date(2026, 11, 20), menu, sales, [{"product_id": "1", "quantity": 9}], {"u": 200})
    assert [t.menu_state for t in health.top_sellers] == ["ok"]
    assert health.counts[("menu_top_sellers_unavailable", "")] == 0.0


def portfolio(tmp_path: Path, n: int, name: str = "state.db") -> Any:
    """n stores, each with one menu item whose image is its own, plus one image they all share."""
    engine = state(tmp_path, name)
    refs = [StoreRef(f"NV-{i:03d}", f"Store {i}", "NV", "America/Los_Angeles", {}) for i in range(1, n + 1)]
    menus = {
        ref.store_id: {
            "menu_items": [
                Record("menu_items", f"{ref.store_id}:a", ref.store_id, NOW, "", (),
                       {"id": "a", "category": "flower", "stock": 1, "image_url": f"https://img/{ref.store_id}.png"}),
                Record("menu_items", f"{ref.store_id}:b", ref.store_id, NOW, "", (),
                       {"id": "b", "category": "edibles", "stock": 0, "image_url": "https://img/ok.png"}),
            ]
        }
        for ref in refs
    }  # fmt: skip
    platform = MemorySource("platform", menus, directory=refs, snapshot_streams=("menu_items",))
    assert pull(engine, [platform], NOW).ok
    return engine


def test_a_shard_reads_and_assesses_only_its_own_stores_menus(tmp_path: Path) -> None:
    engine = portfolio(tmp_path, 6)
    read: list[Any] = []

    def spy(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.startswith("SELECT") and "source_record" in statement and "menu_items" in str(params):
            read.extend(params if isinstance(params, list | tuple) else params.values())

    event.listen(engine, "before_cursor_execute", spy)
    head = Head()
    shard = {"NV-002", "NV-005", "NV-404"}  # a store the directory does not know is ignored
    report = run_menu_health(engine, NOW, head=head, stores=shard)
    event.remove(engine, "before_cursor_execute", spy)
    assert [h.store_id for h in report.stores] == ["NV-002", "NV-005"] and report.skipped == {}
    assert {p for p in read if str(p).startswith("NV-")} == {"NV-002", "NV-005"}  # the menu query is filtered
    assert sorted(head.calls) == ["https://img/NV-002.png", "https://img/NV-005.png", "https://img/ok.png"]
    derived = rows(engine, "source_record", "WHERE source='derived'")
    assert sorted(r["store_id"] for r in derived) == ["NV-002", "NV-005"]


def test_assessing_stores_a_group_at_a_time_gives_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = run_menu_health(portfolio(tmp_path, 5, "whole.db"), NOW, head=Head())
    monkeypatch.setattr(menu_health, "STORE_GROUP", 2)
    head = Head()
    grouped = run_menu_health(portfolio(tmp_path, 5, "grouped.db"), NOW, head=head)
    assert grouped.stores == whole.stores and grouped.images_checked == whole.images_checked == 6
    assert len(head.calls) == 6  # the image the groups share is checked once


@contextmanager
def statements(engine: Any) -> Iterator[list[str]]:
    """The statements sent while inside, an IN list of any length shown as `IN (...)`."""
    sent: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        sent.append(re.sub(r"IN \((?:[^()]|\([^()]*\))*\)", "IN (...)", statement))

    event.listen(engine, "before_cursor_execute", spy)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", spy)


def test_database_statements_per_group_do_not_grow_with_its_stores(tmp_path: Path) -> None:
    sent: dict[int, list[str]] = {}
    for n in (5, 20):
        engine = portfolio(tmp_path, n, f"stores{n}.db")
        run_menu_health(engine, NOW, head=Head())  # images checked and cached: the rerun reads them
        with statements(engine) as sent[n]:
            report = run_menu_health(engine, NOW + timedelta(hours=1), head=Head())
        assert len(report.stores) == n
    # The same statements for 5 stores as for 20, but re-deriving each store's facts (two a store).
    rebuilt = {n: [q for q in sent[n] if is_rederive(q)] for n in sent}
    assert [q for q in sent[5] if not is_rederive(q)] == [q for q in sent[20] if not is_rederive(q)]
    assert len(sent[5]) - len(rebuilt[5]) < 15 and len(rebuilt[20]) - len(rebuilt[5]) == 2 * 15


def is_rederive(statement: str) -> bool:
    """`rederive`'s per-store statements: delete a store's facts, read its records' facts."""
    return statement.startswith("DELETE FROM metric_fact") or "source_record.facts" in statement


def test_a_group_reads_each_stores_sales_window_in_its_own_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One sales query serves stores whose 14-day windows start on different days."""
    zones = {"KI-001": "Pacific/Kiritimati", "LA-001": "America/Los_Angeles"}  # UTC+14 and UTC-8
    refs = [StoreRef(s, s, "NV", tz, {}) for s, tz in zones.items()]
    sold = {  # product → (when, units); KI's window starts 2026-11-08, LA's 2026-11-07 (local days)
        "p1": (datetime(2026, 11, 6, 12, 0, tzinfo=UTC), 100.0),  # KI 11-07, LA 11-06: outside both
        "p2": (datetime(2026, 11, 7, 20, 0, tzinfo=UTC), 50.0),  # KI 11-08, LA 11-07: inside both
        "p3": (NOW - timedelta(hours=1), 1.0),
    }

    def data(store: str) -> dict[str, list[Any]]:
        sales = [
            Record("transactions", f"{store}:{pid}", store, when, when.isoformat(), (),
                   {"items": [{"product_id": pid, "category": "flower", "quantity": units}]})
            for pid, (when, units) in sold.items()
        ]  # fmt: skip
        stock = [
            Record("inventory", f"{store}:i{pid}", store, NOW, "", (), {"product_id": pid, "quantity": 3.0})
            for pid in sold
        ]
        menu = [Record("menu_items", f"{store}:m", store, NOW, "", (), {"id": "m", "pos_product_id": "p3"})]
        return {"transactions": sales, "inventory": stock, "menu_items": menu}

    def run(name: str) -> Any:
        engine = state(tmp_path, name)
        platform = MemorySource(
            "platform",
            {s: {"menu_items": data(s)["menu_items"]} for s in zones},
            directory=refs,
            snapshot_streams=("menu_items",),
        )
        pos = MemorySource(
            "dutchie",
            {s: {k: v for k, v in data(s).items() if k != "menu_items"} for s in zones},
            snapshot_streams=("inventory",),
        )
        assert pull(engine, [platform, pos], NOW).ok
        return run_menu_health(engine, NOW, head=Head())

    grouped = run("grouped.db")
    assert [(h.store_id, h.day) for h in grouped.stores] == [
        ("KI-001", date(2026, 11, 21)),
        ("LA-001", date(2026, 11, 20)),
    ]
    for health in grouped.stores:
        assert [(t.product_id, t.units) for t in health.top_sellers] == [("p2", 50.0), ("p3", 1.0)]
    monkeypatch.setattr(menu_health, "STORE_GROUP", 1)
    assert run("alone.db").stores == grouped.stores  # each store read on its own, as before
