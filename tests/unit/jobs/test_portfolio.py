"""Kept whole-portfolio reads: served again until a write to the object or their age makes them stale."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from jobs.accounts import read_accounts
from jobs.current import read_current
from jobs.portfolio import KeptReader, PortfolioReads, rows, rows_in
from mappings.desired import Desired, Managed
from tests.doubles import FakeOrg

NOW = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
ACCOUNTS = [
    {"Id": "001A", "Store_Id__c": "S-1", "Health_Score__c": 80},
    {"Id": "001B", "Store_Id__c": "S-2", "Health_Score__c": 40},
]


class Marks:
    """The outbox's write mark per object, as a test moves it."""

    def __init__(self) -> None:
        self.of: dict[str, int] = {}

    def __call__(self, sobject: str) -> int:
        return self.of.get(sobject, 0)

    def wrote(self, sobject: str) -> None:
        self.of[sobject] = self.of.get(sobject, 0) + 1


def reads(marks: Marks, max_age: timedelta = timedelta(minutes=10)) -> PortfolioReads:
    return PortfolioReads(marks, max_age)


def test_every_shard_and_job_is_served_from_one_read_while_nothing_is_written() -> None:
    org, kept = FakeOrg({"Account": ACCOUNTS}), reads(Marks())
    first = read_accounts(KeptReader(org, kept, NOW), ["Health_Score__c"])
    for _ in range(8):  # the other shards and jobs of the cycle
        assert read_accounts(KeptReader(org, kept, NOW + timedelta(minutes=1)), ["Health_Score__c"]) == first
    assert len(org.queries) == 1 and kept.served == 8
    assert "Store_Id__c != null" in org.queries[0]


def test_a_write_to_the_object_makes_the_next_job_read_it_again() -> None:
    marks = Marks()
    org, kept = FakeOrg({"Account": ACCOUNTS}), reads(marks)
    read_accounts(KeptReader(org, kept, NOW), ["Health_Score__c"])
    marks.wrote("Task")  # another object's write does not touch Accounts
    read_accounts(KeptReader(org, kept, NOW), ["Health_Score__c"])
    assert len(org.queries) == 1
    marks.wrote("Account")  # e.g. account_health wrote Health_Score__c, which risk_alerts reads
    read_accounts(KeptReader(org, kept, NOW), ["Health_Score__c"])
    read_accounts(KeptReader(org, kept, NOW), ["Health_Score__c"])
    assert len(org.queries) == 2


def test_a_read_older_than_max_age_is_read_again() -> None:
    org, kept = FakeOrg({"Account": ACCOUNTS}), reads(Marks(), timedelta(minutes=10))
    read_accounts(KeptReader(org, kept, NOW), [])
    read_accounts(KeptReader(org, kept, NOW + timedelta(minutes=9)), [])
    assert len(org.queries) == 1
    read_accounts(KeptReader(org, kept, NOW + timedelta(minutes=10)), [])
    assert len(org.queries) == 2


def test_max_age_zero_reads_every_time() -> None:
    org, kept = FakeOrg({"Account": ACCOUNTS}), reads(Marks(), timedelta(0))
    read_accounts(KeptReader(org, kept, NOW), [])
    read_accounts(KeptReader(org, kept, NOW), [])
    assert len(org.queries) == 2 and kept.served == 0


def test_a_job_asking_a_new_field_reads_every_field_asked_so_far() -> None:
    org, kept = FakeOrg({"Account": ACCOUNTS}), reads(Marks())
    read_accounts(KeptReader(org, kept, NOW), ["Health_Score__c"])
    read_accounts(KeptReader(org, kept, NOW), ["Open_Risk_Count__c"])
    assert len(org.queries) == 2
    assert "Health_Score__c" in org.queries[1] and "Open_Risk_Count__c" in org.queries[1]
    read_accounts(KeptReader(org, kept, NOW), ["Health_Score__c"])  # both are held now
    assert len(org.queries) == 2


