"""The writer against the sandbox org: reads, Collections vs Bulk, order, record errors, faults, lifecycle."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import Engine
from sqlmodel import Session, select

from connectors.salesforce.client import SalesforceClient, SalesforceUnavailable
from sandbox.salesforce import Faults, Org
from state.tables import OutboxEntry
from tests.integration.org_fixtures import (
    NOW,
    SyntheticJob,
    band_of,
    client_for,
    score_of,
    seed_stores,
    snapshot,
    sync,
    write_calls,
)
from worker.render import status_board

pytestmark = pytest.mark.integration


def outbox(engine: Engine) -> list[OutboxEntry]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxEntry)).all())


class Recording:
    """Wraps a client to see which SOQL it sends and the order of its writes."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self.soql: list[str] = []
        self.writes: list[tuple[str, str, list[str]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def query(self, soql: str) -> Any:
        self.soql.append(soql)
        return self.client.query(soql)

    def upsert_collection(self, sobject: str, key_field: str, records: Any) -> Any:
        self.writes.append(("collections", sobject, [str(r[key_field]) for r in records]))
        return self.client.upsert_collection(sobject, key_field, records)

    def upsert_bulk(self, sobject: str, key_field: str, records: Any, on_job: Any = None) -> Any:
        self.writes.append(("bulk", sobject, [str(r[key_field]) for r in records]))
        return self.client.upsert_bulk(sobject, key_field, records, on_job)


def test_reads_only_the_fields_the_plan_compares_page_by_page(engine: Engine, sf_org: Org) -> None:
    sf_org.page_size = 40
    seed_stores(engine, sf_org, 90)
    rec = Recording(client_for(sf_org))
    sync(engine, rec, SyntheticJob())  # type: ignore[arg-type]
    selects = {
        s.split(" FROM ")[1].split(" ")[0]: s.split(" FROM ")[0].removeprefix("SELECT ") for s in rec.soql
    }
    assert set(selects["Risk_Flag__c"].split(", ")) == {
        "Id", "Sync_Key__c", "Name", "Rule__c", "Rule_Version__c", "Severity__c", "Status__c", "Evidence__c",
        "Category__c", "Resolved_At__c", "Snoozed_Until__c", "Account__c",
    }  # fmt: skip
    assert set(selects["Task"].split(", ")) == {"Id", "Sync_Key__c", "Priority", "IsClosed", "Status", "Description",
                                                "WhatId"}  # fmt: skip
    assert "Health_Score__c" in selects["Account"] and "Description" not in selects["Account"]
    assert sf_org.stats.snapshot()["query_more"] >= 2  # 90 accounts at 40 a page


def test_small_plans_use_collections_200_a_call_and_a_rerun_writes_nothing(
    engine: Engine, sf_org: Org
) -> None:
    seed_stores(engine, sf_org, 450)
    client = client_for(sf_org)
    result = sync(engine, client, SyntheticJob())
    assert result.applied is not None and (result.applied.created, result.applied.updated) == (900, 450)
    stats = sf_org.stats.snapshot()
    assert stats["collections"] == 9 and stats["bulk_create"] == 0  # 3 objects × ceil(450 / 200)
    assert not result.partial
    sf_org.stats.reset()
    again = sync(engine, client_for(sf_org), SyntheticJob())
    assert again.plan.counts == {"create": 0, "update": 0, "close": 0}
    assert write_calls(sf_org) == 0


def test_large_plans_use_one_bulk_job_per_object_and_null_goes_as_na(engine: Engine, sf_org: Org) -> None:
    stores = seed_stores(engine, sf_org, 150)
    sync(engine, client_for(sf_org), SyntheticJob())
    for flag in sf_org.records("Risk_Flag__c")[:20]:
        sf_org.update("Risk_Flag__c", flag["Id"], {"Resolved_At__c": "2026-03-01T00:00:00Z"})
    sf_org.stats.reset()
    result = sync(engine, client_for(sf_org), SyntheticJob(version=2), bulk_threshold=100)
    assert result.applied is not None and result.applied.updated == 300 and not result.partial
    stats = sf_org.stats.snapshot()  # 150 Accounts and 150 flags changed; Tasks did not
    assert (stats["bulk_create"], stats["bulk_upload"], stats["bulk_close"], stats["collections"]) == (
        2,
        2,
        2,
        0,
    )
    assert all(f["Resolved_At__c"] is None for f in sf_org.records("Risk_Flag__c"))  # #N/A cleared them
    accounts = {a["Store_Id__c"]: a for a in sf_org.records("Account")}
    assert all(accounts[s]["Health_Score__c"] == score_of(s, 2) for s in stores)
    ids = {r.result.get("id") for r in outbox(engine) if r.sobject == "Account" and r.status == "sent"}
    assert {accounts[s]["Id"] for s in stores} <= ids  # per-record results matched back by key


def test_parents_are_written_before_children_and_batches_follow_accounts(engine: Engine, sf_org: Org) -> None:
    seed_stores(engine, sf_org, 250)
    rec = Recording(client_for(sf_org))
    sync(engine, rec, SyntheticJob())  # type: ignore[arg-type]
    order = [sobject for _, sobject, _ in rec.writes]
    assert order == ["Account", "Account", "Risk_Flag__c", "Risk_Flag__c", "Task", "Task"]
    first_tasks = rec.writes[4][2]
    assert first_tasks == sorted(first_tasks)  # keys embed the store: one account's records together


def test_record_errors_keep_salesforces_message_die_after_n_attempts_and_show_in_status(
    engine: Engine, sf_org: Org
) -> None:
    stores = seed_stores(engine, sf_org, 30)
    job = SyntheticJob(bad=frozenset(stores[:2]))
    first = sync(engine, client_for(sf_org), job, max_attempts=2)
    assert first.partial and first.applied is not None and first.applied.failed == 2
    assert len(sf_org.records("Risk_Flag__c")) == 28  # the others went through (allOrNone=false)
    failed = [r for r in outbox(engine) if r.status == "failed"]
    assert {r.key.split(":")[1] for r in failed} == set(stores[:2])
    assert all("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in r.error and "Severe" in r.error for r in failed)
    second = sync(engine, client_for(sf_org), job, max_attempts=2)
    assert second.applied is not None and second.applied.dead == 2
    sf_org.stats.reset()
    third = sync(engine, client_for(sf_org), job, max_attempts=2)
    assert third.partial and third.applied is not None and third.applied.skipped_dead == 2
    assert write_calls(sf_org) == 0  # dead rows are not sent again with the same payload
    console = Console(file=io.StringIO(), width=250)
    status_board(console, engine, NOW)
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "dead 2" in shown and "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in shown
    fixed = sync(engine, client_for(sf_org), SyntheticJob(), max_attempts=2)
    assert not fixed.partial and len(sf_org.records("Risk_Flag__c")) == 30


def test_an_expired_session_costs_one_login_per_call_and_a_dead_one_stops_the_run(
    engine: Engine, sf_org: Org
) -> None:
    seed_stores(engine, sf_org, 30)
    sf_org.faults = Faults(session_expiry_after=2)
    client = client_for(sf_org)
    result = sync(engine, client, SyntheticJob())
    assert not result.partial and client.logins == sf_org.stats.snapshot()["login"] > 2
    assert snapshot(sf_org)["counts"] == {"Account": 30, "Risk_Flag__c": 30, "Task": 30}

    sf_org.faults = Faults()
    broken = client_for(sf_org)
    broken.connect()
    sf_org.expire_sessions()
    original = broken.connect

    def connect_then_expire() -> None:
        original()
        sf_org.expire_sessions()

    broken.connect = connect_then_expire  # type: ignore[method-assign]
    with pytest.raises(SalesforceUnavailable, match="fresh session"):
        sync(engine, broken, SyntheticJob(version=2))
    assert broken.logins == 2  # the first login and exactly one re-login


def test_503s_and_row_locks_are_absorbed(engine: Engine, sf_org: Org) -> None:
    seed_stores(engine, sf_org, 120)
    sf_org.faults = Faults(unavailable_rate=0.3, lock_rate=0.1, seed=3)
    result = sync(engine, client_for(sf_org), SyntheticJob())
    sf_org.faults = Faults()
    assert result.applied is not None and result.applied.failed == 0
    assert snapshot(sf_org)["counts"] == {"Account": 120, "Risk_Flag__c": 120, "Task": 120}


def test_auto_resolve_closes_the_flag_and_completes_the_task_with_a_note(engine: Engine, sf_org: Org) -> None:
    stores = seed_stores(engine, sf_org, 6)
    sync(engine, client_for(sf_org), SyntheticJob())
    result = sync(engine, client_for(sf_org), SyntheticJob(flagged=frozenset(stores[2:])))
    assert result.plan.counts["close"] == 4
    snap = snapshot(sf_org)
    for store in stores[:2]:
        key = f"syn:{store}:menu_sync:2026-W10"
        assert snap["Risk_Flag__c"][key]["Status__c"] == "Resolved"
        assert snap["Risk_Flag__c"][key]["Resolved_At__c"].startswith("2026-03-04T15:30:00")
        assert snap["Task"][key]["Status"] == "Completed"
        assert snap["Task"][key]["Description"] == "Closed automatically: condition cleared on 2026-03-04."
    assert {snap["Risk_Flag__c"][f"syn:{s}:menu_sync:2026-W10"]["Status__c"] for s in stores[2:]} == {"Open"}
    sf_org.stats.reset()
    sync(engine, client_for(sf_org), SyntheticJob(flagged=frozenset(stores[2:])))
    assert write_calls(sf_org) == 0  # resolved stays resolved, once


def test_a_task_a_csm_closed_is_never_reopened_or_edited(engine: Engine, sf_org: Org) -> None:
    stores = seed_stores(engine, sf_org, 3)
    sync(engine, client_for(sf_org), SyntheticJob())
    task = next(t for t in sf_org.records("Task") if stores[0] in t["Sync_Key__c"])
    sf_org.update("Task", task["Id"], {"Status": "Completed", "Description": "Called the GM myself."})
    result = sync(engine, client_for(sf_org), SyntheticJob(priority="High"))
    assert any(k.key == task["Sync_Key__c"] for k in result.plan.kept)
    after = sf_org.get(task["Id"])
    assert after is not None
    assert (after["Status"], after["Priority"], after["Description"]) == (
        "Completed",
        "Normal",
        "Called the GM myself.",
    )
    others = [t for t in sf_org.records("Task") if t["Id"] != task["Id"]]
    assert {t["Priority"] for t in others} == {"High"}
    # The condition clears: the open Tasks are completed, the closed one is left exactly as the CSM left it.
    sync(engine, client_for(sf_org), SyntheticJob(flagged=frozenset()))
    after = sf_org.get(task["Id"])
    assert after is not None and after["Description"] == "Called the GM myself."


def test_a_new_occurrence_after_resolution_is_a_new_record(engine: Engine, sf_org: Org) -> None:
    stores = seed_stores(engine, sf_org, 2)
    sync(engine, client_for(sf_org), SyntheticJob(flagged=frozenset(stores[:1])))
    sync(engine, client_for(sf_org), SyntheticJob(flagged=frozenset()))
    again = sync(engine, client_for(sf_org), SyntheticJob(flagged=frozenset(stores[:1]), period="2026-W12"))
    assert again.plan.counts == {"create": 2, "update": 0, "close": 0}
    flags = {f["Sync_Key__c"]: f["Status__c"] for f in sf_org.records("Risk_Flag__c")}
    assert flags == {
        f"syn:{stores[0]}:menu_sync:2026-W10": "Resolved",
        f"syn:{stores[0]}:menu_sync:2026-W12": "Open",
    }
    tasks = {t["Sync_Key__c"]: t["Status"] for t in sf_org.records("Task")}
    assert tasks == {f"syn:{stores[0]}:menu_sync:2026-W10": "Completed",
                     f"syn:{stores[0]}:menu_sync:2026-W12": "Not Started"}  # fmt: skip


def test_a_snoozed_flag_is_neither_updated_nor_resolved(engine: Engine, sf_org: Org) -> None:
    stores = seed_stores(engine, sf_org, 2)
    sync(engine, client_for(sf_org), SyntheticJob())
    flag = next(f for f in sf_org.records("Risk_Flag__c") if stores[0] in f["Sync_Key__c"])
    sf_org.update("Risk_Flag__c", flag["Id"], {"Status__c": "Snoozed", "Snoozed_Until__c": "2026-03-20"})
    sync(engine, client_for(sf_org), SyntheticJob(severity="Critical"))
    after = sf_org.get(flag["Id"])
    assert after is not None and (after["Status__c"], after["Severity__c"]) == ("Snoozed", "High")
    sync(engine, client_for(sf_org), SyntheticJob(flagged=frozenset()))
    after = sf_org.get(flag["Id"])
    assert after is not None and after["Status__c"] == "Snoozed"


def test_account_fields_follow_the_band(engine: Engine, sf_org: Org) -> None:
    stores = seed_stores(engine, sf_org, 5)
    sync(engine, client_for(sf_org), SyntheticJob(flagged=frozenset()))
    accounts = {a["Store_Id__c"]: a for a in sf_org.records("Account")}
    for s in stores:
        assert accounts[s]["Health_Band__c"] == band_of(score_of(s, 1))
        assert accounts[s]["Health_Updated_At__c"].startswith("2026-03-04T15:30:00")
