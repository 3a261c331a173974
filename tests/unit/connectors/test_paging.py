"""Paginators are pure: given a page, they name the next request or end."""

from __future__ import annotations

import pytest

from connectors.paging import (
    Page,
    PageRequest,
    PaginationConfig,
    PaginationError,
    make_paginator,
    parse_link_header,
)


def page(items: list[object], body: object = None, headers: dict[str, str] | None = None) -> Page:
    return Page(body if body is not None else items, headers or {}, items)


def test_page_number_in_query_ends_at_total_pages() -> None:
    p = make_paginator(PaginationConfig(kind="page_number", total_path="pages"))
    first = p.first("/v2/responses", {"store_id": "NV-001"})
    assert first.params == {"store_id": "NV-001", "page": "1"}
    second = p.next(first, page([1], {"responses": [1], "page": 1, "pages": 2}))
    assert second is not None and second.params["page"] == "2"
    assert p.next(second, page([2], {"responses": [2], "page": 2, "pages": 2})) is None


def test_page_number_in_path_ends_on_short_page() -> None:
    p = make_paginator(PaginationConfig(kind="page_number", size=2))
    first = p.first("/ticket/page/{page}/pagesize/2", {})
    assert first.path == "/ticket/page/1/pagesize/2"
    second = p.next(first, page([1, 2]))
    assert second is not None and second.path == "/ticket/page/2/pagesize/2"
    assert p.next(second, page([3])) is None


def test_page_number_sends_page_size_when_named() -> None:
    p = make_paginator(PaginationConfig(kind="page_number", size=50, size_param="pagesize"))
    assert p.first("/products", {"active": "true"}).params == {
        "active": "true",
        "page": "1",
        "pagesize": "50",
    }


def test_offset_limit_advances_by_items_and_stops_at_total() -> None:
    p = make_paginator(PaginationConfig(kind="offset", size=2, total_path="total"))
    first = p.first("/api/tickets", {})
    assert first.params == {"offset": "0", "limit": "2"}
    second = p.next(first, page([1, 2], {"tickets": [1, 2], "total": 3}))
    assert second is not None and second.params["offset"] == "2"
    assert p.next(second, page([3], {"tickets": [3], "total": 3})) is None


def test_offset_without_size_ends_on_empty_page() -> None:
    p = make_paginator(PaginationConfig(kind="offset"))
    first = p.first("/products", {})
    nxt = p.next(first, page([1, 2, 3]))
    assert nxt is not None and nxt.params["offset"] == "3"
    assert p.next(nxt, page([])) is None


def test_skip_take_uses_its_own_names() -> None:
    p = make_paginator(PaginationConfig(kind="skip_take", size=500))
    first = p.first("/reporting/inventory", {})
    assert first.params == {"Skip": "0", "Take": "500"}
    nxt = p.next(first, page(list(range(500))))
    assert nxt is not None and nxt.params["Skip"] == "500"


def test_cursor_in_body() -> None:
    p = make_paginator(PaginationConfig(kind="cursor"))
    first = p.first("/v1/stores", {"a": "1"})
    nxt = p.next(first, page([1], {"data": [1], "next_cursor": "abc"}))
    assert nxt is not None and nxt.params == {"a": "1", "cursor": "abc"}
    assert p.next(nxt, page([2], {"data": [2], "next_cursor": None})) is None


def test_cursor_that_does_not_advance_is_an_error() -> None:
    p = make_paginator(PaginationConfig(kind="cursor"))
    first = p.first("/v1/stores", {})
    nxt = p.next(first, page([1], {"next_cursor": "same"}))
    assert nxt is not None
    with pytest.raises(PaginationError, match="same request"):
        p.next(nxt, page([1], {"next_cursor": "same"}))


def test_next_link_in_body() -> None:
    p = make_paginator(PaginationConfig(kind="next_link", next_path="links.next"))
    first = p.first("/items", {"q": "x"})
    nxt = p.next(first, page([1], {"links": {"next": "https://api.example.com/items?page=2"}}))
    assert nxt == PageRequest("https://api.example.com/items?page=2", {}, 2)
    assert p.next(nxt, page([1], {"links": {"next": None}})) is None


def test_link_header() -> None:
    p = make_paginator(PaginationConfig(kind="link_header"))
    first = p.first("/v1/invoices", {"store_id": "NV-001"})
    link = '<https://b.example.com/v1/invoices?page=2>; rel="next", <https://b.example.com/v1/invoices?page=9>; rel="last"'
    nxt = p.next(first, page([1], headers={"link": link}))
    assert nxt is not None and nxt.path == "https://b.example.com/v1/invoices?page=2" and nxt.params == {}
    assert (
        p.next(nxt, page([1], headers={"link": '<https://b.example.com/v1/invoices?page=1>; rel="prev"'}))
        is None
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<https://x/a?p=2>; rel="next"', {"next": "https://x/a?p=2"}),
        ("<https://x/a?p=2>; rel=next", {"next": "https://x/a?p=2"}),
        (
            '<https://x/1>; rel="prev first", <https://x/3>; title="t, u"; rel="next"',
            {"prev": "https://x/1", "first": "https://x/1", "next": "https://x/3"},
        ),
        ("", {}),
        ("garbage", {}),
    ],
)
def test_parse_link_header(header: str, expected: dict[str, str]) -> None:
    assert parse_link_header(header) == expected


def test_page_limit_stops_a_runaway_api() -> None:
    p = make_paginator(PaginationConfig(kind="cursor", max_pages=2))
    first = p.first("/x", {})
    second = p.next(first, page([1], {"next_cursor": "a"}))
    assert second is not None
    with pytest.raises(PaginationError, match="more than 2 pages"):
        p.next(second, page([1], {"next_cursor": "b"}))
