"""A lifecycle job's Account fields against the describe: the issue sits at the key that names the field."""

from __future__ import annotations

from mappings.job_fields import check_account_fields

ACCOUNT = {"fields": [{"name": n} for n in ("Id", "OwnerId", "CSM__c", "Next_Review_Date__c")]}


def test_a_field_named_in_the_file_is_reported_at_its_key_with_a_suggestion() -> None:
    raw = {"review_date_field": "Next_Review_Dat__c", "task": {"subject": "QBR"}}
    (issue,) = check_account_fields("mappings/qbr.toml", raw, {"CSM__c", "Next_Review_Dat__c"}, ACCOUNT)
    assert str(issue) == (
        "mappings/qbr.toml: review_date_field: Account has no field Next_Review_Dat__c; did you mean "
        '"Next_Review_Date__c"?; fix the name in the file'
    )


def test_a_built_in_field_the_org_lacks_asks_for_the_metadata() -> None:
    (issue,) = check_account_fields("mappings/renewals.toml", {}, {"OwnerId", "Health_Band__c"}, ACCOUNT)
    assert issue.path == "" and issue.message.endswith("deploy salesforce/ (csm-sync's metadata) to the org")


def test_nothing_to_report_when_every_field_exists() -> None:
    assert check_account_fields("mappings/qbr.toml", {}, {"OwnerId", "CSM__c"}, ACCOUNT) == []
