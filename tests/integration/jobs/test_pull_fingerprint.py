"""Snapshots fingerprinted by their raw pages: an unchanged one is not parsed again, a changed one is."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import connectors.dutchie
import connectors.platform
import connectors.treez
from connectors.base import Source
from jobs.pull import SNAPSHOT_FINGERPRINT, pull
from sandbox.server import RunningServer
from sandbox.sources import SourcesApp
from tests.integration.jobs.test_pull import cursor, facts, rows, state
from tests.integration.jobs.test_pull_sandbox import built, sandbox, subset

pytestmark = pytest.mark.integration
__all__ = ["sandbox"]  # the module-scoped sandbox fixture, shared with test_pull_sandbox

SNAPSHOT_PARSERS = {
    ("platform", "menu_items"): (connectors.platform, "parse_menu_item"),
    ("platform", "promotions"): (connectors.platform, "parse_promotion"),
    ("dutchie", "products"): (connectors.dutchie, "parse_product"),
    ("dutchie", "inventory"): (connectors.dutchie, "parse_inventory"),
    ("treez", "inventory"): (connectors.treez, "parse_product"),
}


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[tuple[str, str, str]]]:
    """Counts each snapshot parser's calls by (source, stream, store)."""
    counts: Counter[tuple[str, str, str]] = Counter()

    def counting(key: tuple[str, str], parse: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(raw: Any, store: Any, *args: Any) -> Any:
            counts[(*key, store.store_id)] += 1
            return parse(raw, store, *args)

        return wrapper

    for key, (module, name) in SNAPSHOT_PARSERS.items():
        monkeypatch.setattr(module, name, counting(key, getattr(module, name)))
    yield counts


def pos_sources(app: SourcesApp, server: RunningServer, tmp: Path) -> list[Source]:
    return [s for s in built(app, server, tmp) if s.name in ("platform", "dutchie", "treez")]


def test_an_unchanged_snapshot_is_not_parsed_again(
    sandbox: tuple[SourcesApp, RunningServer, Path], tmp_path: Path, parsed: Counter[tuple[str, str, str]]
) -> None:
    app, server, tmp = sandbox
    app.reset_faults()
    engine = state(tmp_path)
    stores = subset(app)
    first = pull(engine, pos_sources(app, server, tmp), app.portfolio.now, stores=stores)
    assert first.ok, first.summary()
    assert {(source, stream) for source, stream, _ in parsed} == set(SNAPSHOT_PARSERS)
    for store in stores:
        assert cursor(engine, "platform", "menu_items", store).startswith(SNAPSHOT_FINGERPRINT)
    before, records_before = facts(engine), rows(engine, "source_record")
    parsed.clear()
    transactions = Counter[str]()
    original = connectors.dutchie.parse_transaction

    def parse_transaction(raw: Any, store: Any, tz: Any, categories: dict[str, str]) -> Any:
        transactions[store.store_id] += 1
        assert categories, "transactions were parsed without the unchanged product list's categories"
        return original(raw, store, tz, categories)

    connectors.dutchie.parse_transaction = parse_transaction  # type: ignore[assignment]
    try:
        # Re-reading two days of transactions needs the categories of the (unchanged) product list.
        since = app.portfolio.now - timedelta(days=2)
        again = pull(engine, pos_sources(app, server, tmp), app.portfolio.now, stores=stores, since=since)
    finally:
        connectors.dutchie.parse_transaction = original  # type: ignore[assignment]
    assert again.ok, again.summary()
    assert parsed == Counter(), "an unchanged snapshot was parsed again"
    assert sum(transactions.values()) > 0, "no transactions were re-read"
    assert facts(engine) == before
    assert rows(engine, "source_record") == records_before
    # The menu sync time read off the unchanged menu's first page is still recorded for every store.
    synced = {r["store_id"] for r in rows(engine, "freshness", "WHERE source='menu_sync'")}
    assert stores <= synced


def test_a_changed_snapshot_is_parsed_and_stored_and_only_that_one(
    sandbox: tuple[SourcesApp, RunningServer, Path],
    tmp_path: Path,
    parsed: Counter[tuple[str, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, server, tmp = sandbox
    app.reset_faults()
    engine = state(tmp_path)
    stores = subset(app)
    assert pull(engine, pos_sources(app, server, tmp), app.portfolio.now, stores=stores).ok
    changed_store = sorted(stores)[0]
    menu = app.portfolio.menu(changed_store)
    item = menu.items[0]
    restocked = dataclasses.replace(
        menu, items=(dataclasses.replace(item, stock=item.stock + 17), *menu.items[1:])
    )
    real_menu = app.portfolio.menu
    monkeypatch.setattr(
        app.portfolio, "menu", lambda sid: restocked if sid == changed_store else real_menu(sid)
    )
    parsed.clear()
    report = pull(engine, pos_sources(app, server, tmp), app.portfolio.now, stores=stores)
    assert report.ok, report.summary()
    assert {key for key in parsed} == {("platform", "menu_items", changed_store)}
    assert parsed["platform", "menu_items", changed_store] == len(menu.items)
    stored = rows(engine, "source_record", f"WHERE stream='menu_items' AND key='{changed_store}:{item.id}'")
    assert len(stored) == 1 and f'"stock": {item.stock + 17}' in str(stored[0]["attrs"]).replace("'", '"')


def test_a_snapshot_with_malformed_records_is_read_and_quarantined_every_time(
    sandbox: tuple[SourcesApp, RunningServer, Path], tmp_path: Path, parsed: Counter[tuple[str, str, str]]
) -> None:
    app, server, tmp = sandbox
    app.reset_faults()
    engine = state(tmp_path)
    spoiled = sorted(subset(app))[0]
    app.set_faults("platform", malformed_stores=[spoiled])
    try:
        sources = [s for s in built(app, server, tmp) if s.name == "platform"]
        first = pull(engine, sources, app.portfolio.now, stores={spoiled})
        parsed.clear()
        second = pull(engine, [s for s in built(app, server, tmp) if s.name == "platform"], app.portfolio.now,
                      stores={spoiled})  # fmt: skip
    finally:
        app.reset_faults()
    assert first.rejected > 0 and second.rejected > 0
    assert parsed["platform", "menu_items", spoiled] > 0, "a snapshot with quarantined payloads was skipped"
    assert not cursor(engine, "platform", "menu_items", spoiled).startswith(SNAPSHOT_FINGERPRINT)
