"""The platform source (directory, analytics, menu with its sync signal, MSRP) and Metrc's 24 h windows."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import responses
from responses import matchers

from connectors.base import Checkpoint, Fact, Record, Rejected, Signal, StoreRef
from connectors.catalog import build_source
from connectors.metrc import MetrcSource
from connectors.platform import PlatformSource
from tests.unit.connectors.helpers import FakeClock, config, fixture

PLAT = "https://platform.example.com"
METRC = "https://api-nv.metrc.example.com"


def platform(clock: FakeClock) -> PlatformSource:
    cfg = config(
        name="platform",
        kind="platform",
        base_url=PLAT,
        auth={"kind": "oauth2_client_credentials", "client_id": "csm", "client_secret_env": "PLAT_SECRET"},
    )
    src = build_source(cfg, clock.runtime({"PLAT_SECRET": "s"}))
    assert isinstance(src, PlatformSource)
    return src


@responses.activate
def test_store_directory() -> None:
    responses.post(f"{PLAT}/oauth/token", json=fixture("platform_token"))
    body = fixture("platform_stores")
    responses.get(
        f"{PLAT}/v1/stores",
        json={"data": body["data"][:1], "next_cursor": "p2"},
        match=[matchers.query_param_matcher({})],
    )
    responses.get(
        f"{PLAT}/v1/stores",
        json={"data": [*body["data"][1:], {"id": "XX-1", "timezone": "Mars/Olympus"}], "next_cursor": None},
        match=[matchers.query_param_matcher({"cursor": "p2"})],
    )
    src = platform(FakeClock())
    assert src.provides_directory
    stores = src.stores([])
    nv, az, bad = stores
    assert isinstance(nv, StoreRef) and nv.store_id == "NV-001"
    assert (nv.state, nv.timezone) == ("NV", "America/Los_Angeles")
    assert nv.attrs["pos_kind"] == "dutchie_pos" and nv.attrs["pos_location_id"] == "1201"
    assert nv.attrs["parent_id"] == "MSO-1" and nv.attrs["plan"] == "Growth"
    assert nv.attrs["onboarding_started_on"] == "2026-10-01"
    assert nv.attrs["plan_limits"] == {"monthly_orders": 5000.0, "locations": 3.0}
    assert isinstance(az, StoreRef) and az.attrs["onboarding_started_on"] is None
    assert isinstance(bad, Rejected) and bad.reason == "unknown time zone 'Mars/Olympus'"
    assert responses.calls[1].request.headers["Authorization"] == "Bearer plat-1"


@responses.activate
def test_store_streams() -> None:
    responses.post(f"{PLAT}/oauth/token", json=fixture("platform_token"))
    store = f"{PLAT}/v1/stores/NV-001"
    responses.get(
        f"{store}/analytics/daily",
        json=fixture("platform_analytics"),
        match=[matchers.query_param_matcher({"since": "2026-11-19"})],
    )
    responses.get(f"{store}/usage/daily", json=fixture("platform_usage"))
    responses.get(
        f"{store}/orders",
        json=fixture("platform_orders"),
        match=[matchers.query_param_matcher({"updated_since": "2026-11-20T00:00:00Z"})],
    )
    responses.get(
        f"{store}/menu",
        json=fixture("platform_menu_page1"),
        match=[matchers.query_param_matcher({"limit": "500"})],
    )
    responses.get(
        f"{store}/menu",
        json=fixture("platform_menu_page2"),
        match=[matchers.query_param_matcher({"cursor": "c2", "limit": "500"})],
    )
    responses.get(
        f"{store}/promotions",
        json=fixture("platform_promotions"),
        match=[matchers.query_param_matcher({"limit": "500"})],
    )
    responses.get(f"{PLAT}/v1/brands/Kanna%20Kitchen/msrp", json=fixture("platform_msrp_kanna"))
    responses.get(f"{PLAT}/v1/brands/Sierra%20Farms/msrp", status=404)
    src = platform(FakeClock())
    nv = StoreRef("NV-001", "Desert Bloom", "NV", "America/Los_Angeles")
    conn = src.connector(nv)
    assert conn.streams == (
        "analytics_daily",
        "usage_daily",
        "orders",
        "menu_items",
        "promotions",
        "brand_msrp",
    )
    # since is a cursor time; the day in the store's zone is what the API takes
    daily = [r for r in conn.iter_records("analytics_daily", "2026-11-20T06:00:00Z") if isinstance(r, Record)]
    assert daily[0].key == "NV-001:2026-11-19"
    assert daily[0].facts == (
        Fact("sessions", 1200.0),
        Fact("carts", 180.0),
        Fact("checkouts", 120.0),
        Fact("online_orders", 95.0),
        Fact("online_revenue", 6120.5),
    )
    assert daily[0].occurred_at.isoformat() == "2026-11-19T12:00:00-08:00"
    usage = [r for r in conn.iter_records("usage_daily", None) if isinstance(r, Record)]
    assert (
        usage[0].facts == (Fact("logins", 7.0), Fact("active_users", 3.0))
        and usage[0].attrs["menu_edits"] == 12.0
    )
    orders = [r for r in conn.iter_records("orders", "2026-11-20T00:00:00Z") if isinstance(r, Record)]
    assert orders[0].facts == () and orders[0].attrs["total"] == 86.6
    menu = list(conn.iter_records("menu_items", None))
    assert menu[0] == Signal("menu_sync", "NV-001", datetime(2026, 11, 20, 6, 0, tzinfo=UTC))
    items = [r for r in menu if isinstance(r, Record)]
    assert [(i.attrs["pos_product_id"], i.attrs["stock"], i.attrs["visible"]) for i in items] == [
        ("10", 0.0, True),
        ("9", 12.0, False),
    ]
    assert (
        items[0].attrs["potency"] == {"thc": 10.0, "unit": "mg"} and items[0].attrs["package_thc_mg"] == 100.0
    )
    promos = [r for r in conn.iter_records("promotions", None) if isinstance(r, Record)]
    assert promos[0].attrs["channels"] == ["menu", "sms"] and promos[0].attrs["discount_percent"] == 15.0
    msrp = [r for r in conn.iter_records("brand_msrp", None) if isinstance(r, Record)]
    assert [m.attrs["brand"] for m in msrp] == ["Kanna Kitchen"]  # Sierra Farms has no list (404)
    assert msrp[0].attrs["items"][0] == {
        "name": "Midnight Berry Gummies 100mg",
        "msrp": 20.0,
        "tolerance_percent": 5.0,
    }
    # The second store carries the same brand: its list is not fetched again.
    az_menu = {"data": [dict(fixture("platform_menu_page1")["data"][0], id="a-1")], "next_cursor": None}
    responses.get(f"{PLAT}/v1/stores/AZ-001/menu", json=az_menu)
    calls = sum(1 for c in responses.calls if "/brands/" in c.request.url)
    az = list(src.connector(StoreRef("AZ-001", timezone="America/Phoenix")).iter_records("brand_msrp", None))
    assert [m.key for m in az if isinstance(m, Record)] == ["AZ-001:kanna_kitchen"]
    assert sum(1 for c in responses.calls if "/brands/" in c.request.url) == calls
    assert sum(1 for c in responses.calls if c.request.url.endswith("/oauth/token")) == 1


@responses.activate
def test_metrc_reads_24_hour_windows_with_the_license() -> None:
    responses.get(f"{METRC}/sales/v1/receipts/active", json=[])
    cfg = config(
        name="metrc",
        kind="metrc",
        base_url=METRC,
        auth={"kind": "basic", "username_env": "VK", "password_env": "UK"},
    )
    clock = FakeClock()
    src = build_source(cfg, clock.runtime({"VK": "vendor", "UK": "user"}))
    assert isinstance(src, MetrcSource)
    nv = StoreRef("NV-001", timezone="America/Los_Angeles", attrs={"license_number": "NV-RD-0001"})
    assert src.stores([nv, StoreRef("NV-002")]) == [nv]
    out = list(src.connector(nv).iter_records("receipts", "2026-11-18T06:00:00Z"))
    params = [c.request.params for c in responses.calls]
    assert [(p["lastModifiedStart"], p["lastModifiedEnd"]) for p in params] == [
        ("2026-11-18T06:00:00Z", "2026-11-19T06:00:00Z"),
        ("2026-11-19T06:00:00Z", "2026-11-20T06:00:00Z"),
        ("2026-11-20T06:00:00Z", "2026-11-20T18:00:00Z"),
    ]
    assert all(p["licenseNumber"] == "NV-RD-0001" for p in params)
    assert [c.cursor for c in out if isinstance(c, Checkpoint)] == [
        "2026-11-19T06:00:00Z",
        "2026-11-20T06:00:00Z",
        "2026-11-20T18:00:00Z",
    ]


@responses.activate
def test_metrc_receipts_are_local_time_and_counted() -> None:
    responses.get(f"{METRC}/sales/v1/receipts/active", json=fixture("metrc_receipts"))
    cfg = config(
        name="metrc",
        kind="metrc",
        base_url=METRC,
        auth={"kind": "basic", "username_env": "VK", "password_env": "UK"},
    )
    src = build_source(cfg, FakeClock().runtime({"VK": "vendor", "UK": "user"}))
    nv = StoreRef("NV-001", timezone="America/Los_Angeles", attrs={"license_number": "NV-RD-0001"})
    out = [
        r for r in src.connector(nv).iter_records("receipts", "2026-11-20T10:00:00Z") if isinstance(r, Record)
    ]
    assert out[0].occurred_at.isoformat() == "2026-11-20T08:44:53-08:00"
    assert out[0].facts == (Fact("metrc_receipts", 1.0), Fact("metrc_sales", 19.98))
    assert out[1].cursor == "2026-11-20T17:11:00Z"


def test_a_brands_msrp_list_is_fetched_once_however_many_stores_ask_at_once() -> None:
    src = platform(FakeClock())
    calls: list[str] = []
    lock = threading.Lock()

    class SlowClient:
        def get_json(self, path: str) -> tuple[Any, dict[str, str]]:
            with lock:
                calls.append(path)
            time.sleep(0.05)  # every thread asks while the first fetch is still in flight
            return {"brand": path.split("/")[3], "items": []}, {}

    brands = ["Alpha", "Beta", "Gamma"]
    with ThreadPoolExecutor(max_workers=16) as pool:
        got = list(pool.map(lambda i: src.msrp(SlowClient(), brands[i % 3]), range(48)))  # type: ignore[arg-type]
    assert sorted(calls) == sorted(f"/v1/brands/{b}/msrp" for b in brands)
    assert [g["brand"] for g in got] == [brands[i % 3] for i in range(48)]
