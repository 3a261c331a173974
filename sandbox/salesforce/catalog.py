"""Reads what CSMs see from the SFDX tree — list views, report types, reports, dashboards — and checks
that every layout, record page, tab, app and permission set names fields and objects the schema has.

A shipped file that names a missing field fails here, with the file and the name, before any org starts:
the same mistake would fail `sf project deploy start` against a real org.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.salesforce.ids import checksum_suffix
from sandbox.salesforce.metadata import _NS, MetadataError, _parse, _text
from sandbox.salesforce.schema import FieldDef, ObjectDef, Schema

# List views name a few standard fields by legacy column tokens rather than API names.
STANDARD_COLUMNS = {
    "Account": {
        "ACCOUNT.NAME": "Name",
        "CORE.USERS.ALIAS": "Owner.Alias",
        "ACCOUNT.ADDRESS1_STATE": "BillingState",
    },
    "Contract": {
        "SALES.ACCOUNT.NAME": "Account.Name",
        "CONTRACT.CONTRACT_NUMBER": "ContractNumber",
        "CONTRACT.START_DATE": "StartDate",
        "CONTRACT.END_DATE": "EndDate",
        "CONTRACT.STATUS": "Status",
    },
}
_STANDARD_TABS = frozenset(
    {"home", "Account", "Contact", "Contract", "Opportunity", "Case", "Task", "report", "Dashboard", "Event"}
)
_RELATED_LISTS = frozenset(
    {"RelatedContractList", "RelatedActivityList", "RelatedHistoryList", "RelatedCaseList",
     "RelatedContactList", "RelatedOpportunityList", "RelatedNoteList"}
)  # fmt: skip


def stable_id(prefix: str, n: int) -> str:
    """Ids for metadata records (list views, reports, dashboards): the same on every start of the org."""
    id15 = f"{prefix}5g0{n:09d}"
    return id15 + checksum_suffix(id15)


@dataclass(frozen=True)
class Criterion:
    column: str
    operator: str
    value: str


@dataclass
class ListView:
    id: str
    sobject: str
    name: str
    label: str
    scope: str
    columns: list[str]  # API paths (`Name`, `Account.Name`, `CSM__c`)
    filters: list[Criterion]
    boolean_filter: str | None
    path: Path


@dataclass
class ReportType:
    name: str
    label: str
    base: str
    child: str | None  # child relationship joined to the base object (inner join)
    child_object: str | None
    parent_path: str | None  # on the child: the relationship back to the base (`Account__r`)
    columns: set[str]  # report column names it offers (`Account$Name`, `Account.Risk_Flags__r$Status__c`)


@dataclass(frozen=True)
class Grouping:
    column: str
    sort_order: str
    granularity: str


@dataclass(frozen=True)
class BucketRange:
    label: str
    lower: float | None  # exclusive
    upper: float | None  # inclusive


@dataclass(frozen=True)
class Bucket:
    name: str
    label: str
    source: str
    ranges: tuple[BucketRange, ...]


@dataclass
class Report:
    id: str
    name: str
    folder: str
    label: str
    description: str
    report_format: str
    report_type: ReportType
    columns: list[tuple[str, tuple[str, ...]]]  # (column, aggregate types)
    filters: list[Criterion]
    boolean_filter: str | None
    groupings: list[Grouping]
    buckets: dict[str, Bucket]
    show_details: bool
    sort: tuple[str, str] | None

    @property
    def full_name(self) -> str:
        return f"{self.folder}/{self.name}"


@dataclass(frozen=True)
class Component:
    header: str
    kind: str
    report: Report


@dataclass
class Dashboard:
    id: str
    name: str
    folder: str
    title: str
    description: str
    components: list[Component]


@dataclass
class Catalog:
    list_views: list[ListView] = field(default_factory=list)
    report_types: dict[str, ReportType] = field(default_factory=dict)
    reports: list[Report] = field(default_factory=list)
    dashboards: list[Dashboard] = field(default_factory=list)

    def list_view(self, view_id: str) -> ListView | None:
        return next((v for v in self.list_views if v.id[:15] == view_id[:15]), None)

    def report(self, report_id: str) -> Report | None:
        return next((r for r in self.reports if r.id[:15] == report_id[:15]), None)

    def dashboard(self, dashboard_id: str) -> Dashboard | None:
        return next((d for d in self.dashboards if d.id[:15] == dashboard_id[:15]), None)


def load_catalog(root: Path, schema: Schema) -> Catalog:
    """Every UI file under `root`, checked against `schema`; raises MetadataError naming the file."""
    catalog = Catalog()
    for tree in sorted(p for p in root.glob("**/main/default") if p.is_dir()) or [root]:
        _check_permission_sets(tree, schema)
        _check_tabs_and_apps(tree, schema)
        _check_layouts(tree, schema)
        _check_flexipages(tree, schema)
        for path in sorted(tree.glob("objects/*/listViews/*.listView-meta.xml")):
            catalog.list_views.append(_list_view(path, schema, len(catalog.list_views) + 1))
        for path in sorted(tree.glob("reportTypes/*.reportType-meta.xml")):
            rt = _report_type(path, schema)
            catalog.report_types[rt.name] = rt
        for path in sorted(tree.glob("reports/*/*.report-meta.xml")):
            catalog.reports.append(_report(path, catalog, schema, len(catalog.reports) + 1))
        for path in sorted(tree.glob("dashboards/*/*.dashboard-meta.xml")):
            catalog.dashboards.append(_dashboard(path, catalog, len(catalog.dashboards) + 1))
    return catalog


# -- helpers ---------------------------------------------------------------------------------------


def _all(el: ET.Element, tag: str) -> list[ET.Element]:
    return el.findall(f"md:{tag}", _NS)


def _texts(el: ET.Element, tag: str) -> list[str]:
    return [(c.text or "").strip() for c in _all(el, tag)]


def _object(schema: Schema, name: str, path: Path) -> ObjectDef:
    obj = schema.get(name)
    if obj is None:
        raise MetadataError(f"{path}: names object {name!r}, which the schema lacks")
    return obj


def _field_path(schema: Schema, obj: ObjectDef, dotted: str, path: Path) -> FieldDef:
    """`Name`, `CSM__c` or `Account.Name` (relationship hops) on `obj`; raises when any part is missing."""
    parts = dotted.split(".")
    current = obj
    for hop in parts[:-1]:
        rel = current.relationship(hop)
        if rel is None:
            raise MetadataError(
                f"{path}: names {obj.name}.{dotted}; {current.name} has no relationship {hop!r}"
            )
        current = _object(schema, rel.reference_to[0], path)
    found = current.field(parts[-1])
    if found is None:
        raise MetadataError(f"{path}: names field {obj.name}.{dotted}, which the schema lacks")
    return found


def _criteria(el: ET.Element, tag: str, column: str, op: str) -> list[Criterion]:
    return [Criterion(_text(c, column), _text(c, op), _text(c, "value")) for c in _all(el, tag)]


# -- checks for files the sandbox only validates ----------------------------------------------------


def _check_permission_sets(tree: Path, schema: Schema) -> None:
    for path in sorted(tree.glob("permissionsets/*.permissionset-meta.xml")):
        root = _parse(path)
        for fp in _all(root, "fieldPermissions"):
            obj_name, _, name = _text(fp, "field").partition(".")
            _field_path(schema, _object(schema, obj_name, path), name, path)
        for op in _all(root, "objectPermissions"):
            _object(schema, _text(op, "object"), path)
        for tab in _all(root, "tabSettings"):
            _object(schema, _text(tab, "tab"), path)


def _check_tabs_and_apps(tree: Path, schema: Schema) -> None:
    custom_tabs = set()
    for path in sorted(tree.glob("tabs/*.tab-meta.xml")):
        name = path.name.split(".")[0]
        _object(schema, name, path)
        custom_tabs.add(name)
    for path in sorted(tree.glob("applications/*.app-meta.xml")):
        root = _parse(path)
        for tab in _texts(root, "tabs"):
            known = tab in custom_tabs or tab.removeprefix("standard-") in _STANDARD_TABS
            if not known:
                raise MetadataError(f"{path}: tab {tab!r} is neither shipped under tabs/ nor a standard tab")
        for override in _all(root, "actionOverrides"):
            page = _text(override, "content")
            if not (tree / "flexipages" / f"{page}.flexipage-meta.xml").exists():
                raise MetadataError(f"{path}: action override opens FlexiPage {page!r}, which is not shipped")


def _check_layouts(tree: Path, schema: Schema) -> None:
    for path in sorted(tree.glob("layouts/*.layout-meta.xml")):
        obj = _object(schema, path.name.split("-", 1)[0], path)
        root = _parse(path)
        for item in root.iter(f"{{{_NS['md']}}}layoutItems"):
            _field_path(schema, obj, _text(item, "field"), path)
        for rel in _all(root, "relatedLists"):
            name = _text(rel, "relatedList")
            if name in _RELATED_LISTS:
                continue
            child_name, _, fk = name.partition(".")
            child = _object(schema, child_name, path)
            ref = _field_path(schema, child, fk, path)
            if obj.name not in ref.reference_to:
                raise MetadataError(f"{path}: related list {name} does not point at {obj.name}")
            for col in _texts(rel, "fields"):
                if col != "NAME":
                    _field_path(schema, child, col, path)


def _check_flexipages(tree: Path, schema: Schema) -> None:
    for path in sorted(tree.glob("flexipages/*.flexipage-meta.xml")):
        root = _parse(path)
        obj = _object(schema, _text(root, "sobjectType"), path)
        children = {c.relationship_name for c in schema.children_of(obj.name)}
        for item in root.iter(f"{{{_NS['md']}}}fieldItem"):
            _field_path(schema, obj, (item.text or "").strip().removeprefix("Record."), path)
        for prop in root.iter(f"{{{_NS['md']}}}componentInstanceProperties"):
            if _text(prop, "name") == "relatedListApiName" and _text(prop, "value") not in children:
                raise MetadataError(
                    f"{path}: related list {_text(prop, 'value')!r} is not a child of {obj.name}"
                )


# -- list views --------------------------------------------------------------------------------------


def _list_view(path: Path, schema: Schema, n: int) -> ListView:
    obj = _object(schema, path.parent.parent.name, path)
    root = _parse(path)
    tokens = STANDARD_COLUMNS.get(obj.name, {})

    def api(column: str) -> str:
        name = "Name" if column == "NAME" else tokens.get(column, column)
        _field_path(schema, obj, name, path)
        return name

    filters = [
        Criterion(api(c.column), c.operator, c.value)
        for c in _criteria(root, "filters", "field", "operation")
    ]
    return ListView(
        id=stable_id("00B", n),
        sobject=obj.name,
        name=_text(root, "fullName") or path.name.split(".")[0],
        label=_text(root, "label"),
        scope=_text(root, "filterScope", "Everything"),
        columns=[api(c) for c in _texts(root, "columns")],
        filters=filters,
        boolean_filter=_text(root, "booleanFilter") or None,
        path=path,
    )


# -- report types, reports, dashboards ----------------------------------------------------------------


def _report_type(path: Path, schema: Schema) -> ReportType:
    root = _parse(path)
    base = _object(schema, _text(root, "baseObject"), path)
    join = root.find("md:join", _NS)
    child = child_object = parent_path = None
    if join is not None:
        child = _text(join, "relationship")
        rel = next((c for c in schema.children_of(base.name) if c.relationship_name == child), None)
        if rel is None:
            raise MetadataError(f"{path}: {base.name} has no child relationship {child!r}")
        child_object = rel.child
        ref = _object(schema, rel.child, path).field(rel.field)
        assert ref is not None
        parent_path = ref.relationship_name
    columns = set()
    for section in _all(root, "sections"):
        for column in _all(section, "columns"):
            table, name = _text(column, "table"), _text(column, "field")
            if table == base.name:
                _field_path(schema, base, name, path)
            elif child is not None and child_object is not None and table == f"{base.name}.{child}":
                _field_path(schema, _object(schema, child_object, path), name, path)
            else:
                raise MetadataError(f"{path}: column table {table!r} is neither the base object nor the join")
            columns.add(f"{table}${name}")
    name = path.name.split(".")[0]
    return ReportType(name, _text(root, "label"), base.name, child, child_object, parent_path, columns)


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _bucket(el: ET.Element, path: Path) -> Bucket:
    if _text(el, "bucketType") != "number":
        raise MetadataError(f"{path}: only number buckets are modelled by the sandbox")
    ranges = []
    for value in _all(el, "values"):
        for source in _all(value, "sourceValues"):
            lo, hi = _text(source, "from"), _text(source, "to")
            if any(v and not _NUMBER.match(v) for v in (lo, hi)):
                raise MetadataError(f"{path}: bucket {_text(el, 'developerName')} has a non-numeric bound")
            ranges.append(
                BucketRange(_text(value, "value"), float(lo) if lo else None, float(hi) if hi else None)
            )
    return Bucket(
        _text(el, "developerName"), _text(el, "masterLabel"), _text(el, "sourceColumnName"), tuple(ranges)
    )


def _report(path: Path, catalog: Catalog, schema: Schema, n: int) -> Report:
    root = _parse(path)
    rt_name = _text(root, "reportType").removesuffix("__c")
    rt = catalog.report_types.get(rt_name)
    if rt is None:
        raise MetadataError(f"{path}: report type {rt_name!r} is not shipped under reportTypes/")
    buckets = {b.name: b for b in (_bucket(el, path) for el in _all(root, "buckets"))}

    def known(column: str) -> str:
        if column not in rt.columns and column not in buckets:
            raise MetadataError(f"{path}: column {column!r} is not a field of report type {rt.name}")
        return column

    for bucket in buckets.values():
        known(bucket.source)
    columns = [(known(_text(c, "field")), tuple(_texts(c, "aggregateTypes"))) for c in _all(root, "columns")]
    filter_el = root.find("md:filter", _NS)
    filters = [] if filter_el is None else _criteria(filter_el, "criteriaItems", "column", "operator")
    for criterion in filters:
        known(criterion.column)
    groupings = [
        Grouping(known(_text(g, "field")), _text(g, "sortOrder", "Asc"), _text(g, "dateGranularity", "None"))
        for g in _all(root, "groupingsDown")
    ]
    sort_column = _text(root, "sortColumn")
    return Report(
        id=stable_id("00O", n),
        name=path.name.split(".")[0],
        folder=path.parent.name,
        label=_text(root, "name"),
        description=_text(root, "description"),
        report_format=_text(root, "format", "Tabular").upper(),
        report_type=rt,
        columns=columns,
        filters=filters,
        boolean_filter=None if filter_el is None else _text(filter_el, "booleanFilter") or None,
        groupings=groupings,
        buckets=buckets,
        show_details=_text(root, "showDetails", "true") == "true",
        sort=(known(sort_column), _text(root, "sortOrder", "Asc")) if sort_column else None,
    )


def _dashboard(path: Path, catalog: Catalog, n: int) -> Dashboard:
    root = _parse(path)
    by_name = {r.full_name: r for r in catalog.reports}
    components = []
    for component in root.iter(f"{{{_NS['md']}}}dashboardComponent"):
        ref = _text(component, "report")
        report = by_name.get(ref)
        if report is None:
            raise MetadataError(
                f"{path}: component {_text(component, 'header')!r} names report {ref!r}, not shipped"
            )
        components.append(Component(_text(component, "header"), _text(component, "componentType"), report))
    return Dashboard(
        id=stable_id("01Z", n),
        name=path.name.split(".")[0],
        folder=path.parent.name,
        title=_text(root, "title"),
        description=_text(root, "description"),
        components=components,
    )
