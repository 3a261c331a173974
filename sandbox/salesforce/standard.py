"""Built-in standard objects with the fields and picklists a stock org has, plus system fields."""

from __future__ import annotations

from typing import Any

from sandbox.salesforce.schema import FieldDef, ObjectDef

_LONG_TEXT = 32000


def text(name: str, label: str, length: int = 255, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "string", length=length, **kw)


def long_text(name: str, label: str, length: int = _LONG_TEXT) -> FieldDef:
    return FieldDef(name, label, "textarea", length=length)


def picklist(
    name: str, label: str, values: tuple[str, ...], default: str | None = None, **kw: Any
) -> FieldDef:
    """Standard value sets are treated as restricted: an unknown value is refused, as describe warns."""
    kw.setdefault("restricted", True)
    if default is not None:
        kw.update(default=default, defaulted_on_create=True, nillable=False)
    return FieldDef(name, label, "picklist", length=255, picklist=values, **kw)


def reference(name: str, label: str, to: tuple[str, ...], relationship: str, **kw: Any) -> FieldDef:
    return FieldDef(
        name, label, "reference", length=18, reference_to=to, relationship_name=relationship, **kw
    )


def derived(name: str, label: str, type_: str, **kw: Any) -> FieldDef:
    """A field the org computes from others; describe marks it neither createable nor updateable."""
    return FieldDef(name, label, type_, createable=False, updateable=False, defaulted_on_create=True, **kw)


def system_fields(owner_to: tuple[str, ...] | None) -> list[FieldDef]:
    """Audit fields every object has; `owner_to` adds OwnerId pointing at those types."""
    out = [
        FieldDef(
            "Id",
            "Record ID",
            "id",
            length=18,
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        ),
        derived("IsDeleted", "Deleted", "boolean", nillable=False),
        derived("CreatedDate", "Created Date", "datetime", nillable=False),
        reference(
            "CreatedById",
            "Created By ID",
            ("User",),
            "CreatedBy",
            createable=False,
            updateable=False,
            defaulted_on_create=True,
            nillable=False,
        ),
        derived("LastModifiedDate", "Last Modified Date", "datetime", nillable=False),
        reference(
            "LastModifiedById",
            "Last Modified By ID",
            ("User",),
            "LastModifiedBy",
            createable=False,
            updateable=False,
            defaulted_on_create=True,
            nillable=False,
        ),
        derived("SystemModstamp", "System Modstamp", "datetime", nillable=False),
    ]
    if owner_to:
        out.append(
            reference("OwnerId", "Owner ID", owner_to, "Owner", defaulted_on_create=True, nillable=False)
        )
    return out


def _activity_fields(children: str) -> list[FieldDef]:
    """The fields Task and Event share as Activities; `children` names their list on the related record."""
    return [
        text("Subject", "Subject", name_field=True),
        reference("WhatId", "Related To ID", _WHAT, "What", child_relationship=children),
        reference("WhoId", "Name ID", ("Contact",), "Who", child_relationship=children),
        FieldDef("ActivityDate", "Due Date Only", "date"),
        picklist("Type", "Type", ("Call", "Email", "Meeting", "Other"), restricted=False),
        long_text("Description", "Description"),
        reference(
            "AccountId",
            "Account ID",
            ("Account",),
            "Account",
            createable=False,
            updateable=False,
            calculated=True,
        ),
    ]


def _object(
    name: str, label: str, plural: str, prefix: str, owner_to: tuple[str, ...] | None, fields: list[FieldDef]
) -> ObjectDef:
    obj = ObjectDef(name, label, plural, prefix)
    for f in system_fields(owner_to) + fields:
        obj.add(f)
    return obj


_USER = ("User",)
_USER_OR_QUEUE = ("User", "Group")
_WHAT = ("Account", "Case", "Contract", "Opportunity")

_ACCOUNT_TYPES = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)
_INDUSTRIES = (
    "Agriculture",
    "Apparel",
    "Consulting",
    "Education",
    "Entertainment",
    "Finance",
    "Food & Beverage",
    "Healthcare",
    "Hospitality",
    "Retail",
    "Technology",
    "Other",
)
_CONTACT_ROLES = (
    "Business User",
    "Decision Maker",
    "Economic Buyer",
    "Economic Decision Maker",
    "Evaluator",
    "Executive Sponsor",
    "Influencer",
    "Technical Buyer",
    "Other",
)
_TASK_STATUS = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
_CASE_STATUS = ("New", "Working", "Escalated", "Closed")
_STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
_OPPORTUNITY_TYPES = (
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
    "New Customer",
    "Renewal",
)

