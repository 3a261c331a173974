"""Reading Accounts for a shard: its stores and their MSO parents, and when that beats paging through all."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.salesforce.client import SalesforceClient
from jobs.accounts import read_accounts, scoped_read
from sandbox.salesforce.org import Org

pytestmark = pytest.mark.integration


class Counting:
    """A reader counting the queries it is asked."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client, self.queries = client, 0

    def query(self, soql: str) -> Any:
        self.queries += 1
        return self.client.query(soql)


def test_a_shard_reads_its_stores_and_their_parents_only(sf_org: Org, sf_client: SalesforceClient) -> None:
    [mso] = sf_org.load("Account", [{"Name": "Green Group", "Store_Id__c": "MSO-1"}])
    sf_org.load(
        "Account",
        [
            {"Name": f"Store {i}", "Store_Id__c": f"S-{i:03d}", "ParentId": mso if i < 3 else None}
            for i in range(450)
        ]
        + [{"Name": "Prospect without a store"}],
    )
    everything = read_accounts(sf_client, ["Plan__c"])
    assert len(everything) == 451
    shard = [f"S-{i:03d}" for i in range(0, 450, 2)] + ["S-404-not-in-salesforce"]  # 225 stores
    reader = Counting(sf_client)
    part = read_accounts(reader, ["Plan__c"], shard)
    assert set(part) == {s for s in shard if s in everything} | {"MSO-1"}  # S-000 and S-002 bring MSO-1
    assert all(part[s] == everything[s] for s in part)
    assert reader.queries == 3  # two IN lists of at most 200 stores, one for the parents


def test_scoped_reads_start_where_they_take_fewer_calls() -> None:
    assert not scoped_read(250, 1_000)  # one page of every Account beats three queries
    assert not scoped_read(250, 6_000)
    assert scoped_read(250, 10_000)  # 3 queries instead of 5 pages (and 250 Accounts held, not 10,000)
    assert scoped_read(1, 4_001) and not scoped_read(1, 4_000)  # 2 queries against 3 pages, not 2
