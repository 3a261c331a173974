"""The platform's `portfolio_feeds`: one connector reads analytics, usage and orders of every store."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import responses
from hypothesis import HealthCheck, given, settings
from responses import matchers

from connectors.base import ALL_STORES, STORES_PULLED_APART, Fact, Record, Rejected, StoreRef
from connectors.catalog import build_source
from connectors.platform import PlatformSource, parse_analytics, parse_order
from tests.unit.connectors.helpers import FakeClock, config, fixture
from tests.unit.connectors.test_parsers_property import assert_storable, payloads

PLAT = "https://platform.example.com"
NV = StoreRef("NV-001", "Desert Bloom", "NV", "America/Los_Angeles")
MI = StoreRef("MI-001", "Great Lakes", "MI", "America/Detroit")
DIRECTORY = {NV.store_id: NV, MI.store_id: MI}


def platform(options: dict[str, Any] | None = None, stores: list[str] | None = None) -> PlatformSource:
    cfg = config(
        name="platform",
        kind="platform",
        base_url=PLAT,
        auth={"kind": "oauth2_client_credentials", "client_id": "csm", "client_secret_env": "PLAT_SECRET"},
        options=options or {},
        stores=stores or [],
    )
    src = build_source(cfg, FakeClock().runtime({"PLAT_SECRET": "s"}))
    assert isinstance(src, PlatformSource)
    return src


def feeds(options: dict[str, Any] | None = None, stores: list[str] | None = None) -> Any:
    src = platform({"portfolio_feeds": True, **(options or {})}, stores)
    ref = src.feed_ref(DIRECTORY)
    assert ref is not None
    return src.connector(ref)


def row(store_id: Any, **values: Any) -> dict[str, Any]:
    return {"store_id": store_id, **values} if store_id is not None else dict(values)


def test_streams_split_between_the_feeds_and_each_store() -> None:
    plain = platform()
    assert plain.feed_ref(DIRECTORY) is None
    assert plain.connector(NV).streams == (
        "analytics_daily",
        "usage_daily",
        "orders",
        "menu_items",
        "promotions",
        "brand_msrp",
    )
    src = platform({"portfolio_feeds": True})
    ref = src.feed_ref(DIRECTORY)
    assert ref is not None and ref.store_id == ALL_STORES and ref.attrs[STORES_PULLED_APART] is True
    assert ref.name == "portfolio feeds of platform"
    assert src.connector(ref).streams == ("analytics_daily", "usage_daily", "orders")
    store = src.connector(NV)
    assert store.streams == ("menu_items", "promotions", "brand_msrp") == store.snapshot_streams


@responses.activate
def test_feed_rows_parse_in_their_stores_zone_across_pages() -> None:
    responses.post(f"{PLAT}/oauth/token", json=fixture("platform_token"))
    day = fixture("platform_analytics")["data"][0]  # 2026-11-19
    # 06:00 UTC is the 19th in Los Angeles but the 20th in Detroit: the feed starts at the earlier day.
    first = {"since": "2026-11-19", "limit": "500"}
    responses.get(
        f"{PLAT}/v1/analytics/daily",
        json={"data": [row("NV-001", **day)], "next_cursor": "c2"},
        match=[matchers.query_param_matcher(first)],
    )
    responses.get(
        f"{PLAT}/v1/analytics/daily",
        json={"data": [row("MI-001", **day)], "next_cursor": None},
        match=[matchers.query_param_matcher({**first, "cursor": "c2"})],
    )
    out = list(feeds().iter_records("analytics_daily", "2026-11-20T06:00:00Z"))
    assert all(isinstance(r, Record) for r in out)
    nv, mi = out
    assert (nv.key, nv.store_id, mi.key, mi.store_id) == (
        "NV-001:2026-11-19",
        "NV-001",
        "MI-001:2026-11-19",
        "MI-001",
    )
    assert nv.occurred_at.utcoffset() == timedelta(hours=-8) and mi.occurred_at.utcoffset() == timedelta(
        hours=-5
    )
    assert nv.occurred_at.date() == mi.occurred_at.date() == date(2026, 11, 19)
    assert nv.facts == mi.facts and Fact("online_revenue", 6120.5) in nv.facts
    assert nv.cursor == "2026-11-20T08:00:00Z"


@responses.activate
def test_rows_of_unknown_or_missing_stores_are_rejected_not_raised() -> None:
    responses.post(f"{PLAT}/oauth/token", json=fixture("platform_token"))
    order = fixture("platform_orders")["data"][0]
    responses.get(
        f"{PLAT}/v1/orders",
        json={
            "data": [
                row("NV-001", **order),
                row("XX-999", **order),
                row(None, **order),
                row(True, **order),
                row("MI-001", **{**order, "total": -5}),
                "not an object",
            ],
            "next_cursor": None,
        },
        match=[matchers.query_param_matcher({"updated_since": "2026-11-20T00:00:00Z", "limit": "500"})],
    )
    out = list(feeds().iter_records("orders", "2026-11-20T00:00:00Z"))
    good = [r for r in out if isinstance(r, Record)]
    assert [(r.key, r.store_id, r.attrs["total"]) for r in good] == [("NV-001:o-1", "NV-001", 86.6)]
    rejected = [r for r in out if isinstance(r, Rejected)]
    assert [(r.stream, r.store_id) for r in rejected] == [
        ("orders", "XX-999"),
        ("orders", ""),
        ("orders", ""),
        ("orders", "MI-001"),
        ("orders", ""),
    ]
    assert rejected[0].reason == "store_id: 'XX-999' is not in the store directory"
    assert rejected[1].reason.startswith("store_id: expected an id")
    assert "total" in rejected[3].reason and rejected[0].payload["store_id"] == "XX-999"


@responses.activate
def test_rows_of_stores_outside_the_sources_stores_are_skipped() -> None:
    responses.post(f"{PLAT}/oauth/token", json=fixture("platform_token"))
    usage = fixture("platform_usage")["data"][0]
    responses.get(
        f"{PLAT}/v1/usage/daily",
        json={"data": [row("NV-001", **usage), row("MI-001", **usage), row("XX-999", **usage)]},
    )
    out = list(feeds(stores=["MI-001"]).iter_records("usage_daily", None))
    assert [(type(r).__name__, r.store_id) for r in out] == [("Record", "MI-001")]
    assert responses.calls[1].request.params["since"] == "2026-07-23"  # history_days (120) back


FEEDS = feeds()


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(payloads(row("MI-001", **fixture("platform_orders")["data"][0])))
def test_feed_rows_never_raise(payload: Any) -> None:
    for stream, parse in (("orders", parse_order), ("analytics_daily", parse_analytics)):
        result = FEEDS._row(stream, payload, parse)
        assert result is not None  # no `stores` given: nothing is skipped
        assert_storable(result)
        if isinstance(result, Record):  # only for a store of the directory, the one the row names
            assert result.store_id in DIRECTORY and result.store_id == payload["store_id"]
