"""Runs a parsed query against the store: binds field paths to the schema, filters, sorts, projects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sandbox.salesforce.ids import normalize_id
from sandbox.salesforce.schema import ID_TYPES, NUMBER_TYPES, TEXT_TYPES, FieldDef, ObjectDef
from sandbox.salesforce.soql import ranges
from sandbox.salesforce.soql.errors import SoqlError
from sandbox.salesforce.soql.nodes import BoolOp, Compare, Condition, InList, Like, Literal, Not, Path, Query
from sandbox.salesforce.soql.parser import parse
from sandbox.salesforce.store import Record, Store
from sandbox.salesforce.values import format_datetime

Predicate = Callable[[Record], bool]

_NO_COLUMN = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure to "
    "append the '__c' after the custom field name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
_NO_RELATIONSHIP = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to use a custom "
    "relationship, be sure to append the '__r' after the custom relationship name. Please reference your "
    "WSDL or the describe call for the appropriate names."
)
_NO_OBJECT = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append "
    "the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate "
    "names."
)
_TYPE_NAMES = {
    "double": "double", "currency": "double", "percent": "double", "int": "int", "boolean": "boolean",
    "date": "date", "datetime": "dateTime",
}  # fmt: skip
_LITERAL_KINDS = {
    "double": "number", "currency": "number", "percent": "number", "int": "number", "boolean": "boolean",
    "date": "date", "datetime": "datetime",
}  # fmt: skip


@dataclass(frozen=True)
class Bound:
    """A path resolved against the schema: the reference fields walked, then the field read."""

    path: Path
    hops: tuple[FieldDef, ...]
    field: FieldDef


@dataclass(frozen=True)
class Result:
    total_size: int
    records: list[dict[str, Any]]


class QueryEngine:
    def __init__(self, store: Store, today: Callable[[], date]) -> None:
        self._store = store
        self._schema = store.schema
        self._today = today

    def run(self, source: str, *, include_deleted: bool, version: str) -> Result:
        """Raises SoqlError for anything Salesforce would refuse."""
        query = parse(source)
        obj = self._schema.get(query.sobject)
        if obj is None:
            raise SoqlError("INVALID_TYPE", _NO_OBJECT.format(name=query.sobject), query.sobject_pos)
        selected = self._select(obj, query)
        where = self._compile(obj, query.where) if query.where is not None else None
        order = [(self._bind(obj, item.path, sorting=True), item) for item in query.order_by]

        rows = [
            r for r in self._store.rows(obj, include_deleted=include_deleted) if where is None or where(r)
        ]
        for bound, item in reversed(order):
            rows.sort(key=self._sort_key(bound, item.descending, item.nulls_last), reverse=item.descending)
        start = query.offset or 0
        rows = rows[start : None if query.limit is None else start + query.limit]
        if query.count_only:
            return Result(len(rows), [])
        return Result(len(rows), [self._project(obj, r, selected, version) for r in rows])

    def columns(self, source: str) -> tuple[ObjectDef, list[Bound]]:
        """The queried object and its selected fields, bound to the schema (the `columns=true` form)."""
        query = parse(source)
        obj = self._schema.get(query.sobject)
        if obj is None:
            raise SoqlError("INVALID_TYPE", _NO_OBJECT.format(name=query.sobject), query.sobject_pos)
        return obj, self._select(obj, query)

    # -- binding ---------------------------------------------------------------------------------

    def _select(self, obj: ObjectDef, query: Query) -> list[Bound]:
        seen: set[str] = set()
        out = []
        for path in query.fields:
            bound = self._bind(obj, path)
            key = ".".join([h.relationship_name or "" for h in bound.hops] + [bound.field.name]).lower()
            if key in seen:
                raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {path.text}", path.pos)
            seen.add(key)
            out.append(bound)
        return out

    def _bind(self, obj: ObjectDef, path: Path, *, filtering: bool = False, sorting: bool = False) -> Bound:
        parts = list(path.parts)
        # `Account.Name` on Account may name the object itself rather than a relationship.
        if len(parts) > 1 and parts[0].lower() == obj.name.lower() and obj.relationship(parts[0]) is None:
            parts = parts[1:]
        candidates = [obj]
        hops: list[FieldDef] = []
        for part in parts[:-1]:
            rel = next((r for c in candidates if (r := c.relationship(part)) is not None), None)
            if rel is None:
                raise SoqlError("INVALID_FIELD", _NO_RELATIONSHIP.format(name=part), path.pos)
            hops.append(rel)
            candidates = [o for t in rel.reference_to if (o := self._schema.get(t)) is not None]
        field = next((f for c in candidates if (f := c.field(parts[-1])) is not None), None)
        if field is None:
            raise SoqlError(
                "INVALID_FIELD", _NO_COLUMN.format(name=parts[-1], entity=candidates[0].name), path.pos
            )
        if field.long_text and (filtering or sorting):
            verb = "filtered" if filtering else "sorted"
            raise SoqlError(
                "INVALID_FIELD", f"field '{path.text}' can not be {verb} in a query call", path.pos
            )
        return Bound(path, tuple(hops), field)

    def _read(self, bound: Bound, rec: Record) -> Any:
        current: Record | None = rec
        for hop in bound.hops:
            assert current is not None
            ref = current.get(hop.name)
            found = self._store.get(ref) if ref else None
            if found is None:
                return None
            current = found[1]
        assert current is not None
        return current.get(bound.field.name)

    # -- filtering -------------------------------------------------------------------------------

    def _compile(self, obj: ObjectDef, cond: Condition) -> Predicate:
        if isinstance(cond, BoolOp):
            parts = [self._compile(obj, c) for c in cond.operands]
            if cond.op == "AND":
                return lambda r: all(p(r) for p in parts)
            return lambda r: any(p(r) for p in parts)
        if isinstance(cond, Not):
            inner = self._compile(obj, cond.operand)
            return lambda r: not inner(r)
        bound = self._bind(obj, cond.path, filtering=True)
        if isinstance(cond, Like):
            return self._like(bound, cond)
        if isinstance(cond, InList):
            wanted = [self._operand(bound, v) for v in cond.values]
            if any(isinstance(w, tuple) for w in wanted):
                raise SoqlError("MALFORMED_QUERY", "date literals are not allowed in IN lists", cond.path.pos)
            members = set(wanted)
            negated = cond.negated
            return lambda r: (self._norm(bound, self._read(bound, r)) in members) != negated
        return self._compare(bound, cond)

    def _like(self, bound: Bound, cond: Like) -> Predicate:
        if bound.field.type not in TEXT_TYPES | ID_TYPES:
            raise SoqlError("INVALID_FIELD", f"invalid operator on field '{bound.path.text}'", bound.path.pos)
        pattern = cond.pattern.like
        assert pattern is not None

        def match(rec: Record) -> bool:
            value = self._read(bound, rec)
            return value is not None and pattern.fullmatch(str(value)) is not None

        return match

    def _compare(self, bound: Bound, cond: Compare) -> Predicate:
        operand = self._operand(bound, cond.value)
        op = cond.op
        if isinstance(operand, tuple):
            start, end = operand

            def in_range(rec: Record) -> bool:
                value = self._norm(bound, self._read(bound, rec))
                if value is None:
                    return op == "!="
                outcome: bool = {
                    "=": start <= value < end,
                    "!=": not start <= value < end,
                    "<": value < start,
                    "<=": value < end,
                    ">": value >= end,
                    ">=": value >= start,
                }[op]
                return outcome

            return in_range

        def compare(rec: Record) -> bool:
            value = self._norm(bound, self._read(bound, rec))
            if operand is None or value is None:
                if op == "=":
                    return bool(value is None and operand is None)
                if op == "!=":
                    return (value is None) != (operand is None)
                return False
            if op == "=":
                return bool(value == operand)
            if op == "!=":
                return bool(value != operand)
            if op == "<":
                return bool(value < operand)
            if op == "<=":
                return bool(value <= operand)
            if op == ">":
                return bool(value > operand)
            return bool(value >= operand)

        return compare

    def _operand(self, bound: Bound, lit: Literal) -> Any:
        """The literal in the same comparable form `_norm` gives record values; ranges as (start, end)."""
        f, path = bound.field, bound.path
        if lit.kind == "null":
            return None
        kind = f.type
        if kind in TEXT_TYPES or kind in ID_TYPES:
            if lit.kind != "string":
                raise SoqlError(
                    "INVALID_FIELD",
                    f"value of filter criterion for field '{path.text}' must be of type string and should be "
                    "enclosed in quotes",
                    lit.pos,
                )
            if kind in ID_TYPES:
                normalized = normalize_id(lit.value)
                if normalized is None:
                    raise SoqlError(
                        "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {lit.value}", lit.pos
                    )
                return normalized
            return str(lit.value).casefold()
        expected = _LITERAL_KINDS[kind]
        if lit.kind == "range" and kind in ("date", "datetime"):
            start, end = ranges.resolve(lit.value, self._today())
            if kind == "date":
                return start.isoformat(), end.isoformat()
            return _midnight(start), _midnight(end)
        if lit.kind != expected:
            raise SoqlError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{path.text}' must be of type {_TYPE_NAMES[kind]} and "
                "should not be enclosed in quotes",
                lit.pos,
            )
        if kind in NUMBER_TYPES:
            return float(lit.value)
        if kind == "date":
            return lit.value.isoformat()
        if kind == "datetime":
            return format_datetime(lit.value)
        return lit.value

    @staticmethod
    def _norm(bound: Bound, value: Any) -> Any:
        """Text compares case-insensitively in SOQL; every other stored form already compares correctly."""
        if value is None:
            return None
        if bound.field.type in TEXT_TYPES:
            return str(value).casefold()
        if bound.field.type in NUMBER_TYPES:
            return float(value)
        return value

    # -- ordering and output ---------------------------------------------------------------------

    def _sort_key(
        self, bound: Bound, descending: bool, nulls_last: bool
    ) -> Callable[[Record], tuple[Any, ...]]:
        # Under reverse=True the ranks flip, so pick them to land nulls where the query asked.
        null_rank = 2 if nulls_last != descending else 0

        def key(rec: Record) -> tuple[Any, ...]:
            value = self._norm(bound, self._read(bound, rec))
            return (null_rank,) if value is None else (1, value)

        return key

    def _project(self, obj: ObjectDef, rec: Record, selected: list[Bound], version: str) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": _attributes(obj, rec, version)}
        for bound in selected:
            target: dict[str, Any] = out
            current: Record | None = rec
            for hop in bound.hops:
                assert current is not None
                name = hop.relationship_name or hop.name
                ref = current.get(hop.name)
                found = self._store.get(ref) if ref else None
                if name not in target:
                    target[name] = None if found is None else {"attributes": _attributes(*found, version)}
                if target[name] is None or found is None:
                    current = None
                    break
                target, current = target[name], found[1]
            if current is not None:
                target[bound.field.name] = current.get(bound.field.name)
        return out


def _attributes(obj: ObjectDef, rec: Record, version: str) -> dict[str, str]:
    return {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/{rec['Id']}"}


def _midnight(day: date) -> str:
    return format_datetime(datetime.combine(day, time(0), tzinfo=UTC))
