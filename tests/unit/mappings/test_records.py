"""The one record builder: each rule (Priority, truncation, snooze, holds, closes) pinned once."""

from __future__ import annotations

from datetime import UTC, date, datetime

from jobs.plan import diff
from mappings import records
from mappings.desired import Desired, Managed

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def _task(**kw: object) -> Desired:
    args: dict[str, object] = {
        "account_id": "001A",
        "subject": "Call the GM",
        "description": "why",
        "priority": "High",
        "due": TODAY,
        "store_id": "s1",
    }
    args.update(kw)
    return records.task("risk:k1", **args)  # type: ignore[arg-type]


def test_task_priority_is_kept_in_step_and_the_rest_set_on_create() -> None:
    t = _task(owner="005U", type="Call")
    assert t.fields == {"Priority": "High"}
    assert t.create_only["Subject"] == "Call the GM"
    assert t.create_only["ActivityDate"] == TODAY
    assert t.create_only["OwnerId"] == "005U" and t.create_only["Type"] == "Call"
    assert t.guards == (records.CLOSED_BY_PERSON,)
    current = {
        ("Task", "risk:k1"): {"Id": "00T1", "Sync_Key__c": "risk:k1", "Priority": "Low", "IsClosed": False}
    }
    (change,) = diff([t], current, []).changes
    assert dict(change.fields) == {"Priority": "High"}  # only Priority follows; the subject a CSM owns


def test_keep_current_fields_follow_until_a_person_edits_the_task() -> None:
    t = _task(keep_current=("Description",))
    assert t.fields == {"Priority": "High", "Description": "why"}
    assert "Description" not in t.create_only
    assert records.EDITED_BY_PERSON in t.guards
    assert t.routine == {"Priority", "Description"}


def test_text_is_cut_to_its_field_once_for_every_record() -> None:
    long = "x" * 40000
    t = _task(subject=long, description=long)
    assert len(t.create_only["Subject"]) == 255 and len(t.create_only["Description"]) == 32000
    f = records.flag(
        "k", account_id="001A", rule="r", name=long, severity="High", evidence=long, category=long,
        now=NOW, store_id="s1",
    )  # fmt: skip
    assert len(f.fields["Name"]) == 80 and len(f.fields["Category__c"]) == 80
    assert len(f.fields["Evidence__c"]) == 32768
    c = records.case(
        "risk:k", account_id="001A", subject=long, description=long, priority="High", status="New",
        origin="Web", store_id="s1",
    )  # fmt: skip
    assert len(c.create_only["Subject"]) == 255 and c.fields == {}
    assert records.clip("Rule__c", long) == long  # no limit known: unchanged


def test_snooze_compares_dates_as_dates() -> None:
    guard = records.snoozed(TODAY)
    assert guard.holds({"Snoozed_Until__c": "2026-11-20"})
    assert guard.holds({"Snoozed_Until__c": date(2026, 12, 1)})
    assert not guard.holds({"Snoozed_Until__c": "2026-11-19"})
    assert not guard.holds({"Snoozed_Until__c": None})
    f = records.flag(
        "k", account_id="001A", rule="r", name="n", severity="High", evidence="e", category="c",
        now=NOW, store_id="s1",
    )  # fmt: skip
    assert f.guards == (guard,)
    assert records.close_flags(NOW, prefix="ar:").guards == (guard,)


def test_a_held_flag_is_written_only_should_it_be_created() -> None:
    f = records.flag(
        "k", account_id="001A", rule="r", name="n", severity="High", evidence="e", category="c",
        now=NOW, store_id="s1", evidence_data="{}", hold=True,
    )  # fmt: skip
    assert f.fields == {}
    assert f.create_only["Evidence_Data__c"] == "{}" and f.create_only["Status__c"] == "Open"
    assert f.reason.startswith("held: ")
    h = records.hold("Case", "risk:k", "s1", "held: no queue Eng")
    assert h.fields == {} and h.create_only == {}


def test_closes_scope_by_rule_or_prefix_and_note_the_task() -> None:
    by_rule = records.close_flags(NOW, rule="menu_sync")
    assert by_rule.is_open == {"Status__c": "Open", "Rule__c": "menu_sync"}
    assert by_rule.close_fields == {"Status__c": "Resolved", "Resolved_At__c": NOW}
    tasks: Managed = records.close_tasks("risk:", "cleared", note="Closed automatically.")
    assert tasks.close_fields == {"Status": "Completed", "Description": "Closed automatically."}
    assert tasks.owns("risk:x") and not tasks.owns("ar:x")
    assert records.close_tasks("ar:").close_fields == {"Status": "Completed"}
