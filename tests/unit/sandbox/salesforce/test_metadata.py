"""The SFDX tree is the one source of truth: the sandbox schema and the permission set follow from it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sandbox.salesforce.metadata import MetadataError, default_metadata_root, key_prefixes, load_schema

ROOT = default_metadata_root()
DEFAULT = ROOT / "force-app" / "main" / "default"
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}


def test_project_targets_api_59() -> None:
    project = json.loads((ROOT / "sfdx-project.json").read_text())
    assert project["sourceApiVersion"] == "59.0"
    assert [d["path"] for d in project["packageDirectories"]] == ["force-app"]


@pytest.mark.parametrize(
    ("sobject", "field", "type_", "props"),
    [
        ("Account", "Store_Id__c", "string", {"length": 64, "external_id": True, "unique": True,
                                              "case_sensitive": False}),
        ("Account", "Health_Score__c", "double", {"precision": 3, "scale": 0}),
        ("Account", "Health_Band__c", "picklist", {"picklist": ("Green", "Yellow", "Red"), "restricted": True}),
        ("Account", "Online_Revenue_7d__c", "currency", {"precision": 12, "scale": 2}),
        ("Account", "Online_Conversion__c", "percent", {"precision": 5, "scale": 2}),
        ("Account", "CSM__c", "reference", {"reference_to": ("User",), "relationship_name": "CSM__r"}),
        ("Account", "Plan__c", "picklist", {"restricted": False}),
        ("Account", "Health_Stale__c", "boolean", {"default": False, "nillable": False}),
        ("Risk_Flag__c", "Account__c", "reference", {"master_detail": True, "nillable": False,
                                                     "child_relationship": "Risk_Flags__r"}),
        ("Risk_Flag__c", "Sync_Key__c", "string", {"length": 255, "case_sensitive": True, "unique": True}),
        ("Risk_Flag__c", "Status__c", "picklist", {"default": "Open", "picklist": ("Open", "Snoozed", "Resolved")}),
        ("Risk_Flag__c", "Evidence__c", "textarea", {"length": 32768}),
        ("Health_Snapshot__c", "Snapshot_Date__c", "date", {"nillable": False}),
        ("Onboarding_Milestone__c", "Status__c", "picklist",
         {"picklist": ("Not Started", "In Progress", "Done", "Blocked")}),
        ("Quarterly_Review__c", "AOV_Lift__c", "percent", {"precision": 6, "scale": 2}),
        ("Sync_Run__c", "Api_Calls__c", "double", {"precision": 9}),
        ("Task", "Sync_Key__c", "string", {"external_id": True, "unique": True, "case_sensitive": True}),
        ("Case", "Sync_Key__c", "string", {"external_id": True, "unique": True, "case_sensitive": True}),
    ],
)  # fmt: skip
def test_schema_carries_the_metadata(sobject: str, field: str, type_: str, props: dict[str, object]) -> None:
    f = load_schema(ROOT).get(sobject).field(field)  # type: ignore[union-attr]
    assert f is not None and f.type == type_
    assert {k: getattr(f, k) for k in props} == props


def test_custom_objects_get_stable_prefixes_and_detail_objects_have_no_owner() -> None:
    schema = load_schema(ROOT)
    prefixes = {o.name: o.key_prefix for o in schema if o.custom}
    assert prefixes == {"Health_Snapshot__c": "a01", "Onboarding_Milestone__c": "a02", "Quarterly_Review__c": "a03",
                        "Risk_Flag__c": "a04", "Sync_Run__c": "a05",
                        "Product_Request_Account__c": "a06", "Product_Request__c": "a07"}  # fmt: skip
    # an object added later takes the next free prefix; the others keep theirs
    assert key_prefixes(["Zeta__c", "Alpha__c", "Risk_Flag__c"]) == {
        "Risk_Flag__c": "a04", "Alpha__c": "a01", "Zeta__c": "a02"}  # fmt: skip
    assert schema.get("Risk_Flag__c").field("OwnerId") is None  # type: ignore[union-attr]
    assert schema.get("Sync_Run__c").field("OwnerId") is not None  # type: ignore[union-attr]


def test_permission_set_grants_every_grantable_custom_field() -> None:
    perm = ET.parse(DEFAULT / "permissionsets" / "CSM_Sync_Integration.permissionset-meta.xml").getroot()
    granted = {
        fp.findtext("md:field", namespaces=NS): fp.findtext("md:editable", namespaces=NS)
        for fp in perm.findall("md:fieldPermissions", NS)
    }
    expected = set()
    for path in DEFAULT.glob("objects/*/fields/*.field-meta.xml"):
        el = ET.parse(path).getroot()
        # Required and master-detail fields cannot carry field permissions; Activity is granted via Task.
        if (
            el.findtext("md:required", namespaces=NS) == "true"
            or el.findtext("md:type", namespaces=NS) == "MasterDetail"
        ):
            continue
        obj = path.parent.parent.name
        expected.add(f"{'Task' if obj == 'Activity' else obj}.{path.name.split('.')[0]}")
    assert set(granted) == expected
    # A CSM owns the override and who the champion is, billing the ARR: the integration may read them, never write them.
    assert {k for k, v in granted.items() if v != "true"} == {
        "Account.Health_Override__c",
        "Account.Health_Override_Reason__c",
        "Contact.Champion__c",
        "Contact.Inactive__c",
        "Account.ARR__c",
    }
    objects = {op.findtext("md:object", namespaces=NS) for op in perm.findall("md:objectPermissions", NS)}
    assert {"Risk_Flag__c", "Health_Snapshot__c", "Onboarding_Milestone__c", "Quarterly_Review__c",
            "Sync_Run__c", "Account", "Case"} <= objects  # fmt: skip


def _tree(tmp_path: Path, field_xml: str, *, with_object_meta: bool = True) -> Path:
    obj = tmp_path / "force-app" / "main" / "default" / "objects" / "Thing__c"
    (obj / "fields").mkdir(parents=True)
    if with_object_meta:
        (obj / "Thing__c.object-meta.xml").write_text(
            '<CustomObject xmlns="http://soap.sforce.com/2006/04/metadata"><label>Thing</label>'
            "<nameField><label>Thing Name</label><type>Text</type></nameField></CustomObject>"
        )
    (obj / "fields" / "X__c.field-meta.xml").write_text(
        f'<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">{field_xml}</CustomField>'
    )
    return tmp_path


def test_an_unmodelled_field_type_names_its_file(tmp_path: Path) -> None:
    root = _tree(tmp_path, "<fullName>X__c</fullName><type>Geolocation</type>")
    with pytest.raises(MetadataError, match=r"X__c\.field-meta\.xml: field type 'Geolocation'"):
        load_schema(root)


def test_a_custom_object_needs_its_object_meta(tmp_path: Path) -> None:
    root = _tree(
        tmp_path, "<fullName>X__c</fullName><type>Text</type><length>5</length>", with_object_meta=False
    )
    with pytest.raises(MetadataError, match="custom object without its object-meta.xml"):
        load_schema(root)


def test_a_minimal_tree_loads(tmp_path: Path) -> None:
    root = _tree(tmp_path, "<fullName>X__c</fullName><label>X</label><type>Text</type><length>5</length>")
    thing = load_schema(root).get("thing__c")
    assert thing is not None and thing.key_prefix == "a01" and thing.field("x__c").length == 5  # type: ignore[union-attr]
