"""Plan = diff(desired, current): frozen Create/Update/Close changes in a deterministic order (pure)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from mappings.desired import Desired, Managed, same

# Parents before children, so a child's lookup always finds its parent written.
OBJECT_ORDER: tuple[str, ...] = (
    "Account",
    "Risk_Flag__c",
    "Health_Snapshot__c",
    "Onboarding_Milestone__c",
    "Quarterly_Review__c",
    "Product_Request__c",
    "Product_Request_Account__c",
    "Case",
    "Task",
    "Sync_Run__c",
)


@dataclass(frozen=True, slots=True)
class Create:
    sobject: str
    key_field: str
    key: str
    fields: Mapping[str, Any]
    account_key: str = ""
    reason: str = ""
    op: Literal["create"] = "create"

    @property
    def data(self) -> dict[str, Any]:
        return _data(self, before=None)


@dataclass(frozen=True, slots=True)
class Update:
    sobject: str
    key_field: str
    key: str
    fields: Mapping[str, Any]  # only the fields that change
    before: Mapping[str, Any]  # their current values
    account_key: str = ""
    reason: str = ""
    op: Literal["update"] = "update"
    routine: bool = False  # only fields that follow other records by design (Desired.routine)

    @property
    def data(self) -> dict[str, Any]:
        return _data(self, before=self.before)


@dataclass(frozen=True, slots=True)
class Close:
    sobject: str
    key_field: str
    key: str
    fields: Mapping[str, Any]
    before: Mapping[str, Any]
    account_key: str = ""
    reason: str = ""
    op: Literal["close"] = "close"

    @property
    def data(self) -> dict[str, Any]:
        return _data(self, before=self.before)


Change = Create | Update | Close


@dataclass(frozen=True, slots=True)
class Kept:
    """A desired change that a guard held back (reported, not sent)."""

    sobject: str
    key: str
    why: str


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    kept: tuple[Kept, ...] = ()
    considered: int = 0  # desired + managed-open records looked at
    # Values left out because they cannot go into their field (text into a number field...): one
    # sentence each, per record; the rest of the record is still planned.
    misfits: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "close": 0}
        for c in self.changes:
            out[c.op] += 1
        return out

    @property
    def change_share(self) -> float:
        """Share of existing records this plan changes (creates excluded): input to the safety check."""
        existing = self.considered - self.counts["create"]
        # Filling empty fields (a first run) is not surprising; overwriting values or closing is.
        changed = sum(
            1
            for c in self.changes
            if c.op == "close"
            or (c.op == "update" and not c.routine and any(v not in (None, "") for v in c.before.values()))
        )
        return changed / existing if existing > 0 else 0.0

    def by_object(self) -> dict[str, list[Change]]:
        out: dict[str, list[Change]] = {}
        for c in self.changes:
            out.setdefault(c.sobject, []).append(c)
        return out

    @property
    def data(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "changes": [c.data for c in self.changes],
            "kept": [{"sobject": k.sobject, "key": k.key, "why": k.why} for k in self.kept],
            **({"misfits": list(self.misfits)} if self.misfits else {}),
        }


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What the org says about a field, so values are compared as Salesforce will store them."""

    type: str = "string"
    scale: int | None = None
    length: int | None = None


Schema = Mapping[tuple[str, str], FieldSpec]


