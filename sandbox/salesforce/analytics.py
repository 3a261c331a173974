"""Runs the shipped list views and reports the way Salesforce's List View and Analytics REST APIs do.

Each one becomes SOQL for the org's own query engine (filters, relative dates, relationship paths), so a
list view or report can only return what a query would; groupings and aggregates are then computed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from simple_salesforce.format import quote_soql_value

from sandbox.salesforce.catalog import Catalog, Criterion, Dashboard, Grouping, ListView, Report
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.schema import ID_TYPES, NUMBER_TYPES, TEXT_TYPES, FieldDef, ObjectDef, Schema

Query = Callable[[str], list[dict[str, Any]]]

_RELATIVE = re.compile(r"^[A-Z_]+(:\d+)?$")
_OPERATORS = {"equals": "=", "notEqual": "!=", "lessThan": "<", "greaterThan": ">", "lessOrEqual": "<=",
              "greaterOrEqual": ">="}  # fmt: skip
_AGGREGATE_KEYS = {"Sum": "s", "Average": "a", "Maximum": "mx", "Minimum": "m"}


@dataclass(frozen=True)
class Column:
    """A field as read from a query row: its path, the definition, and the path of its display name."""

    name: str
    path: tuple[str, ...]
    field: FieldDef
    label_path: tuple[str, ...] | None  # lookups show the related record's Name


def _resolve(schema: Schema, obj: ObjectDef, dotted: str, name: str | None = None) -> Column:
    parts = tuple(dotted.split("."))
    current = obj
    for hop in parts[:-1]:
        rel = current.relationship(hop)
        assert rel is not None, dotted  # the catalog checked every path at load
        found = schema.get(rel.reference_to[0])
        assert found is not None
        current = found
    f = current.field(parts[-1])
    assert f is not None, dotted
    label_path = None
    if f.type == "reference" and f.relationship_name:
        label_path = (*parts[:-1], f.relationship_name, "Name")
    return Column(name or dotted, parts, f, label_path)


def _read(row: dict[str, Any] | None, path: Sequence[str]) -> Any:
    for part in path:
        if not isinstance(row, dict):
            return None
        row = row.get(part)
    return row


def _literal(f: FieldDef, value: str, column: str) -> str:
    if f.type in ("date", "datetime"):
        if _RELATIVE.match(value):
            return value
        try:
            day = date.fromisoformat(value[:10])
        except ValueError as exc:
            raise ApiError(400, "BAD_REQUEST", f"{column}: {value!r} is not a date") from exc
        return day.isoformat() if f.type == "date" else f"{day.isoformat()}T00:00:00Z"
    if f.type in NUMBER_TYPES:
        try:
            return repr(float(value))
        except ValueError as exc:
            raise ApiError(400, "BAD_REQUEST", f"{column}: {value!r} is not a number") from exc
    if f.type == "boolean":
        return "TRUE" if value.lower() in ("1", "true") else "FALSE"
    return str(quote_soql_value(value))


def _condition(col: Column, criterion: Criterion) -> str:
    path, f, op, value = ".".join(col.path), col.field, criterion.operator, criterion.value
    text_like = f.type in TEXT_TYPES | ID_TYPES
    if op in ("contains", "notContain", "startsWith"):
        if not text_like:
            raise ApiError(400, "BAD_REQUEST", f"{criterion.column}: {op} needs a text field")
        pattern = f"{value}%" if op == "startsWith" else f"%{value}%"
        like = f"{path} LIKE {quote_soql_value(pattern)}"
        return f"(NOT {like})" if op == "notContain" else like
    if op not in _OPERATORS:
        raise ApiError(400, "BAD_REQUEST", f"{criterion.column}: operator {op!r} is not supported")
    if value == "":
        return f"{path} {'!=' if op == 'notEqual' else '='} null"
    if op in ("equals", "notEqual") and text_like and "," in value:
        values = ", ".join(_literal(f, v.strip(), criterion.column) for v in value.split(","))
        return f"{path} {'NOT IN' if op == 'notEqual' else 'IN'} ({values})"
    return f"{path} {_OPERATORS[op]} {_literal(f, value, criterion.column)}"


def _where(conditions: list[str], boolean_filter: str | None) -> str:
    if not conditions:
        return ""
    if not boolean_filter:
        return " WHERE " + " AND ".join(conditions)

    def term(match: re.Match[str]) -> str:
        index = int(match.group(0)) - 1
        if not 0 <= index < len(conditions):
            raise ApiError(400, "BAD_REQUEST", f"boolean filter {boolean_filter!r} names filter {index + 1}")
        return f"({conditions[index]})"

    return " WHERE " + re.sub(r"\d+", term, boolean_filter)


def _display(col: Column, row: dict[str, Any]) -> tuple[Any, str]:
    value = _read(row, col.path)
    if col.label_path is not None:
        label = _read(row, col.label_path)
        return value, "-" if label is None else str(label)
    if value is None:
        return None, "-"
    if isinstance(value, bool):
        return value, "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return value, str(int(value))
    return value, str(value)


def _select(columns: Sequence[Column]) -> str:
    paths = ["Id"]
    for col in columns:
        for p in (col.path, col.label_path):
            if p is not None and ".".join(p) not in paths:
                paths.append(".".join(p))
    return ", ".join(paths)


# -- list views --------------------------------------------------------------------------------------


def list_view_columns(schema: Schema, view: ListView) -> list[Column]:
    obj = schema.get(view.sobject)
    assert obj is not None
    return [_resolve(schema, obj, c) for c in view.columns]


def list_view_soql(schema: Schema, view: ListView, user_id: str) -> str:
    obj = schema.get(view.sobject)
    assert obj is not None
    columns = list_view_columns(schema, view)
    conditions = [_condition(_resolve(schema, obj, c.column), c) for c in view.filters]
    where = _where(conditions, view.boolean_filter)
    if view.scope == "Mine":
        mine = f"OwnerId = {quote_soql_value(user_id)}"
        where = f" WHERE {mine}" if not where else f" WHERE {mine} AND ({where[7:]})"
    order = obj.name_field.name if obj.name_field else "Id"
    # Names come from schema-checked metadata and every value is quoted by `_literal`.
    return f"SELECT {_select(columns)} FROM {obj.name}{where} ORDER BY {order} ASC NULLS LAST, Id ASC"  # noqa: S608


def list_view_summary(view: ListView, version: str) -> dict[str, Any]:
    base = f"/services/data/v{version}/sobjects/{view.sobject}/listviews/{view.id}"
    return {
        "describeUrl": f"{base}/describe",
        "developerName": view.name,
        "id": view.id,
        "label": view.label,
        "resultsUrl": f"{base}/results",
        "soqlCompatible": True,
        "url": base,
    }


def _column_info(col: Column) -> dict[str, Any]:
    return {
        "fieldNameOrPath": ".".join(col.label_path or col.path),
        "hidden": False,
        "label": col.field.label,
        "selectListItem": ".".join(col.label_path or col.path),
        "sortable": not col.field.long_text,
        "type": col.field.type,
    }


def list_view_describe(schema: Schema, view: ListView, user_id: str) -> dict[str, Any]:
    columns = [_column_info(c) for c in list_view_columns(schema, view)]
    columns.append({"fieldNameOrPath": "Id", "hidden": True, "label": "Record ID", "selectListItem": "Id",
                    "sortable": False, "type": "id"})  # fmt: skip
    return {
        "columns": columns,
        "id": view.id,
        "orderBy": [{"fieldNameOrPath": "Name", "nullsPosition": "last", "sortDirection": "ascending"}],
        "query": list_view_soql(schema, view, user_id),
        "scope": view.scope.lower(),
        "sobjectType": view.sobject,
    }


def list_view_results(
    schema: Schema, view: ListView, query: Query, user_id: str, limit: int, offset: int
) -> dict[str, Any]:
    columns = list_view_columns(schema, view)
    rows = query(list_view_soql(schema, view, user_id))
    page = rows[offset : offset + limit]
    records = []
    for row in page:
        cells = [
            {"fieldNameOrPath": ".".join(c.label_path or c.path), "value": _cell(c, row)} for c in columns
        ]
        cells.append({"fieldNameOrPath": "Id", "value": row["Id"]})
        records.append({"columns": cells})
    return {
        "columns": list_view_describe(schema, view, user_id)["columns"],
        "developerName": view.name,
        "done": offset + len(page) >= len(rows),
        "id": view.id,
        "label": view.label,
        "records": records,
        "size": len(rows),
    }


def _cell(col: Column, row: dict[str, Any]) -> str | None:
    """List view results carry every value as text, as Salesforce's do."""
    value, label = _display(col, row)
    if value is None and col.label_path is None:
        return None
    return label if col.label_path is not None or not isinstance(value, bool) else str(value).lower()


