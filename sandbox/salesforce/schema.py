"""The org's schema: objects and fields with the properties describe reports and writes enforce."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Types whose values SOQL compares as text; ids and references compare exactly.
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "email", "phone", "url", "combobox"})
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})


@dataclass(frozen=True)
class FieldDef:
    """One field as describe reports it; `calculated` fields are derived by the org, never written."""

    name: str
    label: str
    type: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    default: Any = None
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    child_relationship: str | None = None
    master_detail: bool = False
    calculated: bool = False
    auto_number: bool = False
    custom: bool = False
    name_field: bool = False

    @property
    def required_on_create(self) -> bool:
        """Salesforce's REQUIRED_FIELD_MISSING rule: not nillable and nothing fills it in."""
        return self.createable and not self.nillable and not self.defaulted_on_create

    @property
    def long_text(self) -> bool:
        """Long and rich text areas cannot be filtered or sorted in SOQL."""
        return self.type == "textarea" and self.length > 255

    @property
    def id_lookup(self) -> bool:
        return self.type == "id" or self.external_id or self.name_field or self.auto_number

    @property
    def polymorphic(self) -> bool:
        return len(self.reference_to) > 1


@dataclass
class ObjectDef:
    """One sObject type; field lookups are case-insensitive, as in SOQL and the REST API."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    fields: dict[str, FieldDef] = field(default_factory=dict)

    def add(self, f: FieldDef) -> None:
        self.fields[f.name.lower()] = f

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship name is `name` (`Account`, `CSM__r`, `Owner`)."""
        wanted = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == wanted:
                return f
        return None

    def __iter__(self) -> Iterator[FieldDef]:
        return iter(self.fields.values())

    @property
    def name_field(self) -> FieldDef | None:
        return next((f for f in self.fields.values() if f.name_field), None)


@dataclass(frozen=True)
class ChildRelationship:
    child: str
    field: str
    relationship_name: str | None
    cascade_delete: bool


class Schema:
    """All objects in the org, addressable by name (any case) or by id key prefix."""

    def __init__(self, objects: Iterable[ObjectDef]) -> None:
        self._objects = {o.name.lower(): o for o in objects}
        self._by_prefix = {o.key_prefix: o for o in self._objects.values()}

    def get(self, name: str) -> ObjectDef | None:
        return self._objects.get(name.lower())

    def by_prefix(self, prefix: str) -> ObjectDef | None:
        return self._by_prefix.get(prefix)

    def object_of_id(self, record_id: str) -> ObjectDef | None:
        return self._by_prefix.get(record_id[:3])

    def __iter__(self) -> Iterator[ObjectDef]:
        return iter(sorted(self._objects.values(), key=lambda o: o.name))

    def children_of(self, name: str) -> list[ChildRelationship]:
        """Objects whose reference fields point at `name`, for describe and cascade deletes."""
        out = []
        for obj in self:
            for f in obj:
                if f.type == "reference" and name in f.reference_to and f.name not in _AUDIT_REFERENCES:
                    out.append(ChildRelationship(obj.name, f.name, f.child_relationship, f.master_detail))
        return out


_AUDIT_REFERENCES = frozenset({"CreatedById", "LastModifiedById"})
