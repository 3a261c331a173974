"""The org's records: validated writes, unique indexes, derived fields, and savepoints for all-or-none."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.ids import IdMinter, normalize_id
from sandbox.salesforce.schema import FieldDef, ObjectDef, Schema
from sandbox.salesforce.standard import CLOSED_CASE_STATUSES, CLOSED_STAGES, CLOSED_TASK_STATUSES
from sandbox.salesforce.values import coerce, format_datetime

Record = dict[str, Any]

_AUDIT = frozenset(
    {
        "Id",
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
    }
)
_AUTO_NUMBER_START = {"CaseNumber": 1001, "ContractNumber": 100}


class UnknownFieldError(RecordError):
    """A body names a field the object lacks; Salesforce fails the whole request, not one row."""


class MultipleMatches(RecordError):
    """An external id matched several records: 300 for a single upsert, a row error in collections."""

    def __init__(self, field: str, ids: list[str]) -> None:
        super().__init__(
            "DUPLICATE_EXTERNAL_ID", f"more than one record found for external id field: {ids}", [field]
        )
        self.ids = ids


@dataclass(frozen=True)
class _Undo:
    obj: str
    record_id: str
    before: Record | None


class Store:
    """In-memory tables keyed by id; callers hold the org lock around every call."""

    def __init__(self, schema: Schema, ids: IdMinter, clock: Callable[[], datetime]) -> None:
        self.schema = schema
        self._ids = ids
        self._clock = clock
        self._tables: dict[str, dict[str, Record]] = {o.name: {} for o in schema}
        self._unique: dict[tuple[str, str], dict[str, str]] = {
            (o.name, f.name): {} for o in schema for f in o if f.unique
        }
        self._journal: list[_Undo] | None = None
        self._auto_numbers: dict[tuple[str, str], int] = {}
        self.default_user: str | None = None
        self.acting_user: str | None = None

    # -- reading ---------------------------------------------------------------------------------

    def get(self, record_id: str, *, include_deleted: bool = False) -> tuple[ObjectDef, Record] | None:
        normalized = normalize_id(record_id)
        if normalized is None:
            return None
        obj = self.schema.object_of_id(normalized)
        if obj is None:
            return None
        rec = self._tables[obj.name].get(normalized)
        if rec is None or (rec["IsDeleted"] and not include_deleted):
            return None
        return obj, rec

    def rows(self, obj: ObjectDef, *, include_deleted: bool = False) -> Iterator[Record]:
        """Live records in creation order (ids are minted in sequence, so this is stable)."""
        for rec in self._tables[obj.name].values():
            if include_deleted or not rec["IsDeleted"]:
                yield rec

    def count(self, obj: ObjectDef) -> int:
        return sum(1 for _ in self.rows(obj))

    def find(self, obj: ObjectDef, f: FieldDef, value: str) -> list[str]:
        """Ids of live records whose `f` equals `value`, honouring the field's case sensitivity."""
        if f.type == "id":
            hit = self.get(value)
            return [hit[1]["Id"]] if hit and hit[0] is obj else []
        index = self._unique.get((obj.name, f.name))
        key = value if f.case_sensitive else value.lower()
        if index is not None:
            found = index.get(key)
            return [found] if found else []
        out = []
        for rec in self.rows(obj):
            current = rec.get(f.name)
            if isinstance(current, str) and (current if f.case_sensitive else current.lower()) == key:
                out.append(rec["Id"])
        return out

    # -- savepoints ------------------------------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Everything written inside is undone if the block raises; nests like database savepoints."""
        outermost = self._journal is None
        if outermost:
            self._journal = []
        assert self._journal is not None
        mark = len(self._journal)
        try:
            yield
        except BaseException:
            self._rollback_to(mark)
            raise
        finally:
            if outermost:
                self._journal = None

    def _rollback_to(self, mark: int) -> None:
        assert self._journal is not None
        while len(self._journal) > mark:
            undo = self._journal.pop()
            obj = self.schema.get(undo.obj)
            assert obj is not None
            table = self._tables[obj.name]
            current = table.get(undo.record_id)
            if current is not None:
                self._unindex(obj, current)
            if undo.before is None:
                table.pop(undo.record_id, None)
            else:
                table[undo.record_id] = undo.before
                self._index(obj, undo.before)

    def _remember(self, obj: ObjectDef, record_id: str, before: Record | None) -> None:
        if self._journal is not None:
            self._journal.append(_Undo(obj.name, record_id, None if before is None else dict(before)))

    # -- writing ---------------------------------------------------------------------------------

    def create(self, obj: ObjectDef, values: Mapping[str, Any], *, system: bool = False) -> str:
        if not (obj.createable or system):
            raise RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {obj.name}")
        changes = self._changes(obj, values, None, system=system)
        record_id = self._ids.mint(obj.key_prefix)
        rec: Record = {f.name: None for f in obj}
        for f in obj:
            if f.type == "boolean":
                rec[f.name] = bool(f.default)
            elif f.defaulted_on_create and f.default is not None:
                rec[f.name] = f.default
        owner = obj.field("OwnerId")
        if owner is not None and owner.createable:
            rec["OwnerId"] = self._user(record_id)
        rec.update(changes)
        missing = [f.name for f in obj if f.required_on_create and rec.get(f.name) is None]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )
        self._check_references(obj, changes)
        rec["Id"] = record_id
        self._derive(obj, rec, None)
        self._check_unique(obj, rec, record_id)
        now = format_datetime(self._clock())
        user = self._user(record_id)
        stamps = {
            "CreatedDate": now,
            "LastModifiedDate": now,
            "SystemModstamp": now,
            "CreatedById": user,
            "LastModifiedById": user,
        }
        # Seeding may backdate audit fields (system mode); otherwise the org stamps them.
        rec.update({k: v for k, v in stamps.items() if changes.get(k) is None}, IsDeleted=False)
        self._remember(obj, record_id, None)
        self._tables[obj.name][record_id] = rec
        self._index(obj, rec)
        return record_id

    def update(
        self, obj: ObjectDef, record_id: str, values: Mapping[str, Any], *, system: bool = False
    ) -> None:
        found = self.get(record_id)
        if found is None or found[0] is not obj:
            raise self._missing(record_id)
        if not (obj.updateable or system):
            raise RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {obj.name}")
        before = found[1]
        changes = self._changes(obj, values, before, system=system)
        nulled = [
            f.name
            for f in obj
            if f.name in changes and changes[f.name] is None and not f.nillable and f.type != "boolean"
        ]
        if nulled:
            raise RecordError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(nulled)}]", nulled
            )
        self._check_references(obj, changes)
        rec = dict(before)
        rec.update(changes)
        self._derive(obj, rec, before)
        self._check_unique(obj, rec, before["Id"])
        now = format_datetime(self._clock())
        rec.update(LastModifiedDate=now, SystemModstamp=now, LastModifiedById=self._user(before["Id"]))
        self._remember(obj, before["Id"], before)
        self._unindex(obj, before)
        self._tables[obj.name][before["Id"]] = rec
        self._index(obj, rec)

    def upsert(
        self, obj: ObjectDef, key_field: FieldDef, key: str, values: Mapping[str, Any]
    ) -> tuple[str, bool]:
        """(id, created) after matching `key` on `key_field`; several matches raise MultipleMatches."""
        matches = self.find(obj, key_field, key)
        if len(matches) > 1:
            raise MultipleMatches(key_field.name, matches)
        body = {k: v for k, v in values.items() if k.lower() != key_field.name.lower()}
        if matches:
            self.update(obj, matches[0], body)
            return matches[0], False
        if key_field.type == "id":
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        body[key_field.name] = key
        return self.create(obj, body), True

    def delete(self, record_id: str) -> None:
        """Soft delete (queryAll still sees it); master-detail children go with their master."""
        found = self.get(record_id)
        if found is None:
            raise self._missing(record_id)
        obj, rec = found
        if not obj.deletable:
            raise RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {obj.name}")
        for child in self.schema.children_of(obj.name):
            if child.cascade_delete:
                child_obj = self.schema.get(child.child)
                assert child_obj is not None
                for child_rec in [r for r in self.rows(child_obj) if r.get(child.field) == rec["Id"]]:
                    self.delete(child_rec["Id"])
        self._remember(obj, rec["Id"], rec)
        self._unindex(obj, rec)
        now = format_datetime(self._clock())
        self._tables[obj.name][rec["Id"]] = rec | {
            "IsDeleted": True,
            "LastModifiedDate": now,
            "SystemModstamp": now,
        }

    # -- validation ------------------------------------------------------------------------------

    def _changes(
        self, obj: ObjectDef, values: Mapping[str, Any], before: Record | None, *, system: bool
    ) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        refused: list[str] = []
        for key, raw in values.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            value = raw
            if f is None:
                rel = obj.relationship(key)
                if rel is None or not isinstance(raw, dict):
                    raise UnknownFieldError(
                        "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key]
                    )
                f, value = rel, self._resolve_foreign_key(rel, raw)
            if f.name == "Id":
                if before is None:
                    raise RecordError(
                        "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
                    )
                continue
            stored = coerce(f, value)
            writable = f.createable if before is None else f.updateable
            if not writable and not system:
                # Re-sending a create-only value unchanged (a master on upsert) is harmless.
                if before is not None and f.createable and before.get(f.name) == stored:
                    continue
                refused.append(f.name)
                continue
            if f.name == "IsDeleted" or (f.name in _AUDIT and not system):
                continue
            changes[f.name] = stored
        if refused:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(refused)}. Please check the security settings"
                " of this field and verify that it is read/write for your profile or permission set.",
                refused,
            )
        return changes

    def _resolve_foreign_key(self, f: FieldDef, ref: Mapping[str, Any]) -> str:
        """`"Account__r": {"Store_Id__c": "NV-001"}` → the parent's id, as Salesforce resolves it."""
        attributes = ref.get("attributes")
        target_name = attributes.get("type") if isinstance(attributes, dict) else None
        target = self.schema.get(target_name or f.reference_to[0])
        keys = [(k, v) for k, v in ref.items() if k != "attributes"]
        if target is None or len(keys) != 1:
            raise RecordError("INVALID_FIELD", f"Invalid foreign key reference for field {f.name}", [f.name])
        key_name, key_value = keys[0]
        key_field = target.field(key_name)
        if key_field is None or not key_field.id_lookup:
            raise RecordError(
                "INVALID_FIELD",
                f"Field name provided, {key_name} is not an External ID or indexed field for {target.name}",
                [f.name],
            )
        matches = self.find(target, key_field, str(key_value))
        if not matches:
            raise RecordError(
                "INVALID_FIELD",
                f"Foreign key external ID: {key_value} not found for field {key_field.name}"
                f" in entity {target.name}",
                [f.name],
            )
        if len(matches) > 1:
            raise RecordError(
                "INVALID_FIELD",
                f"Foreign key external ID: {key_value} matches multiple entities for field {key_field.name} "
                f"in entity {target.name}",
                [f.name],
            )
        return matches[0]

    def _check_references(self, obj: ObjectDef, changes: Mapping[str, Any]) -> None:
        for name, value in changes.items():
            f = obj.field(name)
            if f is None or f.type != "reference" or value is None:
                continue
            target = self.schema.object_of_id(value)
            if target is None or target.name not in f.reference_to:
                raise RecordError(
                    "FIELD_INTEGRITY_EXCEPTION", f"{f.label}: id value of incorrect type: {value}", [f.name]
                )
            if self.get(value) is None:
                if self.get(value, include_deleted=True) is not None:
                    raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [f.name])
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])

    def _check_unique(self, obj: ObjectDef, rec: Record, record_id: str) -> None:
        for f in obj:
            if not f.unique or rec.get(f.name) is None:
                continue
            key = rec[f.name] if f.case_sensitive else str(rec[f.name]).lower()
            other = self._unique[(obj.name, f.name)].get(key)
            if other is not None and other != record_id:
                raise RecordError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {other}",
                )

    def _index(self, obj: ObjectDef, rec: Record) -> None:
        if rec["IsDeleted"]:
            return
        for f in obj:
            if f.unique and rec.get(f.name) is not None:
                key = rec[f.name] if f.case_sensitive else str(rec[f.name]).lower()
                self._unique[(obj.name, f.name)][key] = rec["Id"]

    def _unindex(self, obj: ObjectDef, rec: Record) -> None:
        for f in obj:
            if f.unique and rec.get(f.name) is not None:
                key = rec[f.name] if f.case_sensitive else str(rec[f.name]).lower()
                index = self._unique[(obj.name, f.name)]
                if index.get(key) == rec["Id"]:
                    del index[key]

    def _missing(self, record_id: str) -> RecordError:
        if self.get(record_id, include_deleted=True) is not None:
            return RecordError("ENTITY_IS_DELETED", "entity is deleted")
        return RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")

    def _user(self, fallback: str) -> str:
        return self.acting_user or self.default_user or fallback

    # -- derived fields --------------------------------------------------------------------------

    def _derive(self, obj: ObjectDef, rec: Record, before: Record | None) -> None:
        """Fields Salesforce computes; recomputed on every write so they never go stale on their own."""
        name = obj.name
        if name in ("Contact", "User"):
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        elif name == "Task":
            closed = rec.get("Status") in CLOSED_TASK_STATUSES
            rec["IsClosed"] = closed
            was_closed = bool(before and before.get("IsClosed"))
            if closed and not was_closed:
                rec["CompletedDateTime"] = format_datetime(self._clock())
            elif not closed:
                rec["CompletedDateTime"] = None
            rec["AccountId"] = self._task_account(rec)
        elif name == "Event":
            rec["AccountId"] = self._task_account(rec)
            if rec.get("StartDateTime") and not rec.get("ActivityDate"):
                rec["ActivityDate"] = str(rec["StartDateTime"])[:10]
        elif name == "Case":
            closed = rec.get("Status") in CLOSED_CASE_STATUSES
            rec["IsClosed"] = closed
            if closed and not (before and before.get("IsClosed")):
                rec["ClosedDate"] = format_datetime(self._clock())
            elif not closed:
                rec["ClosedDate"] = None
        elif name == "Contract":
            rec["EndDate"] = _contract_end(rec.get("StartDate"), rec.get("ContractTerm"))
        elif name == "Opportunity":
            rec["IsClosed"] = rec.get("StageName") in CLOSED_STAGES
            rec["IsWon"] = rec.get("StageName") == "Closed Won"
        for f in obj:
            if f.auto_number and rec.get(f.name) is None:
                rec[f.name] = self._next_number(obj, f)
        name_field = obj.field("Name")
        if obj.custom and name_field is not None and name_field.createable and not rec.get("Name"):
            rec["Name"] = rec["Id"]

    def _next_number(self, obj: ObjectDef, f: FieldDef) -> str:
        key = (obj.name, f.name)
        n = self._auto_numbers.get(key, _AUTO_NUMBER_START.get(f.name, 1))
        self._auto_numbers[key] = n + 1
        return f"{n:08d}"

    def _task_account(self, rec: Record) -> str | None:
        what = rec.get("WhatId")
        if what:
            found = self.get(what)
            if found is not None:
                what_obj, what_rec = found
                if what_obj.name == "Account":
                    return str(what_rec["Id"])
                if what_rec.get("AccountId"):
                    return str(what_rec["AccountId"])
        who = rec.get("WhoId")
        if who:
            found = self.get(who)
            if found is not None and found[1].get("AccountId"):
                return str(found[1]["AccountId"])
        return None

    # -- in-process access ------------------------------------------------------------------------

    def snapshot(self, obj: ObjectDef, *, include_deleted: bool = False) -> list[Record]:
        return [dict(r) for r in self.rows(obj, include_deleted=include_deleted)]

    def counts(self) -> dict[str, int]:
        return {o.name: self.count(o) for o in self.schema}

    def load(self, obj: ObjectDef, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        with self.atomic():
            return [self.create(obj, row, system=True) for row in rows]


def _contract_end(start: str | None, term: int | None) -> str | None:
    """StartDate plus the term in months, less a day, as Salesforce derives EndDate."""
    if not start or term is None:
        return None
    begin = date.fromisoformat(start)
    month = begin.month - 1 + int(term)
    year, month = begin.year + month // 12, month % 12 + 1
    day = min(begin.day, calendar.monthrange(year, month)[1])
    return (date(year, month, day) - timedelta(days=1)).isoformat()
