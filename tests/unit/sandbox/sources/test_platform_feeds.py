"""The platform's portfolio feeds: every store's rows once, store-major, pages that read only their stores."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client

from sandbox.portfolio import Portfolio
from sandbox.sources import SourcesApp
from sandbox.sources.platform import decode_feed_cursor, encode_feed_cursor

from .conftest import platform_auth

Rows = list[dict[str, Any]]


def _pages(client: Client, url: str, headers: dict[str, str]) -> list[Rows]:
    pages: list[Rows] = []
    cursor = None
    for _ in range(200):
        response = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        pages.append(response.json["data"])
        cursor = response.json["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("cursor never ended")


def _per_store(client: Client, portfolio: Portfolio, path: str, query: str, headers: dict[str, str]) -> Rows:
    """What the per-store endpoint gives for every store, in portfolio order, each row naming its store."""
    out: Rows = []
    for store in portfolio.stores:
        pages = _pages(client, f"/platform/v1/stores/{store.id}/{path}?{query}&limit=500", headers)
        out += [{"store_id": store.id, **row} for page in pages for row in page]
    return out


@pytest.mark.parametrize(
    ("path", "query", "limit"),
    [
        ("analytics/daily", "since=2026-06-14", 7),
        ("usage/daily", "since=2026-06-13", 11),
        ("orders", "updated_since=2026-06-16T06:00:00Z", 50),
    ],
)
def test_feeds_list_every_stores_rows_once_across_store_boundaries(
    client: Client, app: SourcesApp, portfolio: Portfolio, path: str, query: str, limit: int
) -> None:
    headers = platform_auth(client, app)
    pages = _pages(client, f"/platform/v1/{path}?{query}&limit={limit}", headers)
    rows = [row for page in pages for row in page]
    assert rows == _per_store(client, portfolio, path, query, headers)
    assert all(len(page) == limit for page in pages[:-1]) and 0 < len(pages[-1]) <= limit
    starts = [page[0]["store_id"] for page in pages]
    ends = [page[-1]["store_id"] for page in pages]
    assert any(a != b for a, b in zip(starts, ends, strict=True)), "no page spans two stores"
    assert len({r["store_id"] for r in rows}) > 10  # many stores, in one paged read


def test_feed_filters_by_since_and_updated_since(client: Client, app: SourcesApp) -> None:
    headers = platform_auth(client, app)
    days = [
        r
        for p in _pages(client, "/platform/v1/analytics/daily?since=2026-06-15&limit=500", headers)
        for r in p
    ]
    assert {r["date"] for r in days} == {"2026-06-15", "2026-06-16"}
    since = "2026-06-16T09:00:00Z"
    orders = [
        r for p in _pages(client, f"/platform/v1/orders?updated_since={since}&limit=500", headers) for r in p
    ]
    assert orders and all(str(r["updated_at"]) >= since for r in orders)
    everything = [r for p in _pages(client, "/platform/v1/usage/daily?limit=500", headers) for r in p]
    assert len({r["date"] for r in everything}) == 120  # no since: the whole history


def test_a_feed_page_reads_only_the_stores_it_returns(
    client: Client, app: SourcesApp, portfolio: Portfolio, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = platform_auth(client, app)
    stores = portfolio.stores
    counts = [len(portfolio.analytics(s.id)) for s in stores]
    i = next(i for i in range(30, len(stores) - 1) if counts[i] >= 2 and counts[i + 1] > 3)
    left = counts[i]
    read: list[str] = []
    analytics = portfolio.analytics

    def spy(store_id: str) -> Any:
        read.append(store_id)
        return analytics(store_id)

    monkeypatch.setattr(portfolio, "analytics", spy)
    cursor = encode_feed_cursor(i, left - 2)  # two rows left of store i
    page = client.get(f"/platform/v1/analytics/daily?limit=5&cursor={cursor}", headers=headers).json
    assert [r["store_id"] for r in page["data"]] == [stores[i].id] * 2 + [stores[i + 1].id] * 3
    assert read == [stores[i].id, stores[i + 1].id]
    assert decode_feed_cursor(page["next_cursor"]) == (i + 1, 3)


def test_feeds_refuse_bad_requests_and_ignore_per_store_faults(
    client: Client, app: SourcesApp, portfolio: Portfolio
) -> None:
    assert client.get("/platform/v1/analytics/daily").status_code == 401
    headers = platform_auth(client, app)
    assert client.get("/platform/v1/usage/daily?cursor=bogus!", headers=headers).status_code == 400
    assert (
        client.get(f"/platform/v1/orders?cursor={encode_feed_cursor(-1, 0)}", headers=headers).status_code
        == 400
    )
    assert client.get("/platform/v1/orders?limit=501", headers=headers).status_code == 400
    assert client.get("/platform/v1/analytics/daily?since=June", headers=headers).status_code == 400
    assert client.get("/platform/v1/orders?updated_since=soon", headers=headers).status_code == 400
    past = client.get(f"/platform/v1/orders?cursor={encode_feed_cursor(10**6, 0)}", headers=headers).json
    assert past == {"data": [], "next_cursor": None}
    first = portfolio.stores[0].id
    app.set_faults("platform", html_stores=[first], malformed_stores=[first], truncated_stores=[first])
    try:
        page = client.get("/platform/v1/usage/daily?limit=3", headers=headers)
        store_page = client.get(f"/platform/v1/stores/{first}/usage/daily?limit=3", headers=headers)
    finally:
        app.reset_faults()
    assert page.status_code == 200 and [r["store_id"] for r in page.json["data"]] == [first] * 3
    assert all(isinstance(r["logins"], int) for r in page.json["data"])
    assert store_page.mimetype == "text/html"  # the per-store endpoint still gets the store's faults
