"""Checking a loaded mapping set against the org's describe: fields exist, are writable, and values fit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mappings.expressions import did_you_mean
from mappings.issues import HEALTH_FILE, RISK_FILE, MappingIssue
from mappings.templates import constant_length

if TYPE_CHECKING:  # load.py re-exports this module's check, so the import goes one way at run time
    from mappings.load import MappingSet

NUMBER_TYPES = frozenset({"double", "currency", "percent", "int", "long"})
TEXT_TYPES = frozenset(
    {
        "string",
        "textarea",
        "picklist",
        "multipicklist",
        "email",
        "url",
        "phone",
        "combobox",
        "encryptedstring",
    }
)
ID_TYPES = frozenset({"id", "reference"})
_FITS: dict[str, frozenset[str]] = {
    "number": NUMBER_TYPES,
    "text": TEXT_TYPES | ID_TYPES,
    "bool": frozenset({"boolean"}),
    "date": frozenset({"date", "datetime"}),
    "datetime": frozenset({"datetime"}),
}
# Expression types no Salesforce field can hold; "any" is checked per record at run time instead.
_NEVER_FITS = {"list": "a list", "none": "nothing (None)"}
_WORDS = {"number": "a number", "text": "text", "bool": "true/false", "date": "a date", "datetime": "a time"}


class _Org:
    """The describe JSON of a few objects, looked up by field name."""

    def __init__(self, describe: Mapping[str, Mapping[str, Any]]) -> None:
        self.objects: dict[str, dict[str, Mapping[str, Any]]] = {}
        for name, body in describe.items():
            fields = body.get("fields") or []
            self.objects[name] = {str(f.get("name")): f for f in fields if isinstance(f, Mapping)}


class _Check:
    def __init__(self, ms: MappingSet, org: _Org) -> None:
        self.ms = ms
        self.org = org
        self.issues: list[MappingIssue] = []
        self.missing_objects: set[str] = set()

    def add(self, file: str, where: str, path: str, message: str) -> None:
        self.issues.append(MappingIssue(self.ms.file_label(file), where, path, message))

    def field(
        self,
        file: str,
        where: str,
        path: str,
        sobject: str,
        name: str,
        *,
        update: bool = False,
        create: bool = False,
        kind: str = "",
    ) -> Mapping[str, Any] | None:
        """The field's describe, after checking it exists, is writable as needed and takes `kind` values."""
        fields = self.org.objects.get(sobject)
        if fields is None:
            if sobject not in self.missing_objects:
                self.missing_objects.add(sobject)
                self.add(
                    file, "", "", f"object {sobject} is not in the org's describe (deploy salesforce/ first)"
                )
            return None
        f = fields.get(name)
        if f is None:
            hint = did_you_mean(name, fields)
            self.add(file, where, path, f"{sobject} has no field {name}{hint}")
            return None
        if update and not f.get("updateable", False):
            self.add(file, where, path, f"{sobject}.{name} is not updateable by the integration user")
        if create and not f.get("createable", False):
            self.add(file, where, path, f"{sobject}.{name} is not createable by the integration user")
        ftype = str(f.get("type", ""))
        if kind and kind in _FITS and ftype not in _FITS[kind]:
            self.add(
                file, where, path, f"{sobject}.{name} is a {ftype} field but the mapping gives {_WORDS[kind]}"
            )
        elif kind in _NEVER_FITS:
            self.add(
                file,
                where,
                path,
                f"{sobject}.{name} is a {ftype} field but the mapping gives {_NEVER_FITS[kind]}; "
                "a field takes one value (join a list into text, or count it)",
            )
        return f

    def picklist(
        self,
        file: str,
        where: str,
        path: str,
        f: Mapping[str, Any] | None,
        sobject: str,
        values: Iterable[str],
        noun: str,
    ) -> None:
        """Every value we write must be an active value of a restricted picklist (others accept any text)."""
        if f is None or f.get("type") not in ("picklist", "multipicklist"):
            return
        if not f.get("restrictedPicklist", True):
            return
        allowed = [str(v.get("value")) for v in f.get("picklistValues") or [] if v.get("active", True)]
        for value in values:
            if value and value not in allowed:
                self.add(
                    file, where, path,
                    f'"{value}" is not in {sobject}.{f.get("name")}\'s picklist ({", ".join(allowed)})'
                    + (f" — {noun}" if noun else ""),
                )  # fmt: skip

    def length(
        self, file: str, where: str, path: str, f: Mapping[str, Any] | None, sobject: str, text: str
    ) -> None:
        """The fixed part of a template must fit the field (placeholders only add to it)."""
        if f is None or f.get("type") not in TEXT_TYPES:
            return
        limit = int(f.get("length") or 0)
        fixed = constant_length(text)
        if limit and fixed > limit:
            self.add(
                file, where, path, f"is at least {fixed} characters; {sobject}.{f.get('name')} holds {limit}"
            )


