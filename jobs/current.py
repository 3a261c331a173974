"""Read what Salesforce holds now: only the fields a plan compares, for the keys it touches."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any, Protocol

from connectors.salesforce.soql import select_in
from jobs.portfolio import KeptReader, keyed_open, rows_by_value
from mappings.desired import Desired, Managed

Current = dict[tuple[str, str], dict[str, Any]]
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class Reader(Protocol):
    def query(self, soql: str) -> Iterator[dict[str, Any]]: ...


def fields_to_read(sobject: str, desired: Iterable[Desired], managed: Iterable[Managed]) -> set[str]:
    """The union of compared fields, guard fields and open/close fields for one object."""
    out: set[str] = {"Id"}
    for d in desired:
        if d.sobject == sobject:
            out.add(d.key_field)
            out.update(d.fields)
            out.update(f for g in d.guards for f in g.reads)
    for m in managed:
        if m.sobject == sobject:
            out.add(m.key_field)
            out.update(m.is_open)
            out.update(m.close_fields)
            out.update(f for g in m.guards for f in g.reads)
            if m.parent_field:
                out.add(m.parent_field)
    return out


def read_current(
    reader: Reader,
    desired: Sequence[Desired],
    managed: Sequence[Managed] = (),
    scope: Mapping[str, str] | None = None,
    known: Current | None = None,
    read_by: Mapping[str, str] | None = None,
) -> Current:
    """Current values keyed (sobject, key) for every desired key and every open managed record.

    `scope` maps Salesforce Account Id -> store id; managed reads are limited to those accounts so
    a shard never closes another shard's records. `known` holds records already read (Accounts).
    Through a KeptReader the open records of the whole portfolio are read once, and each shard takes
    its accounts' from them; so are the desired records of an object in `read_by` (object -> a field
    every desired record of it carries, such as its day or quarter): one kept read of the records
    with those values serves every shard, where reading by key took two IN queries a shard.
    """
    current: Current = dict(known or {})
    objects = sorted({d.sobject for d in desired} | {m.sobject for m in managed})
    for sobject in objects:
        fields = fields_to_read(sobject, desired, managed)
        # Open records first: a desired record that is still open is among them, so only the others
        # (new, or closed) are read by key.
        for m in (m for m in managed if m.sobject == sobject):
            scoped = scope is not None and bool(m.parent_field)
            for rec in _open_records(reader, m, fields, scope if scoped else None):
                key = rec.get(m.key_field)
                if key and m.owns(str(key)):
                    if scope is not None and m.parent_field:
                        rec["_account_key"] = scope.get(str(rec.get(m.parent_field)), "")
                    current.setdefault((sobject, str(key)), rec)
        mine = [d for d in desired if d.sobject == sobject and (sobject, d.key) not in current]
        field = (read_by or {}).get(sobject)
        if field and mine and isinstance(reader, KeptReader):
            mine = _by_value(reader, sobject, fields, field, mine, current)
        by_field: dict[str, list[str]] = {}
        for d in mine:
            by_field.setdefault(d.key_field, []).append(d.key)
        for key_field, keys in sorted(by_field.items()):
            for soql in select_in(sobject, fields | {key_field}, key_field, sorted(set(keys))):
                for rec in reader.query(soql):
                    current[(sobject, str(rec[key_field]))] = rec
    return current


def _by_value(
    reader: KeptReader,
    sobject: str,
    fields: set[str],
    field: str,
    wanted: Sequence[Desired],
    current: Current,
) -> list[Desired]:
    """Find `wanted` among the kept read of the records whose `field` has one of their values; the
    desired records that do not carry the field are left to be read by key (returned).

    A date-shaped value is compared as a date (SOQL dates are not quoted). A record found is put in
    `current`; one not found is new, and its upsert by external ID is right even if it exists after all.
    """
    carried = [d for d in wanted if d.fields.get(field) not in (None, "")]
    keys = {d.key for d in carried}
    key_fields = {d.key_field for d in carried}
    if not carried or len(key_fields) != 1:
        return list(wanted)
    (key_field,) = key_fields
    values = [_literal(d.fields[field]) for d in carried]
    for rec in rows_by_value(reader, sobject, fields, field, values, key_field, keys):
        current[(sobject, str(rec[key_field]))] = rec
    return [d for d in wanted if d.key not in keys]


def _literal(value: Any) -> Any:
    """A field's value as SOQL compares it: a date-shaped text as a date."""
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _open_records(
    reader: Reader,
    m: Managed,
    fields: set[str],
    scope: Mapping[str, str] | None,
) -> Iterator[dict[str, Any]]:
    """`m`'s open records, of the accounts in `scope` when given."""
    conds = [f"{f} = {{v{i}}}" for i, f in enumerate(m.is_open)]
    values: dict[str, Any] = {f"v{i}": v for i, v in enumerate(m.is_open.values())}
    parents = sorted(scope) if scope is not None else None
    yield from keyed_open(
        reader, m.sobject, fields, " AND ".join(conds), m.key_field, m.key_prefix, m.parent_field, parents,
        **values,
    )  # fmt: skip
