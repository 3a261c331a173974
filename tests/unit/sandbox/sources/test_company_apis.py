"""Platform, billing, support, NPS and image sandboxes: shapes, auth, pagination and incremental filters."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from werkzeug.test import Client

from sandbox.portfolio import Portfolio
from sandbox.sources import SourcesApp, build_app
from tests.doubles import FakeClock

from .conftest import TODAY, platform_auth


def _follow_cursor(client: Client, url: str, headers: dict[str, str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    cursor = None
    for _ in range(100):
        page = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=headers).json
        rows.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("cursor never ended")


# --- platform ------------------------------------------------------------------------------------


def test_platform_oauth_client_credentials(client: Client, app: SourcesApp, clock: FakeClock) -> None:
    creds = app.credentials
    assert client.get("/platform/v1/stores").status_code == 401
    wrong = client.post(
        "/platform/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.platform_client_id,
            "client_secret": "nope",
        },
    )
    assert wrong.status_code == 401 and wrong.json == {"error": "invalid_client"}
    grant = client.post("/platform/oauth/token", data={"grant_type": "password"})
    assert grant.status_code == 400
    basic = client.post(
        "/platform/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(creds.platform_client_id, creds.platform_client_secret),
    )
    assert basic.json["token_type"] == "Bearer" and basic.json["expires_in"] == 3600
    headers = {"Authorization": f"Bearer {basic.json['access_token']}"}
    assert client.get("/platform/v1/stores", headers=headers).status_code == 200
    clock.advance(3601)
    expired = client.get("/platform/v1/stores", headers=headers)
    assert expired.status_code == 401 and "invalid_token" in expired.headers["WWW-Authenticate"]


def test_platform_stores_page_by_cursor(client: Client, app: SourcesApp, portfolio: Portfolio) -> None:
    headers = platform_auth(client, app)
    rows = _follow_cursor(client, "/platform/v1/stores?limit=7", headers)
    assert [r["id"] for r in rows] == [s.id for s in portfolio.stores]
    nv = rows[0]
    assert set(nv) == {
        "id",
        "name",
        "state",
        "timezone",
        "parent_id",
        "license_number",
        "pos",
        "plan",
        "onboarding_started_on",
        "plan_limits",
        "updated_at",
    }
    assert nv["pos"] == {"kind": "dutchie_pos", "location_id": app.credentials.dutchie["NV-001"].location_id}
    il = next(r for r in rows if r["id"] == "IL-006")
    assert il["parent_id"] == "MSO-2" and il["onboarding_started_on"] == "2026-05-28"
    assert any(r["id"] == "CA-006" for r in rows)  # served though it has no Salesforce Account
    assert client.get("/platform/v1/stores?cursor=bogus!", headers=headers).status_code == 400
    assert client.get("/platform/v1/stores?limit=501", headers=headers).status_code == 400


def test_platform_daily_analytics_and_usage_since(client: Client, app: SourcesApp) -> None:
    headers = platform_auth(client, app)
    rows = _follow_cursor(client, "/platform/v1/stores/NV-001/analytics/daily?since=2026-06-10", headers)
    assert [r["date"] for r in rows] == [f"2026-06-{d:02d}" for d in range(10, 17)]
    assert set(rows[0]) == {
        "date",
        "sessions",
        "carts_created",
        "checkouts_started",
        "orders",
        "revenue",
        "updated_at",
    }
    everything = _follow_cursor(client, "/platform/v1/stores/NV-001/analytics/daily?limit=50", headers)
    assert len(everything) == 120
    usage = _follow_cursor(client, "/platform/v1/stores/NV-005/usage/daily?since=2026-06-01", headers)
    assert len(usage) == 16 and set(usage[0]) == {
        "date",
        "logins",
        "active_users",
        "menu_edits",
        "updated_at",
    }
    assert client.get("/platform/v1/stores/NV-001/usage/daily?since=June", headers=headers).status_code == 400
    assert client.get("/platform/v1/stores/XX-999/usage/daily", headers=headers).status_code == 404


def test_platform_orders_updated_since(client: Client, app: SourcesApp, portfolio: Portfolio) -> None:
    headers = platform_auth(client, app)
    since = "2026-06-15T00:00:00Z"
    rows = _follow_cursor(
        client, f"/platform/v1/stores/AZ-004/orders?updated_since={since}&limit=40", headers
    )
    assert rows and all(str(r["updated_at"]) >= since for r in rows)
    assert {r["status"] for r in rows} <= {"completed", "canceled"}
    completed = [r for r in rows if r["status"] == "completed"]
    analytics = {a.day: a for a in portfolio.analytics("AZ-004")}
    day = date(2026, 6, 15)
    placed_that_day = [r for r in completed if f"-{day:%Y%m%d}-" in str(r["id"])]
    assert len(placed_that_day) == analytics[day].orders
    item = rows[0]["items"][0]  # type: ignore[index]
    base = {"product_id", "category", "quantity", "price"}
    # per unit: net grams for weighed goods, mg THC for mg-labelled ones (for the purchase-limit check)
    assert set(item) in (base | {"weight_grams"}, base | {"thc_mg"}, base)


def test_platform_menu_with_sync_time_and_image_links(client: Client, app: SourcesApp) -> None:
    headers = platform_auth(client, app)
    first = client.get("/platform/v1/stores/NV-001/menu?limit=20", headers=headers).json
    assert first["last_menu_sync_at"] and first["next_cursor"]
    items = _follow_cursor(client, "/platform/v1/stores/NV-001/menu?limit=20", headers)
    assert set(items[0]) == {
        "id",
        "pos_product_id",
        "name",
        "brand",
        "category",
        "price",
        "stock",
        "visible",
        "image_url",
        "potency",
        "package_thc_mg",
        "servings",
        "updated_at",
    }
    url = urlsplit(str(items[0]["image_url"]))
    assert url.netloc == "localhost" and url.path.startswith("/images/NV-001/")
    assert client.head(url.path).status_code == 200
    edible = next(i for i in items if i["category"] == "edibles")
    assert edible["potency"] == {"thc": 10.0, "unit": "mg"} and edible["package_thc_mg"] == 100


def test_platform_promotions_and_msrp(client: Client, app: SourcesApp) -> None:
    headers = platform_auth(client, app)
    promotions = client.get("/platform/v1/stores/CA-001/promotions", headers=headers).json["data"]
    assert any("BOGO" in p["title"] for p in promotions)
    assert set(promotions[0]) == {
        "id",
        "title",
        "description",
        "discount_percent",
        "starts_on",
        "ends_on",
        "channels",
        "updated_at",
    }
    msrp = client.get("/platform/v1/brands/Canyon%20Kind/msrp", headers=headers).json
    assert msrp["brand"] == "Canyon Kind" and {"name", "msrp", "tolerance_percent"} == set(msrp["items"][0])
    assert client.get("/platform/v1/brands/Nobody/msrp", headers=headers).status_code == 404


# --- billing, support, NPS -----------------------------------------------------------------------


def test_billing_key_and_link_pagination(client: Client, app: SourcesApp, portfolio: Portfolio) -> None:
    key = {"X-Api-Key": app.credentials.billing_api_key}
    assert client.get("/billing/v1/invoices?store_id=IL-002").status_code == 401
    url = "/billing/v1/invoices?store_id=IL-002&per_page=2"
    rows: list[dict[str, object]] = []
    while url:
        response = client.get(url, headers=key)
        rows.extend(response.json)
        link = response.headers.get("Link")
        if not link:
            break
        target, rel = link.split(";")
        assert rel.strip() == 'rel="next"'
        parsed = urlsplit(target.strip("<> "))
        assert parsed.scheme == "http" and parsed.netloc == "localhost"
        url = f"{parsed.path}?{parsed.query}"
    assert sorted(r["id"] for r in rows) == sorted(i.id for i in portfolio.invoices("IL-002"))
    assert set(rows[0]) == {
        "id",
        "store_id",
        "number",
        "issued_on",
        "due_on",
        "amount",
        "amount_paid",
        "status",
        "updated_at",
    }
    recent = client.get(
        "/billing/v1/payments?store_id=IL-002&updated_since=2026-05-01T00:00:00Z", headers=key
    ).json
    assert recent and all(str(p["updated_at"]) >= "2026-05-01T00:00:00Z" for p in recent)
    assert {p["status"] for p in recent} >= {"failed"}
    assert set(recent[0]) == {
        "id",
        "invoice_id",
        "store_id",
        "amount",
        "method",
        "status",
        "return_code",
        "payment_method_changed",
        "created_at",
        "updated_at",
    }


def test_billing_links_use_the_public_base_url(portfolio: Portfolio) -> None:
    app = build_app(portfolio, base_url="https://sources.example.test/")
    client = Client(app)
    key = {"X-Api-Key": app.credentials.billing_api_key}
    link = client.get("/billing/v1/invoices?per_page=1", headers=key).headers["Link"]
    assert link.startswith("<https://sources.example.test/billing/v1/invoices?")


def test_support_offset_pages_with_total(client: Client, app: SourcesApp, portfolio: Portfolio) -> None:
    token = {"Authorization": f"Bearer {app.credentials.support_token}"}
    assert client.get("/support/api/tickets?store_id=NV-005").status_code == 401
    first = client.get("/support/api/tickets?store_id=NV-005&offset=0&limit=5", headers=token).json
    total = first["total"]
    assert total == len(portfolio.tickets("NV-005")) > 5
    rows = list(first["tickets"])
    offset = 5
    while offset < total:
        rows.extend(
            client.get(f"/support/api/tickets?store_id=NV-005&offset={offset}&limit=5", headers=token).json[
                "tickets"
            ]
        )
        offset += 5
    assert len({r["id"] for r in rows}) == total
    since = client.get(
        "/support/api/tickets?store_id=NV-005&updated_since=2026-06-01T00:00:00Z", headers=token
    ).json
    assert since["total"] < total and all(t["updated_at"] >= "2026-06-01T00:00:00Z" for t in since["tickets"])


def test_nps_query_key_and_page_numbers(client: Client, app: SourcesApp, portfolio: Portfolio) -> None:
    key = app.credentials.nps_api_key
    assert client.get("/nps/v2/responses?store_id=MA-004").status_code == 401
    first = client.get(f"/nps/v2/responses?store_id=MA-004&api_key={key}&per_page=2").json
    assert first["page"] == 1 and first["pages"] >= 2
    rows = list(first["responses"])
    for page in range(2, first["pages"] + 1):
        rows.extend(
            client.get(f"/nps/v2/responses?store_id=MA-004&api_key={key}&per_page=2&page={page}").json[
                "responses"
            ]
        )
    assert len(rows) == len(portfolio.nps("MA-004"))
    assert set(rows[0]) == {"id", "store_id", "score", "comment", "responded_at"}
    since = client.get(f"/nps/v2/responses?store_id=MA-004&api_key={key}&since=2026-05-01").json
    assert all(r["responded_at"] >= "2026-05-01" for r in since["responses"])


def test_nps_key_in_the_header(client: Client, app: SourcesApp) -> None:
    key = {"X-Api-Key": app.credentials.nps_api_key}
    assert client.get("/nps/v2/responses?store_id=MA-004", headers={"X-Api-Key": "wrong"}).status_code == 401
    body = client.get("/nps/v2/responses?store_id=MA-004&per_page=2", headers=key).json
    assert body["page"] == 1 and len(body["responses"]) == 2


def test_images_answer_png_or_404_for_planted_breakage(client: Client, portfolio: Portfolio) -> None:
    broken = [p for p in portfolio.products("AZ-001") if not p.image_ok]
    healthy = [p for p in portfolio.products("AZ-001") if p.image_ok]
    assert len(broken) == 3
    for product in broken:
        assert client.head(product.image_path).status_code == 404
        assert client.get(product.image_path).status_code == 404
    ok = client.get(healthy[0].image_path)
    assert ok.status_code == 200 and ok.mimetype == "image/png" and ok.data.startswith(b"\x89PNG")
    assert client.head(healthy[0].image_path).status_code == 200
    assert client.get("/images/AZ-001/p999.png").status_code == 404
    assert client.get("/images/XX-001/p000.png").status_code == 404


def test_unknown_paths_list_the_systems(client: Client) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404 and response.json["systems"]["dutchie"] == "/pos/dutchie"
    assert client.get("/platform/v2/stores").status_code == 404
    assert client.post("/pos/dutchie/whoami").status_code == 405
    assert TODAY.isoformat() == "2026-06-17"
