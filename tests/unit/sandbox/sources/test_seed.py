"""Seeding the sandbox org: the CRM side of the portfolio, with one store deliberately left out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandbox.portfolio import Portfolio
from sandbox.seed import MENU_ENGINEERING_QUEUE, seed_org

from .conftest import TODAY

org_module = pytest.importorskip("sandbox.salesforce.org")


@pytest.fixture(scope="module")
def seeded(portfolio: Portfolio) -> tuple[object, dict[str, str]]:
    org = org_module.Org.from_metadata()
    return org, seed_org(org, portfolio)


def test_accounts_for_stores_and_msos_but_not_the_unmatched_one(
    seeded: tuple[object, dict[str, str]], portfolio: Portfolio
) -> None:
    org, ids = seeded
    assert "CA-006" not in ids
    assert set(ids) == {s.id for s in portfolio.stores if s.has_account} | {"MSO-1", "MSO-2", "MSO-3"}
    accounts = {a["Store_Id__c"]: a for a in org.records("Account")}  # type: ignore[attr-defined]
    assert set(accounts) == set(ids)
    nv2 = accounts["NV-002"]
    assert nv2["ParentId"] == ids["MSO-1"] and nv2["BillingState"] == "NV" and nv2["Plan__c"] == "Growth"
    assert accounts["NV-001"]["ParentId"] is None
    assert accounts["IL-006"]["Onboarding_Start__c"] == (TODAY - timedelta(days=20)).isoformat()
    users = {u["Id"]: u for u in org.records("User")}  # type: ignore[attr-defined]
    assert users[nv2["CSM__c"]]["Email"] == portfolio.user(portfolio.store("NV-002").csm).email
    assert users[nv2["OwnerId"]]["Title"] == "Account Manager"


def test_contracts_and_renewal_opportunities(
    seeded: tuple[object, dict[str, str]], portfolio: Portfolio
) -> None:
    org, ids = seeded
    by_account = {c["AccountId"]: c for c in org.records("Contract")}  # type: ignore[attr-defined]
    for sid, days in (("MI-003", 30), ("NV-003", 60), ("MA-002", 90)):
        contract = by_account[ids[sid]]
        assert contract["Status"] == "Activated"
        assert contract["EndDate"] == (TODAY + timedelta(days=days)).isoformat()
    opportunities = {o["AccountId"]: o for o in org.records("Opportunity")}  # type: ignore[attr-defined]
    assert opportunities[ids["MI-003"]]["CloseDate"] == (TODAY + timedelta(days=30)).isoformat()
    assert opportunities[ids["MI-003"]]["Type"] == "Existing Customer - Upgrade"


def test_menu_engineering_queue(seeded: tuple[object, dict[str, str]]) -> None:
    org, _ = seeded
    queues = [g for g in org.records("Group") if g["Type"] == "Queue"]  # type: ignore[attr-defined]
    assert [q["Name"] for q in queues] == [MENU_ENGINEERING_QUEUE]
