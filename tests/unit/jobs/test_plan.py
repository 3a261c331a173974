"""Plan diff: field-level changes, guards, create-only and touch fields, ordering, Salesforce equality."""

from __future__ import annotations

from jobs.plan import Close, Create, FieldSpec, Update, diff, schema_from_describe
from mappings.desired import Desired, Guard, Managed


def acct(key: str, **fields: object) -> Desired:
    return Desired(
        "Account",
        "Store_Id__c",
        key,
        fields,
        touch={"Health_Updated_At__c": "2026-11-23T10:00:00+00:00"},
        account_key=key,
    )


def test_missing_record_is_created_with_create_only_and_touch_fields() -> None:
    d = Desired(
        "Task",
        "Sync_Key__c",
        "t1",
        {"Status": "Not Started"},
        create_only={"Subject": "Call"},
        touch={"X__c": 1},
    )
    plan = diff([d], {})
    assert plan.changes == (
        Create("Task", "Sync_Key__c", "t1", {"Subject": "Call", "Status": "Not Started", "X__c": 1}),
    )


def test_identical_record_plans_nothing_even_with_touch_fields() -> None:
    plan = diff([acct("NV-1", Health_Score__c=72)], {("Account", "NV-1"): {"Health_Score__c": 72.0}})
    assert plan.changes == ()


def test_changed_field_updates_only_that_field_plus_touch() -> None:
    current = {("Account", "NV-1"): {"Health_Score__c": 70.0, "Health_Band__c": "Green"}}
    plan = diff([acct("NV-1", Health_Score__c=72, Health_Band__c="Green")], current)
    (change,) = plan.changes
    assert isinstance(change, Update)
    assert dict(change.fields) == {"Health_Score__c": 72, "Health_Updated_At__c": "2026-11-23T10:00:00+00:00"}
    assert change.before["Health_Score__c"] == 70.0


def test_create_only_fields_are_never_updated() -> None:
    d = Desired("Task", "Sync_Key__c", "t1", {"Priority": "High"}, create_only={"Subject": "Call the GM"})
    plan = diff([d], {("Task", "t1"): {"Priority": "High", "Subject": "Renamed by the CSM"}})
    assert plan.changes == ()


def test_guard_keeps_a_record_a_person_owns() -> None:
    d = Desired(
        "Task",
        "Sync_Key__c",
        "t1",
        {"Status": "Not Started"},
        guards=(Guard("IsClosed", "truthy", why="closed by a CSM"),),
    )
    plan = diff([d], {("Task", "t1"): {"Status": "Completed", "IsClosed": True}})
    assert plan.changes == ()
    assert [k.why for k in plan.kept] == ["closed by a CSM"]


def test_managed_open_record_no_longer_desired_is_closed_unless_guarded() -> None:
    m = Managed(
        "Risk_Flag__c", "Sync_Key__c", {"Status__c": "Open"}, {"Status__c": "Resolved"}, key_prefix="risk:"
    )
    current = {
        ("Risk_Flag__c", "risk:a"): {"Status__c": "Open"},
        ("Risk_Flag__c", "risk:b"): {"Status__c": "Resolved"},
        ("Risk_Flag__c", "other:c"): {"Status__c": "Open"},
        ("Risk_Flag__c", "risk:d"): {"Status__c": "Open"},
    }
    keep = Desired("Risk_Flag__c", "Sync_Key__c", "risk:d", {"Status__c": "Open"})
    plan = diff([keep], current, [m])
    assert [(c.op, c.key) for c in plan.changes] == [("close", "risk:a")]
    assert isinstance(plan.changes[0], Close)


def test_snoozed_flag_is_not_closed() -> None:
    m = Managed(
        "Risk_Flag__c",
        "Sync_Key__c",
        {"Status__c": "Snoozed"},
        {"Status__c": "Resolved"},
        guards=(Guard("Snoozed_Until__c", "ge", "2026-11-23"),),
    )
    current = {
        ("Risk_Flag__c", "a"): {"Status__c": "Snoozed", "Snoozed_Until__c": "2026-11-30"},
        ("Risk_Flag__c", "b"): {"Status__c": "Snoozed", "Snoozed_Until__c": "2026-11-01"},
    }
    plan = diff([], current, [m])
    assert [c.key for c in plan.changes] == ["b"]


def test_order_is_parent_before_child_then_account_then_key() -> None:
    ds = [
        Desired("Task", "Sync_Key__c", "t", {"A": 1}, account_key="AZ-1"),
        Desired("Risk_Flag__c", "Sync_Key__c", "f2", {"A": 1}, account_key="NV-1"),
        Desired("Risk_Flag__c", "Sync_Key__c", "f1", {"A": 1}, account_key="AZ-1"),
        Desired("Account", "Store_Id__c", "NV-1", {"A": 1}, account_key="NV-1"),
    ]
    assert [c.key for c in diff(ds, {}).changes] == ["NV-1", "f1", "f2", "t"]