def test_callers_get_copies_of_the_kept_records() -> None:
    org, kept = FakeOrg({"Account": ACCOUNTS}), reads(Marks())
    read_accounts(KeptReader(org, kept, NOW), [])["S-1"]["Health_Score__c"] = 0
    assert read_accounts(KeptReader(org, kept, NOW), [])["S-1"]["Health_Score__c"] == 80


def test_a_shard_read_is_not_kept() -> None:
    org, kept = FakeOrg({"Account": ACCOUNTS}), reads(Marks())
    read_accounts(KeptReader(org, kept, NOW), [], ["S-1"])
    read_accounts(KeptReader(org, kept, NOW), [], ["S-1"])
    assert kept.served == 0 and len(org.queries) >= 2


TASKS = Managed(
    sobject="Task",
    key_field="Sync_Key__c",
    key_prefix="csm:",
    is_open={"Status": "Open"},
    close_fields={"Status": "Completed"},
    parent_field="WhatId",
)
OPEN_TASKS = [
    {"Id": "00T1", "Sync_Key__c": "csm:a", "Status": "Open", "WhatId": "001A"},
    {"Id": "00T2", "Sync_Key__c": "csm:b", "Status": "Open", "WhatId": "001B"},
    {"Id": "00T3", "Sync_Key__c": "other:c", "Status": "Open", "WhatId": "001A"},
]


def test_each_shard_takes_its_own_accounts_open_records_from_one_read() -> None:
    org, kept = FakeOrg({"Task": OPEN_TASKS}), reads(Marks())
    one = read_current(KeptReader(org, kept, NOW), [], [TASKS], scope={"001A": "S-1"})
    two = read_current(KeptReader(org, kept, NOW), [], [TASKS], scope={"001B": "S-2"})
    assert list(one) == [("Task", "csm:a")] and one[("Task", "csm:a")]["_account_key"] == "S-1"
    assert list(two) == [("Task", "csm:b")]  # a shard never sees (nor closes) another shard's records
    assert len(org.queries) == 1 and "Sync_Key__c != null" in org.queries[0]
    without = FakeOrg({"Task": OPEN_TASKS})
    read_current(without, [], [TASKS], scope={"001A": "S-1"})
    read_current(without, [], [TASKS], scope={"001B": "S-2"})
    assert len(without.queries) == 2 and all("WhatId IN" in q for q in without.queries)
    assert all("LIKE 'csm:%'" in q for q in without.queries)  # a shard's own query names the prefix


def test_jobs_with_different_key_prefixes_share_one_read_of_the_object() -> None:
    org, kept = FakeOrg({"Task": OPEN_TASKS}), reads(Marks())
    other = replace(TASKS, key_prefix="other:")
    scope = {"001A": "S-1", "001B": "S-2"}
    mine = read_current(KeptReader(org, kept, NOW), [], [TASKS], scope=scope)
    theirs = read_current(KeptReader(org, kept, NOW), [], [other], scope=scope)
    assert sorted(mine) == [("Task", "csm:a"), ("Task", "csm:b")]  # each job sees only its own keys
    assert sorted(theirs) == [("Task", "other:c")]
    assert len(org.queries) == 1


FLAGS = [
    {"Id": "a01", "Account__c": "001A", "Status__c": "Open"},
    {"Id": "a02", "Account__c": "001B", "Status__c": "Open"},
    {"Id": "a03", "Account__c": "001C", "Status__c": "Open"},
]


