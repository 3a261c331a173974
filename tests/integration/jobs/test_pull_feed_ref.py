"""A source's feed of every store beside its stores' own pulls (`Source.feed_ref`), in the pull job."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base import ALL_STORES
from connectors.memory import MemorySource
from jobs.pull import pull
from tests.integration.jobs.test_pull import AZ, NOW, NV, facts, rows, sale, state

pytestmark = pytest.mark.integration


def source() -> MemorySource:
    """The directory source: each store's own stream, and a feed with both stores' sales."""
    feed = {"transactions": [sale("NV-001", 1, NOW), sale("AZ-001", 2, NOW)]}
    own = {"NV-001": {"menu": [sale("NV-001", 3, NOW)]}, "AZ-001": {"menu": [sale("AZ-001", 4, NOW)]}}
    return MemorySource("platform", own, directory=[NV, AZ], feed=feed, fail_after={("AZ-001", "menu"): 0})


def test_the_feed_is_pulled_once_beside_the_stores_and_leaves_their_outcomes_alone(tmp_path: Path) -> None:
    engine = state(tmp_path)
    report = pull(engine, [source()], NOW)
    assert {(o.store_id, o.records, o.ok) for o in report.outcomes} == {
        (ALL_STORES, 2, True),
        ("NV-001", 1, True),
        ("AZ-001", 0, False),
    }
    assert {k[1] for k in facts(engine)} == {"NV-001", "AZ-001"}  # AZ-001's sale came by the feed
    fresh = {r["store_id"]: r for r in rows(engine, "freshness")}
    assert fresh["AZ-001"]["last_error"] == "menu: injected failure"  # not cleared by the feed's success
    assert fresh["AZ-001"]["last_success_at"] is None and fresh["AZ-001"]["newest_data_at"] is not None
    assert fresh["NV-001"]["last_success_at"] is not None and fresh[ALL_STORES]["last_error"] == ""
    # A shard that pulls the feed but not AZ-001: the feed answering says nothing of AZ-001's own pull.
    assert pull(engine, [source()], NOW, stores={"NV-001"}).ok
    fresh = {r["store_id"]: r for r in rows(engine, "freshness")}
    assert fresh["AZ-001"]["last_error"] == "menu: injected failure"
    assert fresh["AZ-001"]["last_success_at"] is None


def test_a_shard_without_account_wide_feeds_pulls_only_the_stores(tmp_path: Path) -> None:
    engine = state(tmp_path)
    report = pull(engine, [source()], NOW, stores={"NV-001"}, account_wide=False)
    assert [(o.store_id, o.records) for o in report.outcomes] == [("NV-001", 1)]
    wide = pull(state(tmp_path, "wide.db"), [source()], NOW, stores={"NV-001"})
    assert sorted((o.store_id, o.records) for o in wide.outcomes) == [(ALL_STORES, 2), ("NV-001", 1)]