def test_numbers_compare_at_the_fields_scale_so_reruns_stay_quiet() -> None:
    schema = {("Account", "AOV_Online__c"): FieldSpec("currency", 2, None)}
    plan = diff(
        [acct("NV-1", AOV_Online__c=81.23456)], {("Account", "NV-1"): {"AOV_Online__c": 81.23}}, schema=schema
    )
    assert plan.changes == ()
    plan = diff(
        [acct("NV-1", AOV_Online__c=81.239)], {("Account", "NV-1"): {"AOV_Online__c": 81.23}}, schema=schema
    )
    assert plan.changes[0].fields["AOV_Online__c"] == 81.24


def test_datetimes_compare_to_the_second_and_empty_equals_none() -> None:
    current = {("Account", "NV-1"): {"Last__c": "2026-11-23T10:00:00.000+0000", "Note__c": None}}
    plan = diff(
        [Desired("Account", "Store_Id__c", "NV-1", {"Last__c": "2026-11-23T10:00:00+00:00", "Note__c": ""})],
        current,
    )
    assert plan.changes == ()


def test_text_is_cut_to_the_field_length() -> None:
    schema = {("Task", "Subject"): FieldSpec("string", None, 5)}
    plan = diff([Desired("Task", "Sync_Key__c", "k", {"Subject": "abcdefgh"})], {}, schema=schema)
    assert plan.changes[0].fields["Subject"] == "abcde"


def test_duplicate_desired_keys_are_refused() -> None:
    d = Desired("Task", "Sync_Key__c", "k", {"A": 1})
    try:
        diff([d, d], {})
    except ValueError as exc:
        assert "Sync_Key__c" in str(exc)
    else:
        raise AssertionError("duplicate keys must be refused")


def test_change_share_ignores_first_population_and_counts_overwrites() -> None:
    current = {("Account", f"S{i}"): {"Health_Score__c": None} for i in range(8)}
    current |= {("Account", "S8"): {"Health_Score__c": 50}, ("Account", "S9"): {"Health_Score__c": 50}}
    ds = [acct(f"S{i}", Health_Score__c=60) for i in range(10)]
    plan = diff(ds, current)
    assert plan.counts == {"create": 0, "update": 10, "close": 0}
    assert plan.change_share == 0.2


def test_plan_data_is_json_ready() -> None:
    plan = diff([acct("NV-1", Health_Score__c=1)], {("Account", "NV-1"): {"Health_Score__c": 2}})
    data = plan.data
    assert data["counts"]["update"] == 1
    assert data["changes"][0]["before"] == {"Health_Score__c": 2, "Health_Updated_At__c": None}


def test_schema_from_describe_reads_scale_and_length() -> None:
    describe = {
        "Account": {
            "fields": [
                {"name": "AOV_Online__c", "type": "currency", "scale": 2, "length": 0},
                {"name": "Name", "type": "string", "length": 255, "scale": 0},
            ]
        }
    }
    schema = schema_from_describe(describe)
    assert schema[("Account", "AOV_Online__c")] == FieldSpec("currency", 2, None)
    assert schema[("Account", "Name")] == FieldSpec("string", None, 255)


def test_a_value_that_cannot_go_into_its_field_is_left_out_and_named() -> None:
    """Run-time types the loader could not infer (attr(), coalesce()) are checked against the describe."""
    schema = {
        ("Account", "Online_Orders_7d__c"): FieldSpec("double", 0),
        ("Account", "Health_Stale__c"): FieldSpec("boolean"),
        ("Account", "Health_Drivers__c"): FieldSpec("textarea", None, 32768),
        ("Account", "Onboarding_Start__c"): FieldSpec("date"),
    }
    d = acct(
        "NV-1",
        Online_Orders_7d__c="12 orders",
        Health_Stale__c=1,
        Health_Drivers__c=3,
        Onboarding_Start__c=20260101,
    )
    plan = diff([d], {("Account", "NV-1"): {"Health_Drivers__c": "x"}}, schema=schema)
    (change,) = plan.changes
    assert dict(change.fields) == {
        "Health_Drivers__c": 3,
        "Health_Updated_At__c": "2026-11-23T10:00:00+00:00",
    }
    assert plan.misfits == (
        "Account NV-1: Online_Orders_7d__c is a double field but the mapping gave str '12 orders'; left unchanged",
        "Account NV-1: Health_Stale__c is a boolean field but the mapping gave int '1'; left unchanged",
        "Account NV-1: Onboarding_Start__c is a date field but the mapping gave int '20260101'; left unchanged",
    )
    fine = diff([acct("NV-1", Online_Orders_7d__c=12, Health_Stale__c=True)], {}, schema=schema)
    assert fine.misfits == ()
