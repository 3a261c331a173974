"""A snapshot's pages held and fingerprinted by their raw bytes before any is parsed."""

from __future__ import annotations

import hashlib

from connectors.paging import Page
from connectors.source import hold_snapshot


def page(content: bytes, items: int = 2) -> Page:
    return Page({}, {}, list(range(items)), hashlib.blake2b(content, digest_size=16).digest())


def test_the_same_bytes_give_the_same_fingerprint_and_any_change_another() -> None:
    a = hold_snapshot([page(b"one"), page(b"two")], "menu", "v1")
    same = hold_snapshot([page(b"one"), page(b"two")], "menu", "v1")
    assert a.fingerprint is not None and a.fingerprint == same.fingerprint
    assert a.fingerprint.stream == "menu"
    changed = hold_snapshot([page(b"one"), page(b"tw0")], "menu", "v1")
    reordered = hold_snapshot([page(b"two"), page(b"one")], "menu", "v1")
    fewer = hold_snapshot([page(b"one")], "menu", "v1")
    other_parser = hold_snapshot([page(b"one"), page(b"two")], "menu", "v2")
    values = {x.fingerprint.value for x in (a, changed, reordered, fewer, other_parser) if x.fingerprint}
    assert len(values) == 5


def test_all_pages_come_back_in_order_whether_or_not_held_whole() -> None:
    pages = [page(bytes([i]), items=3) for i in range(5)]
    whole = hold_snapshot(iter(pages), "inventory", "v1", hold=100)
    assert whole.fingerprint is not None and list(whole.all_pages()) == pages
    assert list(whole.raw_items()) == [i for p in pages for i in p.items]
    # Past `hold` items the rest streams unheld, and nothing vouches for the whole: no fingerprint.
    big = hold_snapshot(iter(pages), "inventory", "v1", hold=7)
    assert big.fingerprint is None
    assert len(big.pages) == 3
    assert list(big.all_pages()) == pages


def test_a_page_without_its_bytes_digest_cannot_be_fingerprinted() -> None:
    held = hold_snapshot([page(b"one"), Page({}, {}, [1])], "menu", "v1")
    assert held.fingerprint is None and len(list(held.all_pages())) == 2


def test_an_empty_snapshot_has_a_fingerprint_of_its_own() -> None:
    empty = hold_snapshot([page(b"[]", items=0)], "promotions", "v1")
    other = hold_snapshot([page(b"[{}]", items=1)], "promotions", "v1")
    assert empty.fingerprint is not None and other.fingerprint is not None
    assert empty.fingerprint != other.fingerprint