def validate_against_describe(
    mapping_set: MappingSet, describe: Mapping[str, Mapping[str, Any]]
) -> list[MappingIssue]:
    """Every issue between the mapping set and the org: missing or read-only fields, types, picklists.

    `describe` maps an object name (Account, Risk_Flag__c, Task, Case) to Salesforce's describe JSON
    for it (`{"fields": [{"name", "type", "length", "createable", "updateable", "picklistValues",
    "restrictedPicklist", ...}]}`). Pure: the caller fetched the describes.
    """
    ms = mapping_set
    c = _Check(ms, _Org(describe))
    _check_health(c, ms)
    _check_risk(c, ms)
    return c.issues


def _check_health(c: _Check, ms: MappingSet) -> None:
    hf = ms.health_file
    key = c.field(HEALTH_FILE, "", "match_key", "Account", hf.match_key)
    if key is not None and not key.get("externalId", False):
        c.add(HEALTH_FILE, "", "match_key", f"Account.{hf.match_key} must be an External ID to match stores")
    for name, expr in ms.fields:
        c.field(HEALTH_FILE, f'field "{name}"', "", "Account", name, update=True, kind=expr.type)
    t = hf.health.targets
    for path, name, kind in (
        ("health.targets.score", t.score, "number"),
        ("health.targets.change", t.change, "number"),
        ("health.targets.drivers", t.drivers, "text"),
        ("health.targets.stale", t.stale, "bool"),
        ("health.targets.updated_at", t.updated_at, "datetime"),
        ("open_risk_count_field", hf.open_risk_count_field, "number"),
    ):
        c.field(HEALTH_FILE, "", path, "Account", name, update=True, kind=kind)
    band = c.field(HEALTH_FILE, "", "health.targets.band", "Account", t.band, update=True, kind="text")
    c.picklist(
        HEALTH_FILE, "", "health.targets.band", band, "Account", ("Green", "Yellow", "Red"), "a health band"
    )
    trend = c.field(HEALTH_FILE, "", "health.targets.trend", "Account", t.trend, update=True, kind="text")
    c.picklist(
        HEALTH_FILE, "", "health.targets.trend", trend, "Account", ("Improving", "Stable", "Declining"), ""
    )
    c.field(HEALTH_FILE, "", "health.targets.override", "Account", t.override, kind="number")
    r = hf.rollup
    for path, name in (
        ("rollup.locations_total_field", r.locations_total_field),
        ("rollup.locations_live_field", r.locations_live_field),
        ("rollup.onboarding_progress_field", r.onboarding_progress_field),
    ):
        c.field(HEALTH_FILE, "", path, "Account", name, update=True, kind="number")
    for name in sorted(ms.account_fields):
        c.field(HEALTH_FILE, "", "expressions", "Account", name)


