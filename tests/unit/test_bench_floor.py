"""The cycle benchmark's floor: the minimum Salesforce calls for the work and the sources' latency bound."""

from __future__ import annotations

import pytest

from bench.floor import (
    ImageChecks,
    SalesforceMinimum,
    cycle_floor,
    daily_share,
    image_checks,
    salesforce_minimum,
    source_floor,
)


def test_minimum_counts_pages_of_records_read_and_batches_written_not_calls_made() -> None:
    calls = {
        "login": 18,
        "query": 80,
        "query_more": 6,
        "collections": 12,
        "describe": 7,
        "limits": 3,
        "sobject": 2,
    }
    volume = {
        "read": {"Account": 9 * 300, "Risk_Flag__c": 40},  # nine jobs read 300 Accounts: 2 pages in all
        "written": {"Account": 300, "Task": 2_001, "Risk_Flag__c": 200},
        "described": ["Account", "Risk_Flag__c", "Task"],
    }
    m = salesforce_minimum(calls, volume, replicas=1)
    # 2 pages of Accounts + 1 of flags; Accounts 2 calls, Tasks one Bulk job (5), flags 1 call.
    assert m == SalesforceMinimum(logins=1, queries=3, writes=8, describes=3, other=1 + 2)
    assert m.total == 18
    assert salesforce_minimum(calls, volume, replicas=3).logins == 3


def test_a_cycle_that_reads_nothing_still_needs_its_query_and_one_that_calls_nothing_needs_nothing() -> None:
    empty = {"read": {}, "written": {}, "described": []}
    assert salesforce_minimum({"login": 2, "query": 4}, empty, replicas=1).total == 2  # a login and a query
    assert salesforce_minimum({}, empty, replicas=1).total == 0


def test_the_cycle_floor_is_the_slowest_source_then_salesforce_in_series() -> None:
    minimum = SalesforceMinimum(logins=1, queries=10, writes=0, describes=0, other=0)
    floor = cycle_floor(
        {"dutchie": 4_000, "images": 60_000, "platform": 2_000},
        {"*": 16, "images": 32},
        0.05,
        minimum,
        sf_latency_s=0.1,
    )
    assert floor.slowest == "images"
    assert floor.pull == pytest.approx(60_000 / 32 * 0.05)
    assert floor.salesforce == pytest.approx(1.1)
    assert floor.total == pytest.approx(93.75 + 1.1)
    parallel = cycle_floor({"dutchie": 4_000}, {"*": 16}, 0.05, minimum, 0.1, sf_parallel=2, replicas=2)
    assert (parallel.pull, parallel.salesforce) == pytest.approx((6.25, 0.55))


def test_source_floor_and_daily_share() -> None:
    assert source_floor(1_600, 0.05, 16) == pytest.approx(5.0)
    assert source_floor(1_600, 0.05, 0) == pytest.approx(80.0)  # no concurrency given: one at a time
    # Enterprise, 50 licences: 150,000 calls a day; 250 calls an hour use 4 %.
    assert daily_share(250, 24, 50) == pytest.approx(0.04)


def test_image_checks_split_304s_from_full_answers_and_count_both_as_round_trips() -> None:
    assert image_checks({"200": 90, "304": 1_200, "404": 3}) == ImageChecks(unchanged=1_200, full=93)
    assert image_checks({"200": 90, "304": 1_200, "404": 3}).total == 1_293
    assert image_checks({}) == ImageChecks(0, 0)
