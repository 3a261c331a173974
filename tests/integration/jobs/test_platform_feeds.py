"""The platform's portfolio feeds against the sandbox over HTTPS: same records and facts, far fewer calls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from connectors.base import ALL_STORES, Record, Runtime, StoreRef
from connectors.catalog import build_sources, parse_sources
from connectors.platform import FEED_STREAMS, PlatformSource
from jobs.pull import PullReport, pull
from sandbox.portfolio import Portfolio
from sandbox.server import RunningServer, serve
from sandbox.sources import SourcesApp, build_app
from sandbox.tls import TLSMaterial
from tests.integration.jobs.test_pull import facts, rows, state
from tests.integration.jobs.test_pull_sandbox import configs

pytestmark = pytest.mark.integration

TODAY = date(2026, 6, 17)
Sandbox = tuple[SourcesApp, RunningServer, Path]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    tmp = tmp_path_factory.mktemp("feeds")
    app = build_app(Portfolio(7, TODAY, days=21, orders_per_day=12))
    with serve(app, TLSMaterial.create(tmp)) as server:
        yield app, server, tmp


def platform(sandbox: Sandbox, feeds: bool) -> PlatformSource:
    app, server, tmp = sandbox
    app.reset_faults()
    raw, env = configs(app, server, tmp)
    entry = {**raw[0], "options": {"portfolio_feeds": feeds}}
    runtime = Runtime(env=env, now=lambda: app.portfolio.now)
    (source,) = build_sources(parse_sources([entry], "feeds.toml", env), runtime)
    assert isinstance(source, PlatformSource)
    return source


def by_key(records: Iterator[Any]) -> dict[str, tuple[Any, ...]]:
    """What a pull stores of each record, by key (every yielded item must be a record)."""
    out: dict[str, tuple[Any, ...]] = {}
    for r in records:
        assert isinstance(r, Record), r
        assert r.key not in out, f"{r.key} twice"
        out[r.key] = (r.store_id, r.occurred_at, r.occurred_at.utcoffset(), r.cursor, r.facts, r.attrs)
    return out


@pytest.mark.parametrize("since", [None, "2026-06-12T12:00:00Z"])
def test_the_feeds_yield_what_the_per_store_streams_yield(sandbox: Sandbox, since: str | None) -> None:
    per_store, feeds = platform(sandbox, False), platform(sandbox, True)
    directory = {s.store_id: s for s in per_store.stores([]) if isinstance(s, StoreRef)}
    assert len(directory) == 40
    ref = feeds.feed_ref(directory)
    assert ref is not None
    feed = feeds.connector(ref)
    for stream in FEED_STREAMS:
        expected: dict[str, tuple[Any, ...]] = {}
        for store in directory.values():
            expected.update(by_key(per_store.connector(store).iter_records(stream, since)))
        got = by_key(feed.iter_records(stream, since))
        assert expected and got == expected, stream
        zones = {directory[v[0]].timezone for v in got.values()}
        assert len(zones) > 2  # stores of several zones, each row's time in its own
    assert feeds.connector(directory["NV-001"]).streams == ("menu_items", "promotions", "brand_msrp")
    per_store.close()
    feeds.close()


def pulled(sandbox: Sandbox, engine: Engine, feeds: bool) -> tuple[PullReport, int]:
    """A whole pull of the platform source, and the platform calls it made."""
    app = sandbox[0]
    source = platform(sandbox, feeds)
    app.reset_stats()
    try:
        report = pull(engine, [source], app.portfolio.now)
    finally:
        source.close()
    return report, app.stats()["requests"]["platform"]


def stored(engine: Engine) -> set[tuple[str, str, str]]:
    return {(r["stream"], r["key"], r["store_id"]) for r in rows(engine, "source_record")}


def test_a_pull_with_the_feeds_stores_the_same_facts_with_far_fewer_calls(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    off_engine, on_engine = state(tmp_path, "off.db"), state(tmp_path, "on.db")
    off, off_calls = pulled(sandbox, off_engine, False)
    on, on_calls = pulled(sandbox, on_engine, True)
    assert off.ok and on.ok, (off.summary(), on.summary())
    assert facts(on_engine) == facts(off_engine) and len(facts(on_engine)) > 1000
    assert stored(on_engine) == stored(off_engine)
    assert on_calls * 2 < off_calls, (on_calls, off_calls)
    feed = next(o for o in on.outcomes if o.store_id == ALL_STORES)
    assert set(feed.streams) == set(FEED_STREAMS) and feed.records > 0
    nv = next(o for o in on.outcomes if o.store_id == "NV-001")
    assert set(nv.streams) == {"menu_items", "promotions", "brand_msrp"}
    cursors = {(r["stream"], r["store_id"]) for r in rows(on_engine, "cursor")}
    assert {(s, ALL_STORES) for s in FEED_STREAMS} <= cursors
    assert not {(s, "NV-001") for s in FEED_STREAMS} & cursors
    fresh = rows(on_engine, "freshness", "WHERE source='platform' AND store_id != '*'")
    assert len(fresh) == 40 and all(r["newest_data_at"] and r["last_success_at"] for r in fresh)
    # Pulled again, the feeds resume from their cursors (lookback included) and change nothing.
    again, _ = pulled(sandbox, on_engine, True)
    assert again.ok and facts(on_engine) == facts(off_engine)


def test_a_stores_own_failure_is_not_cleared_by_the_feeds_success(sandbox: Sandbox, tmp_path: Path) -> None:
    app, server, tmp = sandbox
    engine = state(tmp_path)
    source = platform(sandbox, True)
    app.set_faults("platform", html_stores=["NV-001"])
    try:
        report = pull(engine, [source], app.portfolio.now)
    finally:
        app.reset_faults()
        source.close()
    assert [(o.source, o.store_id) for o in report.failed] == [("platform", "NV-001")]
    fresh = {r["store_id"]: r for r in rows(engine, "freshness", "WHERE source='platform'")}
    assert "text/html" in fresh["NV-001"]["last_error"] and fresh["NV-001"]["last_success_at"] is None
    assert fresh["NV-001"]["newest_data_at"] is not None  # its analytics and orders came by the feeds
    assert fresh[ALL_STORES]["last_error"] == "" and fresh["AZ-001"]["last_success_at"] is not None