# -- reports -------------------------------------------------------------------------------------------


def report_columns(schema: Schema, report: Report) -> dict[str, Column]:
    """Every column a report reads, keyed by its report name (`Account$Name`)."""
    rt = report.report_type
    obj = schema.get(rt.child_object or rt.base)
    assert obj is not None
    names = {c for c, _ in report.columns} | {f.column for f in report.filters}
    names |= {g.column for g in report.groupings} | {b.source for b in report.buckets.values()}
    out = {}
    for name in sorted(names - set(report.buckets)):
        table, _, field_name = name.partition("$")
        if table == rt.base and rt.parent_path:
            out[name] = _resolve(schema, obj, f"{rt.parent_path}.{field_name}", name)
        else:
            out[name] = _resolve(schema, obj, field_name, name)
    return out


def report_soql(schema: Schema, report: Report) -> str:
    rt = report.report_type
    columns = report_columns(schema, report)
    conditions = [_condition(columns[c.column], c) for c in report.filters]
    where = _where(conditions, report.boolean_filter)
    sobject = rt.child_object or rt.base
    return f"SELECT {_select(list(columns.values()))} FROM {sobject}{where}"  # noqa: S608 - as list_view_soql


def _group_key(
    report: Report, columns: dict[str, Column], grouping: Grouping, row: dict[str, Any]
) -> tuple[Any, str]:
    bucket = report.buckets.get(grouping.column)
    if bucket is not None:
        value = _read(row, columns[bucket.source].path)
        for r in bucket.ranges:
            if (
                value is not None
                and (r.lower is None or value > r.lower)
                and (r.upper is None or value <= r.upper)
            ):
                return r.label, r.label
        return None, "-"
    col = columns[grouping.column]
    value, label = _display(col, row)
    if value is not None and col.field.type in ("date", "datetime") and grouping.granularity != "None":
        day = date.fromisoformat(str(value)[:10])
        if grouping.granularity == "Week":
            day -= timedelta(days=(day.weekday() + 1) % 7)  # weeks start on Sunday
        elif grouping.granularity == "Month":
            day = day.replace(day=1)
        value = label = day.isoformat()
    return value, label