# Which status values count as closed, per object, for the derived IsClosed/IsWon fields.
CLOSED_TASK_STATUSES = frozenset({"Completed"})
CLOSED_CASE_STATUSES = frozenset({"Closed"})
CLOSED_STAGES = frozenset({"Closed Won", "Closed Lost"})


# What a File can be linked to (ContentDocumentLink.LinkedEntityId, ContentVersion.FirstPublishLocationId).
FILE_PARENTS = ("Account", "User", "Case", "Contract", "Opportunity", "Quarterly_Review__c")


def file_objects() -> list[ObjectDef]:
    """Files: a ContentDocument has versions (ContentVersion, the bytes) and links to records.

    The org fills in what Salesforce derives on upload (version number, latest flag, size, type,
    checksum, the document and its links); `sandbox/salesforce/files.py` does the uploading.
    """
    return [
        _object(
            "ContentDocument",
            "Content Document",
            "Content Documents",
            "069",
            _USER,
            [
                text("Title", "Title", nillable=False, name_field=True, createable=False),
                reference(
                    "LatestPublishedVersionId",
                    "Latest Published Version ID",
                    ("ContentVersion",),
                    "LatestPublishedVersion",
                    createable=False,
                    updateable=False,
                ),
                derived("FileType", "File Type", "string", length=20),
                derived("FileExtension", "File Extension", "string", length=40),
                derived("ContentSize", "Size", "int", precision=18),
                long_text("Description", "Description", 1000),
            ],
        ),
        _object(
            "ContentVersion",
            "Content Version",
            "Content Versions",
            "068",
            _USER,
            [
                text("Title", "Title", nillable=False, name_field=True),
                text("PathOnClient", "Path On Client", 500, nillable=False, updateable=False),
                FieldDef("VersionData", "Version Data", "base64", updateable=False),
                long_text("Description", "Description", 1000),
                text("ReasonForChange", "Reason For Change", 1000),
                reference(
                    "ContentDocumentId",
                    "ContentDocument ID",
                    ("ContentDocument",),
                    "ContentDocument",
                    updateable=False,
                    child_relationship="ContentVersions",
                ),
                reference(
                    "FirstPublishLocationId",
                    "First Publish Location ID",
                    FILE_PARENTS,
                    "FirstPublishLocation",
                    updateable=False,
                ),
                derived("VersionNumber", "Version Number", "string", length=20),
                derived("IsLatest", "Is Latest", "boolean", nillable=False),
                derived("ContentSize", "Size", "int", precision=18),
                derived("FileType", "File Type", "string", length=20),
                derived("FileExtension", "File Extension", "string", length=40),
                derived("Checksum", "Checksum", "string", length=50),
                picklist("Origin", "Content Origin", ("C", "H"), default="C"),
                picklist("ContentLocation", "Document Location", ("S", "E", "L"), default="S"),
            ],
        ),
        _object(
            "ContentDocumentLink",
            "Content Document Link",
            "Content Document Links",
            "06A",
            None,
            [
                reference(
                    "ContentDocumentId",
                    "ContentDocument ID",
                    ("ContentDocument",),
                    "ContentDocument",
                    nillable=False,
                    updateable=False,
                    child_relationship="ContentDocumentLinks",
                ),
                reference(
                    "LinkedEntityId",
                    "Linked Entity ID",
                    FILE_PARENTS,
                    "LinkedEntity",
                    nillable=False,
                    updateable=False,
                    child_relationship="ContentDocumentLinks",
                ),
                picklist("ShareType", "Share Type", ("V", "C", "I"), default="V"),
                picklist(
                    "Visibility",
                    "Visibility",
                    ("AllUsers", "InternalUsers", "SharedUsers"),
                    default="AllUsers",
                ),
            ],
        ),
    ]


