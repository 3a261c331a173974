"""Sparse feeds are stale when their pulls stop, not when a quiet week brings no new data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mappings.context import AccountData
from mappings.functions import Metrics
from mappings.load import load_mapping_set

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def metrics(pull_measured: frozenset[str]) -> Metrics:
    data = AccountData(
        store_id="IL-002",
        today=date(2026, 11, 23),
        now=NOW,
        freshness={"billing": NOW - timedelta(days=20), "pos": NOW - timedelta(days=3)},
        last_success={"billing": NOW - timedelta(minutes=15), "pos": NOW - timedelta(minutes=15)},
    )
    return Metrics(data, {"billing": 72.0, "pos": 36.0}, 36.0, None, pull_measured)


def test_pull_measured_source_uses_last_successful_pull() -> None:
    m = metrics(frozenset({"billing"}))
    assert m.freshness("billing") == 0.25
    assert not m.stale("billing")
    assert m.stale("pos"), "POS is still judged by its newest data: three days without sales is stale"


def test_data_measured_source_uses_newest_data() -> None:
    m = metrics(frozenset())
    assert m.freshness("billing") == 20 * 24
    assert m.stale("billing")


def test_shipped_sources_measure_sparse_feeds_by_pull() -> None:
    ms = load_mapping_set()
    assert ms.pull_measured == {"billing", "support", "nps"}