def _aggregates(
    report: Report, columns: dict[str, Column], rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    out = []
    for name, kinds in report.columns:
        values = [v for r in rows if (v := _read(r, columns[name].path)) is not None]
        for kind in kinds:
            result: float | None = None
            if values:
                numbers = [float(v) for v in values]
                result = {
                    "Sum": sum(numbers),
                    "Average": sum(numbers) / len(numbers),
                    "Maximum": max(numbers),
                    "Minimum": min(numbers),
                }[kind]
            out.append({"label": "-" if result is None else f"{result:g}", "value": result})
    out.append({"label": str(len(rows)), "value": len(rows)})
    return out


def _aggregate_names(report: Report) -> list[str]:
    return [f"{_AGGREGATE_KEYS[k]}!{name}" for name, kinds in report.columns for k in kinds] + ["RowCount"]


def report_metadata(report: Report) -> dict[str, Any]:
    return {
        "aggregates": _aggregate_names(report),
        "description": report.description,
        "detailColumns": [c for c, _ in report.columns],
        "developerName": report.name,
        "groupingsAcross": [],
        "groupingsDown": [
            {"dateGranularity": g.granularity, "name": g.column, "sortOrder": g.sort_order}
            for g in report.groupings
        ],
        "hasDetailRows": report.show_details,
        "id": report.id,
        "name": report.label,
        "reportBooleanFilter": report.boolean_filter,
        "reportFilters": [
            {"column": f.column, "operator": f.operator, "value": f.value} for f in report.filters
        ],
        "reportFormat": report.report_format,
        "reportType": {"label": report.report_type.label, "type": f"{report.report_type.name}__c"},
    }


def _sorted_groups(
    groups: dict[Any, tuple[str, list[dict[str, Any]]]], order: str
) -> list[tuple[Any, str, list[dict[str, Any]]]]:
    present = sorted((k for k in groups if k is not None), key=str, reverse=order == "Desc")
    keys = [*present, None] if None in groups else present
    return [(k, groups[k][0], groups[k][1]) for k in keys]


def run_report(schema: Schema, report: Report, query: Query, include_details: bool) -> dict[str, Any]:
    """The synchronous report run: `groupingsDown` tree, `factMap` aggregates (and rows when asked)."""
    columns = report_columns(schema, report)
    rows = query(report_soql(schema, report))
    if report.sort is not None:
        sort_col, sort_order = columns[report.sort[0]], report.sort[1]
        present = [r for r in rows if _read(r, sort_col.path) is not None]
        missing = [r for r in rows if _read(r, sort_col.path) is None]
        rows = sorted(present, key=lambda r: _read(r, sort_col.path), reverse=sort_order == "Desc") + missing
    fact_map: dict[str, Any] = {}
    details = include_details and report.show_details

    def fact(key: str, group_rows: list[dict[str, Any]], leaf: bool) -> None:
        entry: dict[str, Any] = {"aggregates": _aggregates(report, columns, group_rows)}
        if details and leaf:
            entry["rows"] = [
                {"dataCells": [_data_cell(columns[c], r) for c, _ in report.columns]} for r in group_rows
            ]
        fact_map[f"{key}!T"] = entry

    def tree(level: int, prefix: str, group_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        grouping = report.groupings[level]
        groups: dict[Any, tuple[str, list[dict[str, Any]]]] = {}
        for row in group_rows:
            value, label = _group_key(report, columns, grouping, row)
            groups.setdefault(value, (label, []))[1].append(row)
        out = []
        for i, (value, label, members) in enumerate(_sorted_groups(groups, grouping.sort_order)):
            key = f"{prefix}_{i}" if prefix else str(i)
            leaf = level + 1 == len(report.groupings)
            fact(key, members, leaf)
            out.append({
                "groupings": [] if leaf else tree(level + 1, key, members),
                "key": key,
                "label": label,
                "value": value,
            })  # fmt: skip
        return out

    fact("T", rows, not report.groupings)
    down = tree(0, "", rows) if report.groupings else []
    return {
        "allData": True,
        "attributes": {"reportId": report.id, "reportName": report.label, "type": "Report"},
        "factMap": fact_map,
        "groupingsAcross": {"groupings": []},
        "groupingsDown": {"groupings": down},
        "hasDetailRows": details,
        "reportExtendedMetadata": {
            "aggregateColumnInfo": {
                name: {"label": name, "dataType": "double"} for name in _aggregate_names(report)
            },
            "detailColumnInfo": {
                c: {"label": columns[c].field.label, "dataType": columns[c].field.type}
                for c, _ in report.columns
            },
            "groupingColumnInfo": {
                g.column: {"label": g.column, "groupingLevel": i} for i, g in enumerate(report.groupings)
            },
        },
        "reportMetadata": report_metadata(report),
    }


def _data_cell(col: Column, row: dict[str, Any]) -> dict[str, Any]:
    value, label = _display(col, row)
    return {"label": label, "value": value}


def report_summary(report: Report, version: str) -> dict[str, Any]:
    base = f"/services/data/v{version}/analytics/reports/{report.id}"
    return {
        "describeUrl": f"{base}/describe",
        "id": report.id,
        "instancesUrl": f"{base}/instances",
        "name": report.label,
        "url": base,
    }


# -- dashboards -------------------------------------------------------------------------------------


def dashboard_summary(dashboard: Dashboard, version: str) -> dict[str, Any]:
    base = f"/services/data/v{version}/analytics/dashboards/{dashboard.id}"
    return {"id": dashboard.id, "name": dashboard.title, "statusUrl": f"{base}/status", "url": base}


def run_dashboard(schema: Schema, dashboard: Dashboard, query: Query, version: str) -> dict[str, Any]:
    """Every component's report run without detail rows, as the dashboard results resource returns it."""
    component_ids = [f"{dashboard.id[:15]}C{i:02d}" for i in range(len(dashboard.components))]
    components, data = [], []
    for i, (cid, component) in enumerate(zip(component_ids, dashboard.components, strict=True)):
        components.append({
            "componentData": i,
            "header": component.header,
            "id": cid,
            "properties": {
                "visualizationType": component.kind,
                "reportFormat": component.report.report_format,
            },
            "reportId": component.report.id,
            "type": "Report",
        })  # fmt: skip
        data.append({
            "componentId": cid,
            "reportResult": run_report(schema, component.report, query, include_details=False),
            "status": {"dataStatus": "DATA", "errorCode": None, "errorMessage": None, "errorSeverity": None},
        })  # fmt: skip
    return {
        "attributes": dashboard_summary(dashboard, version),
        "componentData": data,
        "dashboardMetadata": {
            "components": components,
            "description": dashboard.description,
            "developerName": dashboard.name,
            "id": dashboard.id,
            "name": dashboard.title,
        },
    }


def find(catalog: Catalog, kind: str, record_id: str) -> Any:
    found = {"report": catalog.report, "dashboard": catalog.dashboard, "listview": catalog.list_view}[kind](
        record_id
    )
    if found is None:
        raise ApiError(404, "NOT_FOUND", f"The {kind} {record_id} was not found.")
    return found


def with_filters(report: Report, metadata: dict[str, Any]) -> Report:
    """The report with the `reportFilters` (and boolean filter) a POST run sends in place of its own."""
    raw = metadata.get("reportFilters")
    if raw is None:
        return report
    if not isinstance(raw, list):
        raise ApiError(400, "BAD_REQUEST", "reportFilters must be a list")
    filters = []
    for item in raw:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("column", "operator")
        ):
            raise ApiError(400, "BAD_REQUEST", "each report filter needs a column and an operator")
        if item["column"] not in report.report_type.columns:
            raise ApiError(400, "BAD_REQUEST", f"{item['column']} is not a column of this report type")
        filters.append(Criterion(item["column"], item["operator"], str(item.get("value") or "")))
    boolean = metadata.get("reportBooleanFilter")
    return replace(
        report, filters=filters, boolean_filter=boolean if isinstance(boolean, str) and boolean else None
    )
