"""The one builder of the records jobs write: risk flags, Tasks, Cases, their closes and holds.

Every job (the risk rules and each lifecycle job) builds its records here, so one rule holds for each
of: which Task fields are kept in step, how text is cut to its field, and how a CSM's snooze is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from mappings.desired import Desired, Guard, Managed

KEY_FIELD = "Sync_Key__c"  # the External ID of Risk_Flag__c, Task (Activity) and Case
FLAG_OBJECT = "Risk_Flag__c"

# Text fields a job writes, with their length in the org: a longer value is cut here, once.
TEXT_LIMITS: Mapping[str, int] = {
    "Name": 80,
    "Category__c": 80,
    "Subject": 255,
    "Description": 32000,
    "Evidence__c": 32768,
    "Latest_Quote__c": 255,
}

CLOSED_BY_PERSON = Guard("IsClosed", "truthy", why="a person closed this Task; it is never reopened")
# csm-sync creates its Tasks, so a last editor other than the creator is a person (or their automation).
EDITED_BY_PERSON = Guard(
    "LastModifiedById", "ne_field", "CreatedById", why="a person edited this Task; it stays as they left it"
)


def clip(field: str, text: str) -> str:
    """`text` cut to the length of `field` (unchanged for a field without a limit)."""
    limit = TEXT_LIMITS.get(field)
    return text if limit is None else text[:limit]


def snoozed(today: date) -> Guard:
    """A flag a CSM snoozed until `today` or later is left alone (dates compared as dates)."""
    return Guard("Snoozed_Until__c", "ge", today, why="snoozed by a CSM")


def flag(
    key: str,
    *,
    account_id: Any,
    rule: str,
    name: str,
    severity: str,
    evidence: str,
    category: str,
    now: datetime,
    store_id: str,
    version: str = "1",
    evidence_data: str | None = None,
    reason: str = "",
    hold: bool = False,
) -> Desired:
    """An open Risk_Flag__c; a snooze a CSM set is honoured until its date.

    `hold` keeps an existing flag as it is (the rule could not decide this time): its fields are only
    written should the flag be created.
    """
    fields: dict[str, Any] = {
        "Name": clip("Name", name),
        "Rule__c": rule,
        "Rule_Version__c": version,
        "Severity__c": severity,
        "Status__c": "Open",
        "Evidence__c": clip("Evidence__c", evidence),
        "Category__c": clip("Category__c", category),
        "Resolved_At__c": None,
    }
    if evidence_data is not None:
        fields["Evidence_Data__c"] = evidence_data
    create_only: dict[str, Any] = {"Opened_At__c": now, "Account__c": account_id}
    return Desired(
        sobject=FLAG_OBJECT,
        key_field=KEY_FIELD,
        key=key,
        fields={} if hold else fields,
        create_only={**create_only, **fields} if hold else create_only,
        guards=(snoozed(now.date()),),
        account_key=store_id,
        reason=("held: " if hold else "") + reason,
    )


def task(
    key: str,
    *,
    account_id: Any,
    subject: str,
    description: str,
    priority: str,
    due: date,
    store_id: str,
    owner: str | None = None,
    status: str = "Not Started",
    type: str = "",
    reason: str = "",
    keep_current: Sequence[str] = (),
) -> Desired:
    """A Task on the account. Subject, description, due date and owner are set on create only, so a
    CSM's edits stand; Priority is kept in step; a Task a person closed is left alone.

    `keep_current` names fields (e.g. "Description") kept in step too while the Task is open and no
    person has edited it: a renewal Task tells the account's current health, not that of its first day.
    """
    create_only: dict[str, Any] = {
        "Subject": clip("Subject", subject),
        "Description": clip("Description", description),
        "ActivityDate": due,
        "Status": status,
        "WhatId": account_id,
    }
    if owner:
        create_only["OwnerId"] = owner
    if type:
        create_only["Type"] = type
    fields: dict[str, Any] = {"Priority": priority}
    fields.update({f: create_only.pop(f) for f in keep_current if f in create_only})
    return Desired(
        sobject="Task",
        key_field=KEY_FIELD,
        key=key,
        fields=fields,
        create_only=create_only,
        guards=(CLOSED_BY_PERSON, EDITED_BY_PERSON) if keep_current else (CLOSED_BY_PERSON,),
        routine=frozenset(keep_current) | {"Priority"} if keep_current else frozenset(),
        account_key=store_id,
        reason=reason,
    )


def case(
    key: str,
    *,
    account_id: Any,
    subject: str,
    description: str,
    priority: str,
    status: str,
    origin: str,
    store_id: str,
    owner: str | None = None,
    type: str = "",
    reason: str = "",
) -> Desired:
    """A Case for engineering: every field is set on create only; once open it is engineering's."""
    create_only: dict[str, Any] = {
        "Subject": clip("Subject", subject),
        "Description": clip("Description", description),
        "Priority": priority,
        "Status": status,
        "Origin": origin,
        "AccountId": account_id,
    }
    if type:
        create_only["Type"] = type
    if owner:
        create_only["OwnerId"] = owner
    return Desired(
        "Case",
        KEY_FIELD,
        key,
        {},
        create_only,
        guards=(CLOSED_BY_PERSON,),
        account_key=store_id,
        reason=reason,
    )


def hold(sobject: str, key: str, store_id: str, reason: str) -> Desired:
    """Keep an existing record from being closed, and never create it (e.g. a Case whose queue is missing)."""
    return Desired(sobject, KEY_FIELD, key, {}, account_key=store_id, reason=reason)


def close_flags(
    now: datetime, *, prefix: str = "", rule: str = "", reason: str = "condition cleared"
) -> Managed:
    """Open flags of a job (by key prefix, or by `Rule__c`) whose condition no longer holds are resolved;
    a snoozed one is left alone."""
    is_open: dict[str, Any] = {"Status__c": "Open"}
    if rule:
        is_open["Rule__c"] = rule
    return Managed(
        sobject=FLAG_OBJECT,
        key_field=KEY_FIELD,
        is_open=is_open,
        close_fields={"Status__c": "Resolved", "Resolved_At__c": now},
        guards=(snoozed(now.date()),),
        reason=reason,
        key_prefix=prefix,
        parent_field="Account__c",
    )


def close_tasks(prefix: str, reason: str = "condition cleared", note: str = "") -> Managed:
    """Open Tasks of a job whose condition no longer holds are completed (`note` replaces the
    description when given); a Task a person closed stays as it is."""
    close: dict[str, Any] = {"Status": "Completed"}
    if note:
        close["Description"] = note
    return Managed(
        sobject="Task",
        key_field=KEY_FIELD,
        is_open={"IsClosed": False},
        close_fields=close,
        guards=(CLOSED_BY_PERSON,),
        reason=reason,
        key_prefix=prefix,
        parent_field="WhatId",
    )
