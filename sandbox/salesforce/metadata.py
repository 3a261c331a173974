"""Reads the SFDX source tree under `salesforce/` into the sandbox schema: one source of truth."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sandbox.salesforce.schema import FieldDef, ObjectDef, Schema
from sandbox.salesforce.standard import standard_objects, system_fields

_NS = {"md": "http://soap.sforce.com/2006/04/metadata"}

# Activity custom fields are shared by every activity type the org models.
_SHARED_PARENTS = {"Activity": ("Task", "Event")}

_SIMPLE_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Html": "textarea",
    "Number": "double",
    "Currency": "currency",
    "Percent": "percent",
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
    "Picklist": "picklist",
    "Email": "email",
    "Phone": "phone",
    "Url": "url",
    "Lookup": "reference",
    "MasterDetail": "reference",
}


class MetadataError(ValueError):
    """The SFDX tree holds something the sandbox cannot model; named with the file at fault."""


def default_metadata_root() -> Path:
    """The SFDX tree shipped with the sandbox: `sandbox/metadata`, a link to the repository's `salesforce/`
    in a clone and a copy of it in an installed wheel, so the demo works from either."""
    return (Path(__file__).resolve().parents[1] / "metadata").resolve()


# A real org keeps an object's key prefix from its creation on: the objects of the first release keep
# theirs, so record ids a test or a console link holds do not move when an object is added.
FIRST_PREFIXES = {
    "Health_Snapshot__c": "a01",
    "Onboarding_Milestone__c": "a02",
    "Quarterly_Review__c": "a03",
    "Risk_Flag__c": "a04",
    "Sync_Run__c": "a05",
}


def key_prefixes(names: Iterable[str]) -> dict[str, str]:
    """Each custom object's key prefix: its first-release one, else the next free number in name order."""
    out = {n: FIRST_PREFIXES[n] for n in sorted(names) if n in FIRST_PREFIXES}
    taken = set(out.values())
    free = (p for i in range(1, 1000) if (p := f"a{i:02d}") not in taken)
    out.update({n: next(free) for n in sorted(names) if n not in out})
    return out


def load_schema(root: Path) -> Schema:
    """Built-in standard objects plus every custom object and field found under `root`."""
    objects_dirs = sorted(p for p in root.glob("**/objects") if p.is_dir())
    if not objects_dirs:
        raise MetadataError(f"{root}: no objects/ directory found")
    standard = {o.name: o for o in standard_objects()}
    custom: dict[str, tuple[Path, ET.Element]] = {}
    fields: list[tuple[str, Path]] = []
    for objects_dir in objects_dirs:
        for obj_dir in sorted(p for p in objects_dir.iterdir() if p.is_dir()):
            meta = obj_dir / f"{obj_dir.name}.object-meta.xml"
            if obj_dir.name.endswith("__c"):
                if not meta.exists():
                    raise MetadataError(f"{meta}: custom object without its object-meta.xml")
                custom[obj_dir.name] = (meta, _parse(meta))
            for field_file in sorted((obj_dir / "fields").glob("*.field-meta.xml")):
                fields.append((obj_dir.name, field_file))

    objects = dict(standard)
    for name, prefix in key_prefixes(custom).items():
        meta, root_el = custom[name]
        objects[name] = _custom_object(name, prefix, root_el, meta)

    for obj_name, field_file in fields:
        targets = _SHARED_PARENTS.get(obj_name, (obj_name,))
        for target in targets:
            obj = objects.get(target)
            if obj is None:
                raise MetadataError(f"{field_file}: the sandbox has no built-in definition of {obj_name}")
            obj.add(_field(field_file, obj_name))

    for obj_name in custom:
        obj = objects[obj_name]
        is_detail = any(f.master_detail for f in obj)
        for f in system_fields(None if is_detail else ("User", "Group")):
            if obj.field(f.name) is None:
                obj.add(f)
        obj.fields = _system_first(obj)
    return Schema(objects.values())


def _system_first(obj: ObjectDef) -> dict[str, FieldDef]:
    """Describe lists Id and the audit fields before custom fields, as Salesforce does."""
    order = [
        "id",
        "ownerid",
        "isdeleted",
        "name",
        "createddate",
        "createdbyid",
        "lastmodifieddate",
        "lastmodifiedbyid",
        "systemmodstamp",
    ]
    head = {k: obj.fields[k] for k in order if k in obj.fields}
    return head | {k: v for k, v in obj.fields.items() if k not in head}


