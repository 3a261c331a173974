"""Touchpoint cadence on the demo portfolio's org over HTTPS with a real state store: Tasks for the overdue
accounts only, written once, completed when a call is logged; the Account's cadence fields."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from jobs.cadence import CadenceJob
from jobs.sync import JobOptions, JobResult, run_job
from sandbox.portfolio import Portfolio
from sandbox.seed import seed_org
from state.tables import StoreRow
from tests.integration.org_fixtures import ServedOrg

pytestmark = pytest.mark.integration

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
TODAY = date(2026, 10, 8)
WRITES = ("sobject", "collections", "composite", "bulk_create", "bulk_upload", "bulk_close")


def run(served: ServedOrg, engine: Engine, stores: list[str], at: datetime) -> JobResult:
    job = CadenceJob.build(MAPPINGS)
    return run_job(engine, served.client(), job, f"cadence-{at.isoformat()}", at, JobOptions(force=True),
                   stores=stores)  # fmt: skip


def writes(served: ServedOrg) -> int:
    calls = served.org.stats.snapshot()
    return sum(calls.get(k, 0) for k in WRITES)


def cadence_tasks(served: ServedOrg) -> dict[str, dict[str, Any]]:
    return {t["Sync_Key__c"]: t for t in served.org.records("Task")
            if str(t.get("Sync_Key__c") or "").startswith("cadence:")}  # fmt: skip


def test_overdue_accounts_get_one_task_completed_when_a_call_is_logged(
    served_org: ServedOrg, engine: Engine
) -> None:
    portfolio = Portfolio(7, TODAY, days=7)
    accounts = seed_org(served_org.org, portfolio)
    stores = [s.id for s in portfolio.stores if s.id in accounts]
    with Session(engine) as s:
        for st in portfolio.stores:
            s.add(
                StoreRow(
                    store_id=st.id, name=st.name, state=st.state, timezone=st.timezone, source="platform"
                )
            )
        s.commit()
    now = portfolio.now

    first = run(served_org, engine, stores, now)
    assert not first.partial and first.accounts == len(stores)
    tasks = cadence_tasks(served_org)
    # Overdue: NV-005 (a call 45 days ago, Growth: due 30 days after; its meeting in 3 days is not one yet),
    # MA-004 (a call 100 days ago), AZ-005 (only an email: none logged), IL-006 (onboarding day 20, weekly:
    # last check-in on day 5, due on day 12). Must not fire: AZ-001, called exactly 30 days ago (due today).
    expected = {
        f"cadence:NV-005:{TODAY - timedelta(days=15)}",
        f"cadence:MA-004:{TODAY - timedelta(days=70)}",
        "cadence:AZ-005:none",
        f"cadence:IL-006:{TODAY - timedelta(days=8)}",
    }
    assert set(tasks) == expected

    def account(store: str) -> dict[str, Any]:
        return next(a for a in served_org.org.records("Account") if a.get("Store_Id__c") == store)

    for key, t in tasks.items():
        rec = account(key.split(":")[1])
        assert (t["WhatId"], t["OwnerId"], t["Status"]) == (rec["Id"], rec["CSM__c"], "Not Started")

    az1 = account("AZ-001")
    assert (az1["Touchpoint_Status__c"], az1["Next_Touchpoint_Due__c"]) == ("Due", str(TODAY))
    assert az1["Last_Touchpoint__c"] == str(TODAY - timedelta(days=30))
    assert account("NV-005")["Last_Touchpoint__c"] == str(TODAY - timedelta(days=45))
    assert account("AZ-005")["Last_Touchpoint__c"] is None
    statuses = [account(s)["Touchpoint_Status__c"] for s in stores]
    due = sorted(s for s in stores if account(s)["Touchpoint_Status__c"] == "Due")
    # Due (today or within the grace days): AZ-001, NV-006 (new location, weekly, met 8 days ago) and AZ-007
    # (a past onboarding on its day 64: met on day 47, in the two-weekly stage, so due on day 61).
    assert {x: statuses.count(x) for x in set(statuses)} == {"On schedule": 32, "Due": 3, "Overdue": 4}
    assert due == ["AZ-001", "AZ-007", "NV-006"]
    assert account("NV-006")["Touchpoint_Status__c"] == "Due"

    before = writes(served_org)
    again = run(served_org, engine, stores, now)
    assert again.plan.changes == () and writes(served_org) == before  # exactly once

    # NV-005's CSM logs a call today (a person's Task, no Sync_Key__c): its cadence Task completes and its
    # Account moves on; nothing else changes.
    nv5 = account("NV-005")
    served_org.org.insert("Task", {"WhatId": nv5["Id"], "OwnerId": nv5["CSM__c"], "Subject": "Call with the GM",
                                   "Type": "Call", "Status": "Completed", "ActivityDate": str(TODAY)})  # fmt: skip
    later = run(served_org, engine, stores, now + timedelta(hours=1))
    assert sorted((c.op, c.sobject, c.key) for c in later.plan.changes) == [
        ("close", "Task", f"cadence:NV-005:{TODAY - timedelta(days=15)}"),
        ("update", "Account", "NV-005"),
    ]
    assert cadence_tasks(served_org)[f"cadence:NV-005:{TODAY - timedelta(days=15)}"]["Status"] == "Completed"
    nv5 = account("NV-005")
    assert (nv5["Touchpoint_Status__c"], nv5["Last_Touchpoint__c"], nv5["Next_Touchpoint_Due__c"]) == (
        "On schedule",
        str(TODAY),
        str(TODAY + timedelta(days=30)),
    )
    assert {k for k, t in cadence_tasks(served_org).items() if t["Status"] != "Completed"} == expected - {
        f"cadence:NV-005:{TODAY - timedelta(days=15)}"
    }
    assert run(served_org, engine, stores, now + timedelta(hours=2)).plan.changes == ()


def test_the_activity_is_read_in_one_query_per_object(served_org: ServedOrg, engine: Engine) -> None:
    portfolio = Portfolio(7, TODAY, days=7)
    stores = [s for s in seed_org(served_org.org, portfolio) if not s.startswith("MSO")]
    served_org.org.stats.reset()
    run(served_org, engine, stores, portfolio.now)
    # Accounts, open cadence Tasks and flags, Tasks, Events and the current records of the plan: a fixed
    # number of queries whatever the count of accounts (up to 200 per IN list).
    assert served_org.org.stats.snapshot().get("query", 0) <= 7, served_org.org.stats.snapshot()
