"""Describe output in Salesforce's shape, generated from the schema."""

from __future__ import annotations

from typing import Any

from sandbox.salesforce.schema import FieldDef, ObjectDef, Schema

_SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "double": "xsd:double",
    "currency": "xsd:double", "percent": "xsd:double", "int": "xsd:int", "date": "xsd:date",
    "datetime": "xsd:dateTime",
}  # fmt: skip


def _urls(obj: ObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def object_summary(obj: ObjectDef, version: str) -> dict[str, Any]:
    """The entry global describe lists per object."""
    return {
        "name": obj.name,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "keyPrefix": obj.key_prefix,
        "custom": obj.custom,
        "createable": obj.createable,
        "updateable": obj.updateable,
        "deletable": obj.deletable,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "layoutable": True,
        "triggerable": True,
        "urls": _urls(obj, version),
    }


def global_describe(schema: Schema, version: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [object_summary(o, version) for o in schema],
    }


def describe_object(schema: Schema, obj: ObjectDef, version: str) -> dict[str, Any]:
    out = object_summary(obj, version)
    out["fields"] = [describe_field(f) for f in obj]
    out["childRelationships"] = [
        {
            "childSObject": c.child,
            "field": c.field,
            "relationshipName": c.relationship_name,
            "cascadeDelete": c.cascade_delete,
            "restrictedDelete": False,
            "deprecatedAndHidden": False,
        }
        for c in schema.children_of(obj.name)
    ]
    out["recordTypeInfos"] = []
    return out


def describe_field(f: FieldDef) -> dict[str, Any]:
    text_like = f.type not in _SOAP_TYPES
    return {
        "name": f.name,
        "label": f.label,
        "type": f.type,
        "soapType": _SOAP_TYPES.get(f.type, "xsd:string"),
        "length": f.length if text_like or f.type in ("id", "reference") else 0,
        "byteLength": f.length * 3 if text_like or f.type in ("id", "reference") else 0,
        "precision": f.precision if f.type in ("double", "currency", "percent") else 0,
        "scale": f.scale if f.type in ("double", "currency", "percent") else 0,
        "digits": f.precision if f.type == "int" else 0,
        "custom": f.custom,
        "externalId": f.external_id,
        "unique": f.unique,
        "caseSensitive": f.case_sensitive,
        "idLookup": f.id_lookup,
        "nameField": f.name_field,
        "autoNumber": f.auto_number,
        "calculated": f.calculated,
        "nillable": f.nillable,
        "createable": f.createable,
        "updateable": f.updateable,
        "defaultedOnCreate": f.defaulted_on_create,
        "defaultValue": f.default if f.type in ("boolean", "picklist") else None,
        "filterable": not f.long_text,
        "sortable": not f.long_text,
        "groupable": not f.long_text and f.type not in ("double", "currency", "percent", "datetime"),
        "picklistValues": [
            {"active": True, "defaultValue": v == f.default, "label": v, "value": v, "validFor": None}
            for v in f.picklist
        ],
        "restrictedPicklist": f.restricted,
        "dependentPicklist": False,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": 0 if f.master_detail else None,
        "polymorphicForeignKey": f.polymorphic,
        "cascadeDelete": f.master_detail,
        "writeRequiresMasterRead": False,
        "deprecatedAndHidden": False,
        "htmlFormatted": False,
    }