def diff(
    desired: Iterable[Desired],
    current: Mapping[tuple[str, str], Mapping[str, Any]],
    managed: Iterable[Managed] = (),
    schema: Schema | None = None,
) -> Plan:
    """Compare desired records with Salesforce's current ones, field by field.

    `current` maps (sobject, key) to the record's current field values as read from Salesforce.
    A rerun with nothing changed yields an empty plan: that is what makes the no-op run free.
    """
    schema = schema or {}
    changes: list[Change] = []
    kept: list[Kept] = []
    misfits: list[str] = []
    seen: set[tuple[str, str]] = set()
    considered = 0
    for d in desired:
        ident = (d.sobject, d.key)
        if ident in seen:
            raise ValueError(f"two desired records share {d.sobject}.{d.key_field} = {d.key!r}")
        seen.add(ident)
        considered += 1
        fields = _fitting(d, d.fields, schema, misfits)
        have = current.get(ident)
        if have is None:
            if not d.fields and not d.create_only:
                continue  # a hold: keeps an existing record from being closed, never creates one
            data = {
                **_fitting(d, d.create_only, schema, misfits),
                **fields,
                **{f: stored(v, schema.get((d.sobject, f))) for f, v in d.touch.items()},
            }
            changes.append(Create(d.sobject, d.key_field, d.key, data, d.account_key, d.reason))
            continue
        guard = next((g for g in d.guards if g.holds(have)), None)
        changed = {f: v for f, v in fields.items() if not same(v, have.get(f))}
        if not changed:
            continue
        if guard is not None:
            kept.append(Kept(d.sobject, d.key, guard.why or f"{guard.field} {guard.op} {guard.value!r}"))
            continue
        routine = bool(d.routine) and set(changed) <= d.routine
        changed.update({f: stored(v, schema.get((d.sobject, f))) for f, v in d.touch.items()})
        before = {f: have.get(f) for f in changed}
        changes.append(
            Update(d.sobject, d.key_field, d.key, changed, before, d.account_key, d.reason, routine=routine)
        )
    for m in managed:
        for (sobject, key), have in current.items():
            if sobject != m.sobject or (sobject, key) in seen or not m.owns(key):
                continue
            if not all(same(have.get(f), v) for f, v in m.is_open.items()):
                continue
            considered += 1
            guard = next((g for g in m.guards if g.holds(have)), None)
            if guard is not None:
                kept.append(Kept(sobject, key, guard.why or f"{guard.field} {guard.op} {guard.value!r}"))
                continue
            fields = {f: stored(v, schema.get((sobject, f))) for f, v in m.close_fields.items()}
            before = {f: have.get(f) for f in fields}
            account_key = str(have.get("_account_key", ""))
            changes.append(Close(sobject, m.key_field, key, fields, before, account_key, m.reason))
    return Plan(tuple(sorted(changes, key=_order)), tuple(kept), considered, tuple(misfits))


_FIELD_KINDS = {
    **dict.fromkeys(("double", "currency", "percent", "int", "long"), "number"),
    "boolean": "bool",
    **dict.fromkeys(("date", "datetime", "time"), "when"),
}


def misfit(value: Any, spec: FieldSpec | None) -> str:
    """Why `value` cannot go into the field ("" when it can): the describe's type against the value's."""
    if value is None or spec is None:
        return ""
    kind = _FIELD_KINDS.get(spec.type, "text")
    if isinstance(value, list | tuple | dict | set):
        return "a list or table"
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"{type(value).__name__} {str(value)[:40]!r}"
    if kind == "bool" and not isinstance(value, bool):
        return f"{type(value).__name__} {str(value)[:40]!r}"
    if kind == "when" and not isinstance(value, str | date):
        return f"{type(value).__name__} {str(value)[:40]!r}"
    return ""


def _fitting(d: Desired, values: Mapping[str, Any], schema: Schema, misfits: list[str]) -> dict[str, Any]:
    """The values as stored, less those that cannot go into their field (each noted in `misfits`)."""
    out: dict[str, Any] = {}
    for f, v in values.items():
        spec = schema.get((d.sobject, f))
        why = misfit(v, spec)
        if why and spec is not None:
            misfits.append(
                f"{d.sobject} {d.key}: {f} is a {spec.type} field but the mapping gave {why}; left unchanged"
            )
            continue
        out[f] = stored(v, spec)
    return out


def _order(c: Change) -> tuple[int, str, str, str]:
    rank = OBJECT_ORDER.index(c.sobject) if c.sobject in OBJECT_ORDER else len(OBJECT_ORDER)
    return (rank, c.sobject, c.account_key, c.key)


def stored(value: Any, spec: FieldSpec | None) -> Any:
    """The value as Salesforce will store it: numbers rounded to the field's scale, text cut to length."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if spec is None:
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and spec.scale is not None:
        rounded = round(float(value), spec.scale)
        return int(rounded) if spec.scale == 0 else rounded
    if isinstance(value, str) and spec.length is not None and len(value) > spec.length:
        return value[: spec.length]
    return value


def _data(c: Change, before: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "op": c.op,
        "sobject": c.sobject,
        "key_field": c.key_field,
        "key": c.key,
        "fields": dict(c.fields),
    }
    if before is not None:
        out["before"] = dict(before)
    if c.account_key:
        out["account"] = c.account_key
    if c.reason:
        out["reason"] = c.reason
    return out


def schema_from_describe(describes: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], FieldSpec]:
    """FieldSpecs from Salesforce describe results (sobject -> describe JSON)."""
    out: dict[tuple[str, str], FieldSpec] = {}
    for sobject, desc in describes.items():
        for f in desc.get("fields", []):
            kind = str(f.get("type", "string"))
            scale = f.get("scale") if kind in ("double", "currency", "percent", "int") else None
            length = f.get("length") or None if kind in ("string", "textarea", "picklist", "email") else None
            out[(sobject, f["name"])] = FieldSpec(kind, scale, length)
    return out
