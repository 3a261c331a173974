"""POS sources: Dutchie-style (Basic per location, windows, Skip/Take) and Treez-style (tokens, path paging)."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import responses
from responses import matchers

from connectors.base import Checkpoint, Fact, Record, Rejected, SourceError, StoreRef
from connectors.catalog import build_source
from connectors.dutchie import DutchieSource, parse_transaction
from connectors.source import parse_safely
from connectors.treez import TreezSource, parse_ticket
from tests.unit.connectors.helpers import FakeClock, config, fixture

DUTCHIE = "https://pos.example.com"
TREEZ = "https://treez.example.com"
NV = StoreRef(
    "NV-001",
    "Desert Bloom",
    "NV",
    "America/Los_Angeles",
    {"pos_kind": "dutchie_pos", "pos_location_id": "1201"},
)
AZ = StoreRef(
    "AZ-001", "Saguaro", "AZ", "America/Phoenix", {"pos_kind": "treez_pos", "pos_location_id": "saguaro-phx"}
)


def keys_file(tmp_path: Path, data: dict[str, object]) -> str:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(data))
    return str(path)


def dutchie(tmp_path: Path, clock: FakeClock, **options: object) -> DutchieSource:
    cfg = config(
        name="dutchie",
        kind="dutchie_pos",
        base_url=DUTCHIE,
        auth={"kind": "basic", "per_store_file": keys_file(tmp_path, {"NV-001": "loc-key-1201"})},
        options=options,
    )
    src = build_source(cfg, clock.runtime())
    assert isinstance(src, DutchieSource)
    return src


def by_dim(record: Record) -> dict[tuple[str, str], float]:
    return {(f.metric, f.dimension): f.value for f in record.facts}


def test_transaction_facts_by_channel_and_category() -> None:
    categories = {"9": "flower", "10": "edibles", "11": "vapes"}
    online = parse_transaction(fixture("dutchie_transactions")[1], NV, NV_TZ(), categories)
    assert online.key == "NV-001:5001" and online.cursor == "2026-11-20T16:12:03Z"
    assert by_dim(online) == {
        ("orders", ""): 1.0,
        ("orders", "channel=online"): 1.0,
        ("revenue", ""): 72.0,
        ("revenue", "channel=online"): 72.0,
        ("revenue", "category=flower"): 36.0,
        ("revenue", "channel=online,category=flower"): 36.0,
        ("units", "category=flower"): 1.0,
        ("units", "channel=online,category=flower"): 1.0,
        ("revenue", "category=edibles"): 36.0,
        ("revenue", "channel=online,category=edibles"): 36.0,
        ("units", "category=edibles"): 2.0,
        ("units", "channel=online,category=edibles"): 2.0,
    }
    void = parse_transaction(fixture("dutchie_transactions")[2], NV, NV_TZ(), categories)
    assert void.facts == () and void.attrs["is_void"] is True
    refund = parse_transaction(fixture("dutchie_transactions")[3], NV, NV_TZ(), categories)
    assert by_dim(refund)[("revenue", "channel=in_store")] == -20.0
    assert by_dim(refund)[("units", "category=edibles")] == -1.0
    assert ("orders", "") not in by_dim(refund)


def NV_TZ() -> ZoneInfo:  # noqa: N802
    return ZoneInfo("America/Los_Angeles")


def test_negative_total_on_a_sale_is_rejected() -> None:
    item = dict(fixture("dutchie_transactions")[0], total=-53.1)
    out = parse_safely("transactions", "NV-001", item, parse_transaction, NV, NV_TZ(), {})
    assert isinstance(out, Rejected) and out.reason == "total: must be ≥ 0, got -53.1"


@responses.activate
def test_dutchie_streams(tmp_path: Path) -> None:
    clock = FakeClock()
    src = dutchie(tmp_path, clock, page_size=2)
    responses.get(f"{DUTCHIE}/whoami", json=fixture("dutchie_whoami"))
    products = fixture("dutchie_products")
    responses.get(
        f"{DUTCHIE}/products",
        json=products[:2],
        match=[matchers.query_param_matcher({"offset": "0", "limit": "2"})],
    )
    responses.get(
        f"{DUTCHIE}/products",
        json=products[2:],
        match=[matchers.query_param_matcher({"offset": "2", "limit": "2"})],
    )
    responses.get(
        f"{DUTCHIE}/reporting/transactions",
        json=fixture("dutchie_transactions"),
        match=[
            matchers.query_param_matcher(
                {
                    "fromLastModifiedDateUTC": "2026-11-20T16:59:00Z",
                    "toLastModifiedDateUTC": "2026-11-20T18:00:00Z",
                    "IncludeDetail": "true",
                }
            )
        ],
    )
    inventory = fixture("dutchie_inventory")
    responses.get(
        f"{DUTCHIE}/reporting/inventory",
        json=inventory[:2],
        match=[matchers.query_param_matcher({"Skip": "0", "Take": "2"})],
    )
    responses.get(
        f"{DUTCHIE}/reporting/inventory",
        json=inventory[2:],
        match=[matchers.query_param_matcher({"Skip": "2", "Take": "2"})],
    )
    assert src.stores([NV, AZ]) == [NV]
    conn = src.connector(NV)
    assert conn.snapshot_streams == ("products", "inventory")
    prods = list(conn.iter_records("products", None))
    assert [p.attrs["category"] for p in prods if isinstance(p, Record)] == ["flower", "edibles", "vapes"]
    txs = list(conn.iter_records("transactions", "2026-11-20T17:00:00Z"))
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
    records = [t for t in txs if isinstance(t, Record)]
    # Oldest-modified first, then a checkpoint at the window's end.
    assert [r.key for r in records] == ["NV-001:5001", "NV-001:5002", "NV-001:5003", "NV-001:5004"]
    assert txs[-1] == Checkpoint("transactions", "2026-11-20T18:00:00Z")
    assert by_dim(records[1])[("revenue", "category=vapes")] == 45.0
    inv = [i for i in conn.iter_records("inventory", None) if isinstance(i, Record)]
    assert [(i.attrs["product_id"], i.attrs["quantity"]) for i in inv] == [
        ("9", 24.0),
        ("10", 60.0),
        ("11", 0.0),
    ]
    assert sum(1 for c in responses.calls if c.request.url.endswith("/whoami")) == 1


@responses.activate
def test_dutchie_windows_are_at_most_31_days_and_checkpointed(tmp_path: Path) -> None:
    clock = FakeClock()
    src = dutchie(tmp_path, clock, verify_location=False)
    responses.get(f"{DUTCHIE}/products", json=[])
    responses.get(f"{DUTCHIE}/reporting/transactions", json=[])
    out = list(src.connector(NV).iter_records("transactions", None))  # first pull: 120 days back
    windows = [c.request.params for c in responses.calls if "transactions" in c.request.url]
    assert len(windows) == 4
    assert windows[0]["fromLastModifiedDateUTC"] == "2026-07-23T17:59:00Z"
    assert windows[-1]["toLastModifiedDateUTC"] == "2026-11-20T18:00:00Z"
    assert [c.cursor for c in out if isinstance(c, Checkpoint)] == [
        w["toLastModifiedDateUTC"] for w in windows
    ]


@responses.activate
def test_dutchie_refuses_a_key_for_another_location(tmp_path: Path) -> None:
    responses.get(f"{DUTCHIE}/whoami", json={"LocationId": 999, "LocationName": "Elsewhere"})
    src = dutchie(tmp_path, FakeClock())
    with pytest.raises(SourceError, match="/whoami says location 999, but store NV-001 is location '1201'"):
        list(src.connector(NV).iter_records("products", None))


def test_dutchie_store_without_a_key_fails_alone(tmp_path: Path) -> None:
    src = dutchie(tmp_path, FakeClock())
    other = StoreRef("NV-002", timezone="America/Los_Angeles", attrs={"pos_kind": "dutchie_pos"})
    with pytest.raises(ValueError, match="store NV-002 has no entry in"):
        src.connector(other)


def treez(tmp_path: Path, clock: FakeClock) -> TreezSource:
    cfg = config(
        name="treez",
        kind="treez_pos",
        base_url=TREEZ,
        auth={
            "kind": "treez_token",
            "client_id": "csm-sync",
            "per_store_file": keys_file(tmp_path, {"AZ-001": "api-key-az"}),
        },
    )
    src = build_source(cfg, clock.runtime())
    assert isinstance(src, TreezSource)
    return src


@responses.activate
def test_treez_token_flow_refreshes_on_401(tmp_path: Path) -> None:
    base = f"{TREEZ}/v2.0/dispensary/saguaro-phx"
    tokens = iter(["tok-1", "tok-2"])

    def token(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        assert "client_id=csm-sync" in str(request.body) and "apikey=api-key-az" in str(request.body)
        return (
            200,
            {},
            json.dumps({"resultCode": "SUCCESS", "access_token": next(tokens), "expires_in": 7200}),
        )

    responses.add_callback(responses.POST, f"{base}/config/api/gettokens", callback=token)
    tickets_url = f"{base}/ticket/lastUpdated/after/2026-11-20T00:00:00Z/page/1/pagesize/50"
    responses.get(tickets_url, status=401)
    responses.get(tickets_url, json=fixture("treez_tickets"))
    clock = FakeClock()
    src = treez(tmp_path, clock)
    assert src.stores([NV, AZ]) == [AZ]
    out = list(src.connector(AZ).iter_records("transactions", "2026-11-20T00:00:00Z"))
    ticket_calls = [c for c in responses.calls if "/ticket/" in c.request.url]
    assert ticket_calls[0].request.headers["authorization"] == "tok-1"
    assert ticket_calls[1].request.headers["authorization"] == "tok-2"
    assert ticket_calls[1].request.headers["client_id"] == "csm-sync"
    records = [r for r in out if isinstance(r, Record)]
    assert [r.key for r in records] == ["AZ-001:T-1", "AZ-001:T-2", "AZ-001:T-3"]  # oldest first
    assert records[2].facts == ()  # canceled
    online = {(f.metric, f.dimension): f.value for f in records[1].facts}
    assert online[("orders", "channel=online")] == 1.0
    assert online[("revenue", "")] == 40.0
    assert online[("revenue", "channel=online,category=edibles")] == 16.0
    assert online[("units", "channel=online,category=flower")] == 1.0


@responses.activate
def test_treez_pages_tickets_until_a_short_page(tmp_path: Path) -> None:
    base = f"{TREEZ}/v2.0/dispensary/saguaro-phx"
    responses.post(f"{base}/config/api/gettokens", json=fixture("treez_token"))
    one = fixture("treez_tickets")["data"]["ticketList"][1]
    full = [dict(one, ticket_id=f"T-{i}") for i in range(50)]
    after = "2026-11-20T00:00:00Z"
    responses.get(
        f"{base}/ticket/lastUpdated/after/{after}/page/1/pagesize/50",
        json={"resultCode": "SUCCESS", "data": {"ticketList": full}},
    )
    responses.get(
        f"{base}/ticket/lastUpdated/after/{after}/page/2/pagesize/50",
        json={"resultCode": "SUCCESS", "data": {"ticketList": [one]}},
    )
    out = list(treez(tmp_path, FakeClock()).connector(AZ).iter_records("transactions", after))
    assert len(out) == 51


@responses.activate
def test_treez_products_carry_stock_and_menu_settings(tmp_path: Path) -> None:
    base = f"{TREEZ}/v2.0/dispensary/saguaro-phx"
    responses.post(f"{base}/config/api/gettokens", json=fixture("treez_token"))
    responses.get(
        f"{base}/product/product_list",
        json=fixture("treez_products"),
        match=[matchers.query_param_matcher({"active": "true", "page": "1", "pagesize": "50"})],
    )
    out = [
        r
        for r in treez(tmp_path, FakeClock()).connector(AZ).iter_records("inventory", None)
        if isinstance(r, Record)
    ]
    assert [
        (r.attrs["product_id"], r.attrs["quantity"], r.attrs["hide_from_menu"], r.attrs["category"])
        for r in out
    ] == [
        ("p-1", 40.0, True, "edibles"),
        ("p-2", 12.0, False, "flower"),
    ]


@responses.activate
def test_treez_error_result_code_is_a_source_error(tmp_path: Path) -> None:
    base = f"{TREEZ}/v2.0/dispensary/saguaro-phx"
    responses.post(f"{base}/config/api/gettokens", json=fixture("treez_token"))
    responses.get(f"{base}/product/product_list", json={"resultCode": "FAIL", "data": {"product_list": []}})
    with pytest.raises(SourceError, match="resultCode 'FAIL'"):
        list(treez(tmp_path, FakeClock()).connector(AZ).iter_records("inventory", None))


def test_facts_from_both_pos_kinds_use_one_vocabulary() -> None:
    dutchie_rec = parse_transaction(
        fixture("dutchie_transactions")[1], NV, NV_TZ(), {"9": "flower", "10": "edibles"}
    )
    treez_rec = parse_ticket(fixture("treez_tickets")["data"]["ticketList"][1], AZ, NV_TZ())
    metrics = {(f.metric, f.dimension.split("=")[0]) for f in dutchie_rec.facts}
    assert metrics == {(f.metric, f.dimension.split("=")[0]) for f in treez_rec.facts}
    assert Fact("orders", 1.0, "channel=online") in treez_rec.facts
