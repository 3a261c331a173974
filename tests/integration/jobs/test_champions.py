"""The champions job on the seeded sandbox org, over real HTTP and a real SQLite state store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from connectors.salesforce.client import SalesforceClient
from jobs.champions import ChampionsJob
from jobs.sync import JobOptions, JobResult, run_job
from sandbox.portfolio import Portfolio
from sandbox.portfolio.scenarios import CHAMPION_CHANGES
from sandbox.salesforce import Org
from sandbox.seed import seed_org
from state.engine import make_engine
from state.migrations import init_schema
from tests.integration.jobs.test_lifecycle import MAPPINGS
from tests.integration.org_fixtures import client_for, write_calls

pytestmark = pytest.mark.integration

TODAY = date(2026, 10, 8)
STEADY = ("IL-001", "MI-003", "NV-003")
STORES = (*CHAMPION_CHANGES, *STEADY)


@dataclass
class World:
    portfolio: Portfolio
    engine: Engine
    org: Org
    client: SalesforceClient
    accounts: dict[str, str]

    def run(self, job: ChampionsJob) -> JobResult:
        run_id = f"champions-{self.org.stats.snapshot().get('query', 0)}"
        return run_job(self.engine, self.client, job, run_id, self.portfolio.now, JobOptions(force=True),
                       self.client.describe, stores=list(STORES))  # fmt: skip

    def writes(self) -> int:
        return write_calls(self.org)

    def mine(self, sobject: str) -> dict[str, dict[str, Any]]:
        recs = self.org.records(sobject)
        return {
            str(r["Sync_Key__c"]): r for r in recs if str(r.get("Sync_Key__c") or "").startswith("champion:")
        }

    def account(self, store: str) -> dict[str, Any]:
        return next(a for a in self.org.records("Account") if a.get("Store_Id__c") == store)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    portfolio = Portfolio(7, TODAY, days=10)
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    init_schema(engine)
    org = Org.from_metadata()
    accounts = seed_org(org, portfolio)
    yield World(portfolio, engine, org, client_for(org), accounts)


def test_planted_champion_changes_are_flagged_once_and_close_when_a_new_champion_is_named(
    world: World,
) -> None:
    job = ChampionsJob.build(MAPPINGS)
    result = world.run(job)
    assert not result.partial
    flags, tasks = world.mine("Risk_Flag__c"), world.mine("Task")
    # Only the planted changes: not CA-001 (title in other case), AZ-004 (never had one), IL-006 (first
    # seen: recorded), nor the steady ones.
    assert sorted(flags) == ["champion:AZ-001", "champion:CA-002", "champion:NV-002"]
    assert sorted(tasks) == [f"{k}:new-champion" for k in sorted(flags)]
    said = {k.split(":")[1]: f["Evidence__c"] for k, f in flags.items()}
    names = {k.split(":")[1]: f["Name"] for k, f in flags.items()}
    assert names["AZ-001"].startswith("Champion left the account: ") and names["NV-002"].startswith(
        "Champion changed role: "
    )
    assert "left the account" in said["AZ-001"]
    assert "was deactivated (Inactive__c = True)" in said["CA-002"]
    assert '"General Manager" → "Inventory Lead"' in said["NV-002"]
    assert all("champion since 2026-03-22 as General Manager" in e for e in said.values())
    for key, t in tasks.items():
        acct = world.account(key.split(":")[1])
        assert (t["OwnerId"], t["WhatId"], t["Status"]) == (acct["CSM__c"], acct["Id"], "Not Started")
    first = world.account("IL-006")
    assert first["Champion_Title__c"] == "General Manager" and first["Champion_Since__c"] == "2026-10-08"
    assert world.account("AZ-004").get("Champion_Contact__c") is None

    before = world.writes()  # exactly once: a rerun plans and writes nothing
    again = world.run(job)
    assert again.plan.changes == () and world.writes() == before

    # The CSM marks AZ-001's buyer as the new champion: the next run records them, resolves the flag and
    # completes the Task; nothing else moves.
    az = world.account("AZ-001")
    buyer = next(
        c for c in world.org.records("Contact") if c["AccountId"] == az["Id"] and c["Title"] == "Buyer"
    )
    world.org.update("Contact", buyer["Id"], {"Champion__c": True}, as_user=az["CSM__c"])
    named = world.run(job)
    assert sorted((c.op, c.sobject, c.key) for c in named.plan.changes) == [
        ("close", "Risk_Flag__c", "champion:AZ-001"),
        ("close", "Task", "champion:AZ-001:new-champion"),
        ("update", "Account", "AZ-001"),
    ]
    az = world.account("AZ-001")
    assert (az["Champion_Contact__c"], az["Champion_Title__c"]) == (buyer["Id"], "Buyer")
    assert world.mine("Risk_Flag__c")["champion:AZ-001"]["Status__c"] == "Resolved"
    assert world.mine("Task")["champion:AZ-001:new-champion"]["Status"] == "Completed"
    assert world.mine("Risk_Flag__c")["champion:CA-002"]["Status__c"] == "Open"
    before = world.writes()
    assert world.run(job).plan.changes == () and world.writes() == before


def test_by_role_a_removed_role_is_flagged_once_and_a_new_role_holder_resolves_it(world: World) -> None:
    """IL-006 and AZ-004 have no champion recorded; by role, their AccountContactRoles name one."""
    cfg = ChampionsJob.build(MAPPINGS).cfg
    job = ChampionsJob(
        cfg.model_copy(update={"by": "role", "roles": ("Decision Maker", "Executive Sponsor")})
    )
    stores = ["IL-006", "AZ-004"]

    def run() -> JobResult:
        run_id = f"champions-role-{world.org.stats.snapshot().get('query', 0)}"
        return run_job(world.engine, world.client, job, run_id, world.portfolio.now, JobOptions(force=True),
                       world.client.describe, stores=stores)  # fmt: skip

    def contact(store: str, title: str) -> dict[str, Any]:
        acct = world.account(store)
        return next(
            c for c in world.org.records("Contact") if c["AccountId"] == acct["Id"] and c["Title"] == title
        )

    il, az = world.account("IL-006"), world.account("AZ-004")
    buyer, manager = contact("IL-006", "Buyer"), contact("IL-006", "General Manager")
    role = world.org.insert("AccountContactRole", {"AccountId": il["Id"], "ContactId": buyer["Id"],
                                                   "Role": "Decision Maker", "IsPrimary": True})  # fmt: skip
    world.org.insert(
        "AccountContactRole", {"AccountId": il["Id"], "ContactId": manager["Id"], "Role": "Influencer"}
    )
    az_buyer = contact("AZ-004", "Buyer")
    world.org.insert("AccountContactRole", {"AccountId": az["Id"], "ContactId": az_buyer["Id"],
                                            "Role": "Executive Sponsor"})  # fmt: skip

    first = run()
    assert not first.partial and world.mine("Risk_Flag__c") == {}
    il, az = world.account("IL-006"), world.account("AZ-004")
    assert (il["Champion_Contact__c"], il["Champion_Title__c"]) == (buyer["Id"], "Decision Maker")
    assert (az["Champion_Contact__c"], az["Champion_Title__c"]) == (az_buyer["Id"], "Executive Sponsor")

    world.org.delete(role)  # the buyer's role on IL-006 is removed
    removed = run()
    assert sorted((c.op, c.sobject, c.key) for c in removed.plan.changes) == [
        ("create", "Risk_Flag__c", "champion:IL-006"),
        ("create", "Task", "champion:IL-006:new-champion"),
    ]
    flag = world.mine("Risk_Flag__c")["champion:IL-006"]
    assert flag["Name"].startswith("Champion no longer marked: ") and flag["Status__c"] == "Open"
    assert 'role on the account: "Decision Maker" → none' in flag["Evidence__c"]
    assert world.mine("Task")["champion:IL-006:new-champion"]["Status"] == "Not Started"
    before = world.writes()
    assert run().plan.changes == () and world.writes() == before

    # The CSM gives the general manager a champion role: recorded, the flag resolved, the Task completed.
    world.org.insert("AccountContactRole", {"AccountId": il["Id"], "ContactId": manager["Id"],
                                            "Role": "Executive Sponsor"})  # fmt: skip
    named = run()
    assert sorted((c.op, c.sobject, c.key) for c in named.plan.changes) == [
        ("close", "Risk_Flag__c", "champion:IL-006"),
        ("close", "Task", "champion:IL-006:new-champion"),
        ("update", "Account", "IL-006"),
    ]
    il = world.account("IL-006")
    assert (il["Champion_Contact__c"], il["Champion_Title__c"]) == (manager["Id"], "Executive Sponsor")
    assert world.mine("Risk_Flag__c")["champion:IL-006"]["Status__c"] == "Resolved"
    assert world.mine("Task")["champion:IL-006:new-champion"]["Status"] == "Completed"
    before = world.writes()
    assert run().plan.changes == () and world.writes() == before