def _parse(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()  # noqa: S314 - the repository's own metadata, not untrusted input
    except ET.ParseError as exc:
        raise MetadataError(f"{path}: {exc}") from exc


def _text(el: ET.Element, tag: str, default: str = "") -> str:
    child = el.find(f"md:{tag}", _NS)
    return default if child is None or child.text is None else child.text.strip()


def _flag(el: ET.Element, tag: str, default: bool = False) -> bool:
    value = _text(el, tag)
    return default if not value else value.lower() == "true"


def _custom_object(name: str, prefix: str, el: ET.Element, path: Path) -> ObjectDef:
    label = _text(el, "label") or name
    obj = ObjectDef(name, label, _text(el, "pluralLabel") or label, prefix, custom=True)
    name_el = el.find("md:nameField", _NS)
    if name_el is None:
        raise MetadataError(f"{path}: missing nameField")
    if _text(name_el, "type") == "AutoNumber":
        obj.add(
            FieldDef(
                "Name",
                _text(name_el, "label"),
                "string",
                length=80,
                createable=False,
                updateable=False,
                auto_number=True,
                defaulted_on_create=True,
                name_field=True,
                nillable=False,
            )
        )
    else:
        # Omitting Name on create is allowed: Salesforce then names the record after its Id.
        obj.add(
            FieldDef(
                "Name",
                _text(name_el, "label") or "Name",
                "string",
                length=80,
                defaulted_on_create=True,
                name_field=True,
            )
        )
    return obj


def _field(path: Path, obj_name: str) -> FieldDef:
    el = _parse(path)
    name = _text(el, "fullName") or path.name.split(".")[0]
    xml_type = _text(el, "type")
    if xml_type not in _SIMPLE_TYPES:
        raise MetadataError(f"{path}: field type {xml_type!r} is not modelled by the sandbox")
    kind = _SIMPLE_TYPES[xml_type]
    kw: dict[str, Any] = {
        "custom": name.endswith("__c"),
        "external_id": _flag(el, "externalId"),
        "unique": _flag(el, "unique"),
        "case_sensitive": _flag(el, "caseSensitive"),
        "nillable": not _flag(el, "required"),
    }
    label = _text(el, "label") or name
    if kind in ("string", "textarea", "email", "phone", "url"):
        default_length = {"email": 80, "phone": 40, "url": 255, "textarea": 255}.get(kind, 255)
        kw["length"] = int(_text(el, "length") or default_length)
    elif kind in ("double", "currency", "percent"):
        kw["precision"] = int(_text(el, "precision") or 18)
        kw["scale"] = int(_text(el, "scale") or 0)
    elif kind == "boolean":
        kw.update(nillable=False, defaulted_on_create=True, default=_flag(el, "defaultValue"))
    elif kind == "picklist":
        kw.update(_picklist(el, path))
    elif kind == "reference":
        kw.update(_reference(el, path, name, xml_type == "MasterDetail"))
    return FieldDef(name, label, kind, **kw)


def _picklist(el: ET.Element, path: Path) -> dict[str, Any]:
    value_set = el.find("md:valueSet", _NS)
    if value_set is None:
        raise MetadataError(f"{path}: picklist without a valueSet")
    definition = value_set.find("md:valueSetDefinition", _NS)
    if definition is None:
        raise MetadataError(f"{path}: global value sets are not modelled; inline the values")
    values, default = [], None
    for value in definition.findall("md:value", _NS):
        full_name = _text(value, "fullName")
        values.append(full_name)
        if _flag(value, "default"):
            default = full_name
    out: dict[str, Any] = {
        "picklist": tuple(values),
        "restricted": _flag(value_set, "restricted"),
        "length": 255,
    }
    if default is not None:
        out.update(default=default, defaulted_on_create=True)
    return out


def _reference(el: ET.Element, path: Path, name: str, master_detail: bool) -> dict[str, Any]:
    target = _text(el, "referenceTo")
    relationship = _text(el, "relationshipName")
    if not target or not relationship:
        raise MetadataError(f"{path}: a relationship field needs referenceTo and relationshipName")
    out: dict[str, Any] = {
        "length": 18,
        "reference_to": (target,),
        "relationship_name": name[:-3] + "__r" if name.endswith("__c") else relationship,
        "child_relationship": relationship + "__r",
    }
    if master_detail:
        # The detail can't exist without its master, and can't move unless the field says so.
        out.update(master_detail=True, nillable=False, updateable=_flag(el, "reparentableMasterDetail"))
    return out