def test_child_records_of_a_shards_accounts_come_from_one_read_of_the_object() -> None:
    marks = Marks()
    org, kept = FakeOrg({"Risk_Flag__c": FLAGS}), reads(marks)
    reader = KeptReader(org, kept, NOW)
    mine = list(rows_in(reader, "Risk_Flag__c", ["Status__c"], "Account__c", ["001A", "001B"]))
    theirs = list(rows_in(reader, "Risk_Flag__c", ["Status__c"], "Account__c", ["001C"]))
    assert [r["Id"] for r in mine] == ["a01", "a02"] and [r["Id"] for r in theirs] == ["a03"]
    assert len(org.queries) == 1 and " IN " not in org.queries[0]
    marks.wrote("Risk_Flag__c")  # compliance raised a flag: risk_alerts reads the flags again
    list(rows_in(reader, "Risk_Flag__c", ["Status__c"], "Account__c", ["001C"]))
    assert len(org.queries) == 2
    plain = FakeOrg({"Risk_Flag__c": FLAGS})  # without kept reads: IN lists of the given accounts
    list(rows_in(plain, "Risk_Flag__c", ["Status__c"], "Account__c", ["001A"]))
    assert len(plain.queries) == 1 and "Account__c IN ('001A')" in plain.queries[0]


def test_a_condition_read_such_as_the_queues_is_kept_too() -> None:
    marks = Marks()
    groups = [{"Id": "00G1", "Name": "CS", "DeveloperName": "CS", "Type": "Queue"}]
    org, kept = FakeOrg({"Group": groups}), reads(marks)
    reader = KeptReader(org, kept, NOW)
    for _ in range(3):
        assert [r["Id"] for r in rows(reader, "Group", ["Id", "Name"], "Type = 'Queue'")] == ["00G1"]
    assert len(org.queries) == 1
    list(rows(org, "Group", ["Id"], "Type = 'Queue'"))  # a plain reader asks every time
    assert len(org.queries) == 2


SNAPSHOTS = [
    {"Id": "a01", "Snapshot_Key__c": "S-1:2026-12-04", "Score__c": 80, "Snapshot_Date__c": "2026-12-04"},
    {"Id": "a02", "Snapshot_Key__c": "S-2:2026-12-04", "Score__c": 40, "Snapshot_Date__c": "2026-12-04"},
]


def snapshot_of(store: str, score: int) -> Desired:
    fields = {"Snapshot_Date__c": "2026-12-04", "Score__c": score}
    return Desired("Health_Snapshot__c", "Snapshot_Key__c", f"{store}:2026-12-04", fields)


def test_desired_records_read_by_their_day_come_from_one_kept_read_for_every_shard() -> None:
    org, kept = FakeOrg({"Health_Snapshot__c": SNAPSHOTS}), reads(Marks())
    by_day = {"Health_Snapshot__c": "Snapshot_Date__c"}
    one = read_current(KeptReader(org, kept, NOW), [snapshot_of("S-1", 81)], read_by=by_day)
    two = read_current(
        KeptReader(org, kept, NOW), [snapshot_of("S-2", 40), snapshot_of("S-3", 9)], read_by=by_day
    )
    assert list(one) == [("Health_Snapshot__c", "S-1:2026-12-04")]  # only this shard's own records
    assert sorted(two) == [("Health_Snapshot__c", "S-2:2026-12-04")]  # S-3's is new: not read by key
    assert len(org.queries) == 1 and "Snapshot_Date__c IN (2026-12-04)" in org.queries[0]  # a date
    without = FakeOrg({"Health_Snapshot__c": SNAPSHOTS})  # without kept reads: by key, as before
    read_current(without, [snapshot_of("S-1", 81)], read_by=by_day)
    assert len(without.queries) == 1 and "Snapshot_Key__c IN ('S-1:2026-12-04')" in without.queries[0]


def test_reads_of_past_days_are_released_not_piled_up_over_weeks() -> None:
    org, kept = FakeOrg({"Health_Snapshot__c": SNAPSHOTS}), reads(Marks(), timedelta(minutes=10))
    by_day = {"Health_Snapshot__c": "Snapshot_Date__c"}
    for day in range(30):  # a scheduler process reading each day's snapshots, day after day
        at = NOW + timedelta(days=day)
        desired = [replace(snapshot_of("S-1", 80), fields={"Snapshot_Date__c": at.date().isoformat()})]
        read_current(KeptReader(org, kept, at), desired, read_by=by_day)
        assert kept.held == 1  # only today's read is held
    assert len(org.queries) == 30
