"""The sandbox reads list views, reports and dashboards from the SFDX tree and refuses files naming fields
or objects the schema lacks, naming the file, as a deploy to a real org would fail."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sandbox.salesforce.catalog import load_catalog
from sandbox.salesforce.metadata import MetadataError, default_metadata_root, load_schema

ROOT = default_metadata_root()


def test_the_shipped_catalog_loads_with_stable_ids() -> None:
    schema = load_schema(ROOT)
    first, again = load_catalog(ROOT, schema), load_catalog(ROOT, schema)
    assert [v.id for v in first.list_views] == [v.id for v in again.list_views]
    assert {r.name for r in first.reports} == {
        "Portfolio_by_Band_and_CSM", "Health_Trend", "Open_Flags_by_Category_and_Age",
        "Renewals_Next_90_Days_with_Health", "Onboarding_On_Time", "QBR_Figures", "Touchpoints_by_CSM",
    }  # fmt: skip
    assert [v.id[:3] for v in first.list_views] == ["00B"] * len(first.list_views)
    (dashboard,) = first.dashboards
    assert dashboard.title == "Client Health" and len(dashboard.components) == 7
    # An 18-character id and its 15-character form find the same report.
    report = first.reports[0]
    assert first.report(report.id[:15]) is report is first.report(report.id)


CASES = [
    ("objects/Account/listViews/Red_and_Declining.listView-meta.xml", "<columns>Health_Score__c</columns>",
     "<columns>Health_Scroe__c</columns>", r"Red_and_Declining\.listView-meta\.xml: names field Account\.Health_Scroe__c"),
    ("objects/Risk_Flag__c/listViews/Open_by_Severity.listView-meta.xml", "<field>Status__c</field>",
     "<field>State__c</field>", r"Open_by_Severity\.listView-meta\.xml: names field Risk_Flag__c\.State__c"),
    ("reports/Customer_Success/Health_Trend.report-meta.xml", "<field>Account.Health_Snapshots__r$Band__c</field>",
     "<field>Account.Health_Snapshots__r$Colour__c</field>", r"Health_Trend\.report-meta\.xml: column .*Colour__c"),
    ("reports/Customer_Success/QBR_Figures.report-meta.xml", "<reportType>Accounts_with_Quarterly_Reviews__c",
     "<reportType>Accounts_with_QBRs__c", r"QBR_Figures\.report-meta\.xml: report type 'Accounts_with_QBRs'"),
    ("reportTypes/Accounts_with_Risk_Flags.reportType-meta.xml", "<field>Rule__c</field>",
     "<field>Rules__c</field>", r"Accounts_with_Risk_Flags\.reportType-meta\.xml: names field Risk_Flag__c\.Rules__c"),
    ("reportTypes/Accounts_with_Risk_Flags.reportType-meta.xml", "<relationship>Risk_Flags__r</relationship>",
     "<relationship>Flags__r</relationship>", r"has no child relationship 'Flags__r'"),
    ("dashboards/Customer_Success/Client_Health.dashboard-meta.xml", "Customer_Success/QBR_Figures",
     "Customer_Success/QBR_Numbers", r"Client_Health\.dashboard-meta\.xml: .*'Customer_Success/QBR_Numbers'"),
    ("layouts/Account-Customer Success Layout.layout-meta.xml", "<field>Health_Drivers__c</field>",
     "<field>Health_Reasons__c</field>", r"Customer Success Layout\.layout-meta\.xml: names field Account\.Health_Reasons__c"),
    ("flexipages/Account_Health_Record_Page.flexipage-meta.xml", "<value>Risk_Flags__r</value>",
     "<value>Risks__r</value>", r"Account_Health_Record_Page\.flexipage-meta\.xml: related list 'Risks__r'"),
    ("permissionsets/Customer_Success_Manager.permissionset-meta.xml", "<field>Risk_Flag__c.Snoozed_Until__c</field>",
     "<field>Risk_Flag__c.Snooze_Until__c</field>", r"Customer_Success_Manager\.permissionset-meta\.xml: names field"),
    ("reports/Customer_Success/Health_Trend.report-meta.xml",
     "<field>Account.Health_Snapshots__r$Band__c</field>",
     "<aggregateTypes>Sum</aggregateTypes><field>Account.Health_Snapshots__r$Band__c</field>",
     r"Health_Trend\.report-meta\.xml: column Account\.Health_Snapshots__r\$Band__c is not a number"),
    ("reports/Customer_Success/QBR_Figures.report-meta.xml", "<aggregateTypes>Sum</aggregateTypes>",
     "<aggregateTypes>Median</aggregateTypes>", r"QBR_Figures\.report-meta\.xml: .*aggregate 'Median'"),
    ("applications/Customer_Success.app-meta.xml", "<tabs>Sync_Run__c</tabs>", "<tabs>Sync_Log__c</tabs>",
     r"Customer_Success\.app-meta\.xml: tab 'Sync_Log__c'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("relative", "old", "new", "message"), CASES, ids=[c[0].split("/")[-1] for c in CASES]
)
def test_a_file_naming_what_the_schema_lacks_is_refused(
    tmp_path: Path, relative: str, old: str, new: str, message: str
) -> None:
    root = tmp_path / "salesforce"
    shutil.copytree(ROOT, root)
    target = root / "force-app" / "main" / "default" / relative
    text = target.read_text()
    assert old in text, f"{relative} no longer holds {old}"
    target.write_text(text.replace(old, new, 1))
    with pytest.raises(MetadataError, match=message):
        load_catalog(root, load_schema(root))


def test_the_csm_permission_set_reads_everything_and_edits_only_what_csms_own() -> None:
    ns = {"md": "http://soap.sforce.com/2006/04/metadata"}
    default = ROOT / "force-app" / "main" / "default"
    perm = ET.parse(default / "permissionsets" / "Customer_Success_Manager.permissionset-meta.xml").getroot()
    fields = {
        fp.findtext("md:field", namespaces=ns): (fp.findtext("md:readable", namespaces=ns),
                                                 fp.findtext("md:editable", namespaces=ns))
        for fp in perm.findall("md:fieldPermissions", ns)
    }  # fmt: skip
    integration = ET.parse(
        default / "permissionsets" / "CSM_Sync_Integration.permissionset-meta.xml"
    ).getroot()
    granted = {
        fp.findtext("md:field", namespaces=ns) for fp in integration.findall("md:fieldPermissions", ns)
    }
    assert set(fields) == granted  # every field csm-sync keeps, readable by CSMs
    assert all(readable == "true" for readable, _ in fields.values())
    assert {f for f, (_, editable) in fields.items() if editable == "true"} == {
        "Account.Health_Override__c", "Account.Health_Override_Reason__c", "Risk_Flag__c.Status__c",
        "Risk_Flag__c.Snoozed_Until__c", "Onboarding_Milestone__c.Status__c",
        # who the champion is: CSMs mark and deactivate Contacts, and confirm a champion's new role
        "Contact.Champion__c", "Contact.Inactive__c", "Account.Champion_Title__c",
    }  # fmt: skip
    objects = {op.findtext("md:object", namespaces=ns): op for op in perm.findall("md:objectPermissions", ns)}
    assert all(op.findtext("md:viewAllRecords", namespaces=ns) == "true" for op in objects.values())
    assert all(op.findtext("md:allowCreate", namespaces=ns) == "false" for op in objects.values())
    editable = {o for o, op in objects.items() if op.findtext("md:allowEdit", namespaces=ns) == "true"}
    assert editable == {"Account", "Contact", "Risk_Flag__c", "Onboarding_Milestone__c"}
