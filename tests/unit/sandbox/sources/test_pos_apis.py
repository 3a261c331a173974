"""Dutchie, Treez and Metrc sandboxes answer in the shapes of docs/sources.md, with real auth and windows."""

from __future__ import annotations

from datetime import datetime, timedelta

from werkzeug.test import Client

from sandbox.portfolio import Portfolio
from sandbox.sources import SourcesApp
from tests.doubles import FakeClock

from .conftest import TODAY, basic, dutchie_auth, treez_auth

DUTCHIE_TRANSACTION_KEYS = {
    "transactionId",
    "transactionDate",
    "transactionType",
    "orderSource",
    "orderType",
    "wasPreOrdered",
    "isReturn",
    "isVoid",
    "subtotal",
    "totalDiscount",
    "tax",
    "total",
    "totalItems",
    "customerId",
    "items",
    "lastModifiedDateUtc",
}
TREEZ_TICKET_KEYS = {
    "ticket_id",
    "order_source",
    "type",
    "order_status",
    "date_created",
    "last_updated_at",
    "sub_total",
    "discount_total",
    "tax_total",
    "total",
    "items",
}


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- Dutchie -------------------------------------------------------------------------------------


def test_dutchie_whoami_needs_the_location_key(client: Client, app: SourcesApp, portfolio: Portfolio) -> None:
    response = client.get("/pos/dutchie/whoami", headers=dutchie_auth(app, "NV-001"))
    assert response.json == {
        "LocationId": portfolio.store("NV-001").pos_location_id,
        "LocationName": portfolio.store("NV-001").name,
    }
    key = app.credentials.dutchie["NV-001"]
    assert client.get("/pos/dutchie/whoami", headers=basic(key.location_key, "")).status_code == 200
    for headers in ({}, basic("nope", ""), basic(key.location_key, "wrong-integrator")):
        refused = client.get("/pos/dutchie/whoami", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Basic")


def test_dutchie_products_page_by_offset_until_empty(
    client: Client, app: SourcesApp, portfolio: Portfolio
) -> None:
    headers = dutchie_auth(app, "NV-004")
    seen: list[int] = []
    offset = 0
    while True:
        page = client.get(f"/pos/dutchie/products?offset={offset}&limit=25", headers=headers).json
        if not page:
            break
        assert set(page[0]) == {
            "productId",
            "productName",
            "sku",
            "category",
            "brandName",
            "recPrice",
            "imageUrl",
            "onlineProduct",
            "lastModifiedDateUTC",
        }
        seen.extend(p["productId"] for p in page)
        offset += len(page)
    assert seen == [int(p.pos_id) for p in portfolio.products("NV-004")]


def test_dutchie_inventory_pages_by_skip_take(client: Client, app: SourcesApp, portfolio: Portfolio) -> None:
    headers = dutchie_auth(app, "NV-004")
    rows = []
    for skip in range(0, 100, 40):
        rows.extend(client.get(f"/pos/dutchie/reporting/inventory?Skip={skip}&Take=40", headers=headers).json)
    assert [r["quantityAvailable"] for r in rows] == [p.pos_stock for p in portfolio.products("NV-004")]
    assert client.get("/pos/dutchie/reporting/inventory?Take=5001", headers=headers).status_code == 400


def test_dutchie_transactions_within_the_window(
    client: Client, app: SourcesApp, portfolio: Portfolio
) -> None:
    headers = dutchie_auth(app, "NV-004")
    start, end = "2026-06-10T00:00:00Z", "2026-06-12T00:00:00Z"
    url = f"/pos/dutchie/reporting/transactions?fromLastModifiedDateUTC={start}&toLastModifiedDateUTC={end}"
    rows = client.get(url + "&IncludeDetail=true", headers=headers).json
    assert rows and set(rows[0]) == DUTCHIE_TRANSACTION_KEYS
    assert all(_utc(start) <= _utc(r["lastModifiedDateUtc"]) <= _utc(end) for r in rows)
    expected = portfolio.orders_between("NV-004", _utc(start), _utc(end))
    assert [r["transactionId"] for r in rows] == [o.number for o in expected if o.status == "completed"]
    online = [r for r in rows if r["orderSource"] == "Online"]
    assert online and all(r["wasPreOrdered"] and r["orderType"] in ("Pickup", "Delivery") for r in online)
    first = rows[0]
    assert round(sum(i["totalPrice"] for i in first["items"]), 2) == first["subtotal"]
    assert first["total"] == round(first["subtotal"] - first["totalDiscount"] + first["tax"], 2)
    assert "items" not in client.get(url, headers=headers).json[0]


def test_dutchie_refuses_bad_windows(client: Client, app: SourcesApp) -> None:
    headers = dutchie_auth(app, "NV-004")
    base = "/pos/dutchie/reporting/transactions"
    too_long = (
        f"{base}?fromLastModifiedDateUTC=2026-05-01T00:00:00Z&toLastModifiedDateUTC=2026-06-02T00:00:00Z"
    )
    backwards = (
        f"{base}?fromLastModifiedDateUTC=2026-06-02T00:00:00Z&toLastModifiedDateUTC=2026-06-01T00:00:00Z"
    )
    for url in (
        too_long,
        backwards,
        base,
        f"{base}?fromLastModifiedDateUTC=yesterday&toLastModifiedDateUTC=now",
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 400 and "Message" in response.json
    ok = f"{base}?fromLastModifiedDateUTC=2026-05-01T00:00:00Z&toLastModifiedDateUTC=2026-06-01T00:00:00Z"
    assert client.get(ok, headers=headers).status_code == 200  # exactly 31 days


def test_dutchie_store_without_pos_data_answers_empty(client: Client, app: SourcesApp) -> None:
    headers = dutchie_auth(app, "MA-005")
    assert client.get("/pos/dutchie/whoami", headers=headers).status_code == 200
    assert client.get("/pos/dutchie/products", headers=headers).json == []
    window = "fromLastModifiedDateUTC=2026-05-20T00:00:00Z&toLastModifiedDateUTC=2026-06-17T00:00:00Z"
    assert client.get(f"/pos/dutchie/reporting/transactions?{window}", headers=headers).json == []


# --- Treez ---------------------------------------------------------------------------------------


def test_treez_token_flow_and_expiry(client: Client, app: SourcesApp, clock: FakeClock) -> None:
    dispensary, headers = treez_auth(client, app, "AZ-001")
    url = f"/pos/treez/v2.0/dispensary/{dispensary}/product/product_list?active=true&page=1&pagesize=5"
    assert client.get(url, headers=headers).status_code == 200
    clock.advance(7201)
    expired = client.get(url, headers=headers)
    assert expired.status_code == 401 and expired.json["resultCode"] == "FAIL"
    _, fresh = treez_auth(client, app, "AZ-001")
    assert client.get(url, headers=fresh).status_code == 200
    assert (
        client.get(url, headers={"authorization": fresh["authorization"]}).status_code == 401
    )  # no client_id


def test_treez_refuses_bad_keys_and_foreign_tokens(client: Client, app: SourcesApp) -> None:
    key = app.credentials.treez["AZ-001"]
    bad = client.post(
        f"/pos/treez/v2.0/dispensary/{key.dispensary}/config/api/gettokens",
        data={"client_id": key.client_id, "apikey": "wrong"},
    )
    assert bad.status_code == 401
    _, headers = treez_auth(client, app, "AZ-001")
    other = app.credentials.treez["CA-001"]
    foreign = client.get(
        f"/pos/treez/v2.0/dispensary/{other.dispensary}/product/product_list",
        headers={**headers, "client_id": other.client_id},
    )
    assert foreign.status_code == 403


def test_treez_tickets_newest_first_until_a_short_page(
    client: Client, app: SourcesApp, portfolio: Portfolio
) -> None:
    dispensary, headers = treez_auth(client, app, "AZ-004")
    after = "2026-06-13T00:00:00Z"
    tickets: list[dict[str, object]] = []
    page = 1
    while True:
        url = f"/pos/treez/v2.0/dispensary/{dispensary}/ticket/lastUpdated/after/{after}/page/{page}/pagesize/50"
        body = client.get(url, headers=headers).json
        assert body["resultCode"] == "SUCCESS"
        chunk = body["data"]["ticketList"]
        tickets.extend(chunk)
        if len(chunk) < 50:
            break
        page += 1
    assert page > 1 and set(tickets[0]) == TREEZ_TICKET_KEYS
    stamps = [str(t["last_updated_at"]) for t in tickets]
    assert stamps == sorted(stamps, reverse=True) and min(stamps) > after
    assert len({t["ticket_id"] for t in tickets}) == len(tickets)
    expected = [
        o
        for o in portfolio.orders_between("AZ-004", _utc(after), portfolio.now)
        if o.updated_at > _utc(after)
    ]
    assert len(tickets) == len(expected)
    assert {t["order_status"] for t in tickets} == {"COMPLETED", "CANCELED"}
    assert {t["order_source"] for t in tickets} == {"ECOMMERCE", "IN_STORE"}
    too_big = f"/pos/treez/v2.0/dispensary/{dispensary}/ticket/lastUpdated/after/{after}/page/1/pagesize/51"
    assert client.get(too_big, headers=headers).status_code == 400


def test_treez_stale_store_serves_nothing_recent(
    client: Client, app: SourcesApp, portfolio: Portfolio
) -> None:
    dispensary, headers = treez_auth(client, app, "CA-002")
    after = (TODAY - timedelta(days=7)).isoformat() + "T00:00:00Z"
    url = f"/pos/treez/v2.0/dispensary/{dispensary}/ticket/lastUpdated/after/{after}/page/1/pagesize/50"
    tickets = client.get(url, headers=headers).json["data"]["ticketList"]
    feed_end = portfolio.store("CA-002").pos_feed_end
    assert tickets and feed_end is not None
    assert max(_utc(t["last_updated_at"]) for t in tickets) < feed_end
    assert max(_utc(t["last_updated_at"]) for t in tickets) > feed_end - timedelta(hours=12)


def test_treez_products_in_pages_of_fifty(client: Client, app: SourcesApp, portfolio: Portfolio) -> None:
    dispensary, headers = treez_auth(client, app, "AZ-001")
    rows = []
    for page in (1, 2):
        url = f"/pos/treez/v2.0/dispensary/{dispensary}/product/product_list?active=true&page={page}&pagesize=50"
        rows.extend(client.get(url, headers=headers).json["data"]["product_list"])
    assert len(rows) == len(portfolio.products("AZ-001"))
    edible = next(r for r in rows if r["category_type"] == "EDIBLE")
    assert set(edible) == {
        "product_id",
        "category_type",
        "sellable_quantity",
        "product_configurable_fields",
        "pricing",
        "e_commerce",
        "last_updated_at",
    }
    assert edible["product_configurable_fields"]["total_mg_thc"] == 100
    assert any(r["e_commerce"]["hide_from_menu"] for r in rows if r["category_type"] == "EDIBLE")


# --- Metrc ---------------------------------------------------------------------------------------


def test_metrc_receipts_in_a_day_window(client: Client, app: SourcesApp, portfolio: Portfolio) -> None:
    creds = app.credentials
    headers = basic(creds.metrc_vendor_key, creds.metrc_user_key)
    license_number = portfolio.store("MI-001").license_number
    start, end = "2026-06-15T00:00:00Z", "2026-06-16T00:00:00Z"
    url = (
        f"/metrc/sales/v1/receipts/active?licenseNumber={license_number}"
        f"&lastModifiedStart={start}&lastModifiedEnd={end}"
    )
    rows = client.get(url, headers=headers).json
    assert rows and set(rows[0]) == {
        "Id",
        "ReceiptNumber",
        "SalesDateTime",
        "SalesCustomerType",
        "TotalPackages",
        "TotalPrice",
        "IsFinal",
        "LastModified",
    }
    assert all(start <= r["LastModified"] <= end for r in rows)
    too_long = url.replace("2026-06-16T00:00:00Z", "2026-06-16T00:00:01Z")
    assert client.get(too_long, headers=headers).status_code == 400
    assert client.get(url, headers=basic(creds.metrc_vendor_key, "wrong")).status_code == 401
    assert client.get(url.replace(license_number, "XX-000"), headers=headers).status_code == 401
    assert client.get("/metrc/sales/v1/receipts/active", headers=headers).status_code == 400
