"""Voice of the customer on the sandbox: tickets and NPS comments pulled over HTTP, requests written to
the sandbox org with their accounts and ARR, exactly once, closed when the mentions age out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from connectors.salesforce.client import SalesforceClient
from jobs.sync import JobOptions, JobResult, run_job
from jobs.voice import VoiceJob
from sandbox.portfolio import Portfolio
from sandbox.salesforce import Org
from sandbox.seed import seed_org
from tests.integration.jobs.test_pull_sandbox import pull_portfolio
from tests.integration.org_fixtures import client_for, write_calls

pytestmark = pytest.mark.integration

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
TODAY = date(2026, 10, 8)
BUNDLING = ("AZ-002", "CA-004", "IL-004", "NV-004")
COMPLIANCE = ("CA-001", "IL-005", "MI-005")
# near misses and stores that must not count: MI-001 "not interested in bundling", NV-008 "easy to run
# promotions", MA-003 alone on route planning, CA-006 without an Account; NV-005 a red store's tickets
STORES = (*BUNDLING, *COMPLIANCE, "MI-001", "NV-008", "MA-003", "CA-006", "NV-005")
PULLED = ("platform", "support", "nps")


@dataclass
class World:
    portfolio: Portfolio
    engine: Engine
    org: Org
    client: SalesforceClient
    accounts: dict[str, str]

    def run(self, now: datetime | None = None, stores: list[str] | None = None) -> JobResult:
        job = VoiceJob.build(MAPPINGS)
        opts = JobOptions(history_days=job.history_days, force=True)
        run_id = f"voice-{self.org.stats.snapshot()['query']}"
        return run_job(self.engine, self.client, job, run_id, now or self.portfolio.now, opts,
                       self.client.describe, stores=stores)  # fmt: skip

    def writes(self) -> int:
        return write_calls(self.org)

    def requests(self) -> dict[str, dict[str, Any]]:
        return {str(r["Request_Key__c"]): r for r in self.org.records("Product_Request__c")}

    def links(self) -> dict[str, dict[str, Any]]:
        return {str(r["Link_Key__c"]): r for r in self.org.records("Product_Request_Account__c")}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    portfolio = Portfolio(7, TODAY, days=100)
    engine = pull_portfolio(tmp_path_factory.mktemp("voice"), portfolio, STORES, lambda _: 100, PULLED)
    org = Org.from_metadata()
    accounts = seed_org(org, portfolio)
    yield World(portfolio, engine, org, client_for(org), accounts)


def arr(w: World, *stores: str) -> float:
    return round(sum(12 * w.portfolio.contract(s).monthly_fee for s in stores), 2)


def _first_run(w: World) -> None:
    result = w.run(stores=["NV-004"])  # a run for some stores still adds up the whole portfolio
    assert not result.partial, result.data
    reqs = w.requests()
    assert set(reqs) == {"promotional_bundling", "promotion_compliance_check"}  # not route planning
    b, c = reqs["promotional_bundling"], reqs["promotion_compliance_check"]
    # AZ-002 and IL-005 asked in a ticket and an NPS comment: two mentions each, their ARR once
    assert (b["Accounts_Count__c"], b["Mentions__c"], b["ARR_Total__c"]) == (4, 5, arr(w, *BUNDLING))
    assert (c["Accounts_Count__c"], c["Mentions__c"], c["ARR_Total__c"]) == (3, 4, arr(w, *COMPLIANCE))
    assert b["Name"] == "Promotional bundling" and b["Status__c"] == c["Status__c"] == "Open"
    assert "Please add bundling for gift sets before the holidays." in b["Evidence__c"]
    assert "Feature request: mix and match bundles for edibles" in b["Evidence__c"]
    for s in ("MI-001", "NV-008", "CA-006", "NV-005"):
        assert s not in b["Evidence__c"] + c["Evidence__c"]
    links = w.links()
    want = {f"promotional_bundling:{s}" for s in BUNDLING} | {
        f"promotion_compliance_check:{s}" for s in COMPLIANCE
    }
    assert set(links) == want
    for key, row in links.items():
        code, store = key.split(":")
        assert row["Product_Request__c"] == reqs[code]["Id"] and row["Account__c"] == w.accounts[store]
        assert row["Current__c"] is True
    assert links["promotional_bundling:AZ-002"]["Mentions__c"] == 2


def _rerun_writes_nothing(w: World) -> None:
    before = w.writes()
    again = w.run()
    assert again.plan.changes == (), [c.data for c in again.plan.changes][:3]
    assert w.writes() == before


def _a_new_mention(w: World) -> None:
    """IL-004 asks again in an older answer's comment: only its request and its row change."""
    with w.engine.begin() as conn:
        rows = conn.execute(
            text("SELECT key, attrs FROM source_record WHERE store_id='IL-004' AND stream='responses'")
        ).fetchall()
        key, attrs = next((k, json.loads(a)) for k, a in rows if "bundl" not in str(json.loads(a)["comment"]))
        attrs["comment"] = "Still waiting for bundle pricing."
        conn.execute(text("UPDATE source_record SET attrs=:a WHERE key=:k AND stream='responses'"),
                     {"a": json.dumps(attrs), "k": key})  # fmt: skip
    result = w.run()
    assert sorted((c.op, c.sobject, c.key) for c in result.plan.changes) == [
        ("update", "Product_Request_Account__c", "promotional_bundling:IL-004"),
        ("update", "Product_Request__c", "promotional_bundling"),
    ]
    assert w.requests()["promotional_bundling"]["Mentions__c"] == 6
    assert w.links()["promotional_bundling:IL-004"]["Mentions__c"] == 2
    _rerun_writes_nothing(w)


def _closed_when_the_mentions_age_out(w: World) -> None:
    """The product team plans one request; half a year on, the other goes quiet and the rows lapse."""
    planned = w.requests()["promotion_compliance_check"]
    w.org.update("Product_Request__c", planned["Id"], {"Status__c": "Planned"})
    assert w.run().plan.changes == ()
    later = w.portfolio.now + timedelta(days=200)
    result = w.run(now=later)
    assert not result.partial, result.data
    reqs = w.requests()
    assert reqs["promotional_bundling"]["Status__c"] == "No recent mentions"
    assert reqs["promotion_compliance_check"]["Status__c"] == "Planned"  # the product team's, left as set
    assert {r["Current__c"] for r in w.links().values()} == {False}
    before = w.writes()
    assert w.run(now=later).plan.changes == () and w.writes() == before


def test_voice_of_the_customer_on_the_sandbox(world: World) -> None:
    _first_run(world)
    _rerun_writes_nothing(world)
    _a_new_mention(world)
    _closed_when_the_mentions_age_out(world)