def _check_risk(c: _Check, ms: MappingSet) -> None:
    rules = ms.rules
    if not rules:
        return
    flag = "Risk_Flag__c"
    key = c.field(RISK_FILE, "", "", flag, "Sync_Key__c", create=True)
    if key is not None and not key.get("externalId", False):
        c.add(RISK_FILE, "", "", f"{flag}.Sync_Key__c must be an External ID for upserts")
    name_f = c.field(RISK_FILE, "", "", flag, "Name", create=True, update=True, kind="text")
    rule_f = c.field(RISK_FILE, "", "", flag, "Rule__c", create=True, update=True, kind="text")
    c.field(RISK_FILE, "", "", flag, "Rule_Version__c", create=True, update=True, kind="text")
    sev_f = c.field(RISK_FILE, "", "", flag, "Severity__c", create=True, update=True, kind="text")
    status_f = c.field(RISK_FILE, "", "", flag, "Status__c", create=True, update=True, kind="text")
    c.picklist(RISK_FILE, "", "", status_f, flag, ("Open", "Resolved"), "flags open and resolve with these")
    evidence_f = c.field(RISK_FILE, "", "", flag, "Evidence__c", create=True, update=True, kind="text")
    data_f = c.field(RISK_FILE, "", "", flag, "Evidence_Data__c", create=True, update=True, kind="text")
    cat_f = c.field(RISK_FILE, "", "", flag, "Category__c", create=True, update=True, kind="text")
    c.field(RISK_FILE, "", "", flag, "Opened_At__c", create=True, kind="datetime")
    c.field(RISK_FILE, "", "", flag, "Resolved_At__c", update=True, kind="datetime")
    c.field(RISK_FILE, "", "", flag, "Snoozed_Until__c", kind="date")
    c.field(RISK_FILE, "", "", flag, "Account__c", create=True, kind="text")
    if evidence_f is not None and int(evidence_f.get("length") or 0) and int(evidence_f["length"]) < 2000:
        c.add(
            RISK_FILE,
            "",
            "",
            f"{flag}.Evidence__c holds only {evidence_f['length']} characters; use a long text",
        )
    if data_f is not None and int(data_f.get("length") or 0) and int(data_f["length"]) < 2000:
        c.add(
            RISK_FILE,
            "",
            "",
            f"{flag}.Evidence_Data__c holds only {data_f['length']} characters; use a long text",
        )

    has_task = any(r.spec.task is not None for r in rules)
    has_case = any(r.spec.case is not None for r in rules)
    task_f: dict[str, Mapping[str, Any] | None] = {}
    if has_task:
        c.field(RISK_FILE, "", "", "Task", "Sync_Key__c", create=True)
        for name, kind in (("Subject", "text"), ("Description", "text"), ("Priority", "text"),
                           ("Status", "text"), ("ActivityDate", "date"), ("OwnerId", "text"),
                           ("WhatId", "text"), ("Type", "text")):  # fmt: skip
            task_f[name] = c.field(RISK_FILE, "", "", "Task", name, create=True, kind=kind)
        status = c.field(RISK_FILE, "", "", "Task", "Status", update=True)
        c.picklist(RISK_FILE, "", "", status, "Task", ("Completed",), "auto-resolve completes Tasks with it")
        c.field(RISK_FILE, "", "", "Task", "IsClosed", kind="bool")
    case_f: dict[str, Mapping[str, Any] | None] = {}
    if has_case:
        c.field(RISK_FILE, "", "", "Case", "Sync_Key__c", create=True)
        for name, kind in (("Subject", "text"), ("Description", "text"), ("Priority", "text"),
                           ("Status", "text"), ("Origin", "text"), ("Type", "text"), ("AccountId", "text"),
                           ("OwnerId", "text")):  # fmt: skip
            case_f[name] = c.field(RISK_FILE, "", "", "Case", name, create=True, kind=kind)
        c.field(RISK_FILE, "", "", "Case", "IsClosed", kind="bool")

    for rule in rules:
        spec = rule.spec
        where = f'rule "{spec.name}"'
        c.picklist(RISK_FILE, where, "severity", sev_f, flag, (spec.severity,), "")
        c.length(RISK_FILE, where, "title", name_f, flag, spec.title)
        c.length(RISK_FILE, where, "name", rule_f, flag, spec.name)
        if spec.category:
            c.length(RISK_FILE, where, "category", cat_f, flag, spec.category)
            if "{" not in spec.category:
                c.picklist(RISK_FILE, where, "category", cat_f, flag, (spec.category,), "")
        if spec.task is not None:
            task = spec.task
            c.picklist(
                RISK_FILE, where, "task.priority", task_f.get("Priority"), "Task", (task.priority,), ""
            )
            c.picklist(RISK_FILE, where, "task.status", task_f.get("Status"), "Task", (task.status,), "")
            if task.type:
                c.picklist(RISK_FILE, where, "task.type", task_f.get("Type"), "Task", (task.type,), "")
            c.length(RISK_FILE, where, "task.subject", task_f.get("Subject"), "Task", task.subject)
            _owner_field(c, where, "task.owner", task.owner)
        if spec.case is not None:
            case = spec.case
            c.picklist(
                RISK_FILE, where, "case.priority", case_f.get("Priority"), "Case", (case.priority,), ""
            )
            c.picklist(RISK_FILE, where, "case.status", case_f.get("Status"), "Case", (case.status,), "")
            c.picklist(RISK_FILE, where, "case.origin", case_f.get("Origin"), "Case", (case.origin,), "")
            if case.type:
                c.picklist(RISK_FILE, where, "case.type", case_f.get("Type"), "Case", (case.type,), "")
            c.length(RISK_FILE, where, "case.subject", case_f.get("Subject"), "Case", case.subject)
            if case.owner:
                _owner_field(c, where, "case.owner", case.owner)


def _owner_field(c: _Check, where: str, path: str, owner: str) -> None:
    kind, _, name = owner.partition(":")
    if kind != "account":
        return  # queue:<Name> resolves through attrs["queues"] at run time
    f = c.field(RISK_FILE, where, path, "Account", name)
    if f is not None and f.get("type") not in ID_TYPES:
        c.add(RISK_FILE, where, path, f"Account.{name} is a {f.get('type')} field, not a user lookup")