def _organization() -> ObjectDef:
    """The org itself: one read-only record the Salesforce CLI reads after every login."""
    obj = _object(
        "Organization",
        "Organization",
        "Organizations",
        "00D",
        None,
        [
            text("Name", "Name", 80, nillable=False, name_field=True),
            text("InstanceName", "Instance Name", 5),
            FieldDef(
                "IsSandbox", "Is Sandbox", "boolean", nillable=False, defaulted_on_create=True, default=False
            ),
            FieldDef("TrialExpirationDate", "Trial Expiration Date", "datetime"),
            text("NamespacePrefix", "Namespace Prefix", 15),
            picklist(
                "OrganizationType", "Edition", ("Developer Edition", "Enterprise Edition"), restricted=False
            ),
        ],
    )
    obj.createable = obj.updateable = obj.deletable = False
    return obj


def standard_objects() -> list[ObjectDef]:
    """A fresh copy each call: metadata adds custom fields to these objects per org."""
    return [
        *file_objects(),
        _object(
            "Account",
            "Account",
            "Accounts",
            "001",
            _USER,
            [
                text("Name", "Account Name", nillable=False, name_field=True),
                text("AccountNumber", "Account Number", 40),
                picklist("Type", "Account Type", _ACCOUNT_TYPES, restricted=False),
                picklist("Industry", "Industry", _INDUSTRIES, restricted=False),
                reference(
                    "ParentId",
                    "Parent Account ID",
                    ("Account",),
                    "Parent",
                    child_relationship="ChildAccounts",
                ),
                text("BillingStreet", "Billing Street"),
                text("BillingCity", "Billing City", 40),
                text("BillingState", "Billing State/Province", 80),
                text("BillingPostalCode", "Billing Zip/Postal Code", 20),
                text("BillingCountry", "Billing Country", 80),
                FieldDef("Phone", "Account Phone", "phone", length=40),
                FieldDef("Website", "Website", "url", length=255),
                FieldDef("NumberOfEmployees", "Employees", "int", precision=8),
                FieldDef("AnnualRevenue", "Annual Revenue", "currency", precision=18, scale=0),
                long_text("Description", "Account Description"),
            ],
        ),
        _object(
            "Contact",
            "Contact",
            "Contacts",
            "003",
            _USER,
            [
                text("FirstName", "First Name", 40),
                text("LastName", "Last Name", 80, nillable=False),
                derived("Name", "Full Name", "string", length=121, name_field=True, nillable=False),
                reference("AccountId", "Account ID", ("Account",), "Account", child_relationship="Contacts"),
                FieldDef("Email", "Email", "email", length=80),
                FieldDef("Phone", "Business Phone", "phone", length=40),
                text("Title", "Title", 128),
            ],
        ),
        _object(
            "AccountContactRole",
            "Account Contact Role",
            "Account Contact Roles",
            "02Z",
            None,
            [
                reference(
                    "AccountId",
                    "Account ID",
                    ("Account",),
                    "Account",
                    nillable=False,
                    child_relationship="AccountContactRoles",
                ),
                reference(
                    "ContactId",
                    "Contact ID",
                    ("Contact",),
                    "Contact",
                    nillable=False,
                    child_relationship="AccountContactRoles",
                ),
                picklist("Role", "Role", _CONTACT_ROLES),
                FieldDef(
                    "IsPrimary", "Primary", "boolean", nillable=False, defaulted_on_create=True, default=False
                ),
            ],
        ),
        _object(
            "User",
            "User",
            "Users",
            "005",
            None,
            [
                text("Username", "Username", 80, nillable=False, unique=True),
                text("FirstName", "First Name", 40),
                text("LastName", "Last Name", 80, nillable=False),
                derived("Name", "Full Name", "string", length=121, name_field=True, nillable=False),
                FieldDef("Email", "Email", "email", length=128, nillable=False),
                text("Alias", "Alias", 8),
                text("Title", "Title", 80),
                FieldDef(
                    "IsActive", "Active", "boolean", nillable=False, defaulted_on_create=True, default=True
                ),
                reference("ManagerId", "Manager ID", ("User",), "Manager"),
            ],
        ),
        _organization(),
        _object(
            "Group",
            "Group",
            "Groups",
            "00G",
            _USER,
            [
                text("Name", "Name", 40, nillable=False, name_field=True),
                text("DeveloperName", "Developer Name", 80),
                picklist("Type", "Type", ("Regular", "Queue"), default="Regular"),
                FieldDef("Email", "Email", "email", length=255),
            ],
        ),
        _object(
            "Task",
            "Task",
            "Tasks",
            "00T",
            _USER_OR_QUEUE,
            [
                *_activity_fields("Tasks"),
                picklist("Priority", "Priority", ("High", "Normal", "Low"), default="Normal"),
                picklist("Status", "Status", _TASK_STATUS, default="Not Started"),
                derived("IsClosed", "Closed", "boolean", nillable=False),
                derived("CompletedDateTime", "Completed Date/Time", "datetime"),
            ],
        ),
        _object(
            "Event",
            "Event",
            "Events",
            "00U",
            _USER_OR_QUEUE,
            [
                *_activity_fields("Events"),
                FieldDef("StartDateTime", "Start Date Time", "datetime"),
                FieldDef("EndDateTime", "End Date Time", "datetime"),
            ],
        ),
        _object(
            "Case",
            "Case",
            "Cases",
            "500",
            _USER_OR_QUEUE,
            [
                FieldDef(
                    "CaseNumber",
                    "Case Number",
                    "string",
                    length=30,
                    createable=False,
                    updateable=False,
                    auto_number=True,
                    defaulted_on_create=True,
                    name_field=True,
                    nillable=False,
                ),
                text("Subject", "Subject"),
                long_text("Description", "Description"),
                picklist("Status", "Status", _CASE_STATUS, default="New"),
                picklist("Priority", "Priority", ("High", "Medium", "Low"), default="Medium"),
                picklist("Origin", "Case Origin", ("Phone", "Email", "Web"), restricted=False),
                picklist(
                    "Type", "Case Type", ("Problem", "Feature Request", "Question", "Other"), restricted=False
                ),
                picklist(
                    "Reason",
                    "Case Reason",
                    ("Installation", "Performance", "Breakdown", "Other"),
                    restricted=False,
                ),
                reference("AccountId", "Account ID", ("Account",), "Account", child_relationship="Cases"),
                reference("ContactId", "Contact ID", ("Contact",), "Contact", child_relationship="Cases"),
                reference("ParentId", "Parent Case ID", ("Case",), "Parent", child_relationship="Cases"),
                derived("IsClosed", "Closed", "boolean", nillable=False),
                derived("ClosedDate", "Closed Date", "datetime"),
            ],
        ),
        _object(
            "Contract",
            "Contract",
            "Contracts",
            "800",
            _USER,
            [
                FieldDef(
                    "ContractNumber",
                    "Contract Number",
                    "string",
                    length=30,
                    createable=False,
                    updateable=False,
                    auto_number=True,
                    defaulted_on_create=True,
                    name_field=True,
                    nillable=False,
                ),
                reference(
                    "AccountId",
                    "Account ID",
                    ("Account",),
                    "Account",
                    nillable=False,
                    child_relationship="Contracts",
                ),
                FieldDef("StartDate", "Contract Start Date", "date"),
                FieldDef("ContractTerm", "Contract Term", "int", precision=4),
                derived("EndDate", "Contract End Date", "date"),
                picklist("Status", "Status", ("Draft", "In Approval Process", "Activated"), default="Draft"),
                long_text("Description", "Description"),
            ],
        ),
        _object(
            "Opportunity",
            "Opportunity",
            "Opportunities",
            "006",
            _USER,
            [
                text("Name", "Name", 120, nillable=False, name_field=True),
                reference(
                    "AccountId", "Account ID", ("Account",), "Account", child_relationship="Opportunities"
                ),
                picklist("StageName", "Stage", _STAGES, nillable=False),
                FieldDef("CloseDate", "Close Date", "date", nillable=False),
                picklist("Type", "Opportunity Type", _OPPORTUNITY_TYPES, restricted=False),
                FieldDef("Amount", "Amount", "currency", precision=18, scale=2),
                FieldDef("Probability", "Probability (%)", "percent", precision=3, scale=0),
                reference(
                    "ContractId", "Contract ID", ("Contract",), "Contract", child_relationship="Opportunities"
                ),
                derived("IsClosed", "Closed", "boolean", nillable=False),
                derived("IsWon", "Won", "boolean", nillable=False),
                long_text("Description", "Description"),
            ],
        ),
    ]
