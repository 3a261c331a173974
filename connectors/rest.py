"""The declarative REST source (`kind = "rest"`): streams, paging, validation and facts declared in TOML."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from configfiles import FileIssue, pydantic_issues, read_toml
from connectors.base import (
    ALL_STORES,
    Checkpoint,
    Fact,
    Item,
    Record,
    Rejected,
    Runtime,
    SourceError,
    StoreRef,
    register,
)
from connectors.config import AuthConfig, SourceConfig
from connectors.fields import FieldSpec, compile_fields, format_time, read_fields
from connectors.http import HttpClient, build_auth
from connectors.paging import Page, PaginationConfig, make_paginator
from connectors.pos import IN_STORE, ONLINE, Line, sale_facts, transaction_record
from connectors.source import BaseConnector, HttpSource, Options, parse_safely, store_values
from connectors.values import (
    CATEGORIES,
    OTHER_CATEGORY,
    Invalid,
    category_slug,
    counting_cursor,
    cursor_after,
    dig,
    ident,
    iso_utc,
    json_safe,
    mapping,
    number,
    parse_time,
    slug,
    text,
    zone,
)

SPECS_DIR = Path(__file__).parent / "sources"
Scalar = str | int | float | bool
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MISSING = object()


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Condition(_Model):
    """A test on one field: membership (`in`, `not_in`), bounds (`min`, `max`) or presence."""

    field: str
    in_: tuple[Scalar, ...] | None = Field(default=None, alias="in")
    not_in: tuple[Scalar, ...] | None = None
    min: float | None = Field(default=None, strict=True)
    max: float | None = Field(default=None, strict=True)
    present: bool | None = Field(default=None, strict=True)

    def holds(self, item: Mapping[str, Any]) -> bool:
        value = dig(item, self.field, None)
        if self.present is not None and (value not in (None, "")) != self.present:
            return False
        if self.in_ is not None and not _member(value, self.in_):
            return False
        if self.not_in is not None and _member(value, self.not_in):
            return False
        if self.min is not None or self.max is not None:
            try:
                num = number(value, what=self.field, minimum=None)
            except Invalid:
                return False
            if (self.min is not None and num < self.min) or (self.max is not None and num > self.max):
                return False
        return True


def _member(value: Any, options: Sequence[Scalar]) -> bool:
    """Membership where true is not 1: a boolean matches only a boolean."""
    return any(isinstance(value, bool) == isinstance(o, bool) and value == o for o in options)


class FactSpec(_Model):
    """metric ← a constant (`value`, default 1: a count) or a numeric `field`, when all `when` hold."""

    metric: str
    value: float | None = Field(default=None, strict=True)
    field: str = ""
    dimension: str = ""  # template over the item's fields, e.g. "channel={fulfillment}"
    when: tuple[Condition, ...] = ()
    time: str = ""  # count the fact on this field's day instead of the record's (e.g. closed_at)

    @model_validator(mode="after")
    def _one_value(self) -> FactSpec:
        if self.value is not None and self.field:
            raise ValueError("set either value (a constant) or field, not both")
        return self


Role = Literal["", "pos_transactions", "pos_inventory", "directory"]
# The stream each role must be named: the jobs (health, risk rules, menu health) read these streams.
ROLE_STREAMS: dict[str, str] = {
    "pos_transactions": "transactions",
    "pos_inventory": "inventory",
    "directory": "stores",
}
# The canonical fields each role reads; "items" elements carry ROLE_LINE_FIELDS.
ROLE_FIELDS: dict[str, tuple[str, ...]] = {
    "pos_transactions": ("channel", "revenue", "items"),
    "pos_inventory": ("product_id", "quantity"),
    "directory": ("store_id",),
}
# A directory entry's own fields; every other declared field is one of the store's attrs.
STORE_FIELDS = ("store_id", "name", "state", "timezone")
ROLE_LINE_FIELDS = ("product_id", "category", "quantity", "amount")
SINCE_FORMATS = ("iso", "date", "epoch_s", "epoch_ms")


class StreamSpec(_Model):
    """One listing endpoint and how its items become records."""

    name: str
    path: str  # templated: {store_id}, {since}, {since_date}, {now}, and the store's attrs
    params: dict[str, str] = {}
    since_format: str = "iso"  # {since}/{now}: iso, date, epoch_s, epoch_ms, a pattern
    fields: dict[str, FieldSpec] = {}  # canonical name → where and how it is read (specs v2)
    role: Role = ""  # pos_transactions / pos_inventory (the POS records), directory (the stores)
    records: str = ""  # dotted path to the list in the body; "" = the body is the list
    pagination: PaginationConfig | None = None
    key: str
    time: str = ""  # when it happened (occurred_at); a bare date counts at noon in the store's zone;
    # "" only for a snapshot: its items count when read
    cursor: str = ""  # the item's last-modified field; the stream resumes after the greatest one
    store: str = ""  # the item's store id field; default: the store the call was made for
    ordered: bool = Field(default=False, strict=True)  # items come oldest-first: checkpoint each page
    snapshot: bool = Field(default=False, strict=True)  # read whole each time; unlisted items are deleted
    required: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()  # must be numbers ≥ 0 when present
    ranges: dict[str, Annotated[tuple[float, float], Field()]] = {}
    facts: tuple[FactSpec, ...] = ()
    attrs: tuple[str, ...] = ()  # fields kept on the record (dots become _)

    @model_validator(mode="after")
    def _check_v2(self) -> StreamSpec:
        problems = stream_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def stream_problems(spec: StreamSpec) -> list[str]:
    """What is wrong with a stream's v2 keys, each as `key path: problem; fix`."""
    problems: list[str] = []
    if spec.since_format not in SINCE_FORMATS and "%" not in spec.since_format:
        problems.append(
            f"since_format: {spec.since_format!r} is not a format; use one of {', '.join(SINCE_FORMATS)} "
            'or a strptime pattern such as "%Y-%m-%d %H:%M:%S"'
        )
    problems.extend(compile_fields(spec.fields))
    if not spec.time and not spec.snapshot and spec.role != "directory":
        problems.append("time: required (the field saying when the item happened), except for a snapshot")
    declared = spec.fields.get(spec.time)
    if declared is not None and declared.type not in ("time", "any") and not declared.expr:
        problems.append(f'time: field {spec.time!r} is of type {declared.type!r}; declare type = "time"')
    declared = spec.fields.get(spec.cursor)
    if declared is not None and declared.type not in ("time", "number", "any") and not declared.expr:
        problems.append(
            f'cursor: field {spec.cursor!r} is of type {declared.type!r}; declare type = "time" (a '
            'last-modified time) or type = "number" (an incrementing id or sequence)'
        )
    if not spec.role:
        return problems
    if spec.name != ROLE_STREAMS[spec.role]:
        problems.append(
            f"name: a {spec.role} stream is named {ROLE_STREAMS[spec.role]!r} (the jobs read it by that "
            f"name); rename {spec.name!r}"
        )
    if spec.facts:
        problems.append(f"facts: a {spec.role} stream makes the POS facts itself; remove [[streams.facts]]")
    missing = [f for f in ROLE_FIELDS[spec.role] if f not in spec.fields]
    if missing:
        problems.append(f"fields: a {spec.role} stream needs fields {', '.join(missing)}; declare them")
    items = spec.fields.get("items")
    if spec.role == "pos_transactions" and items is not None:
        lacking = [f for f in ROLE_LINE_FIELDS if f not in items.each]
        if items.type != "list" or lacking:
            problems.append(
                'fields.items: type = "list" with each = { '
                + ", ".join(ROLE_LINE_FIELDS)
                + " }; missing: "
                + (", ".join(lacking) or "type")
            )
        category = items.each.get("category")
        if category is not None:
            problems.extend(_category_problems(category, "fields.items.each.category"))
    category = spec.fields.get("category")
    if spec.role == "pos_inventory" and category is not None:
        problems.extend(_category_problems(category, "fields.category"))
    channel = spec.fields.get("channel")
    if spec.role == "pos_transactions" and channel is not None:
        wrong = sorted({v for v in channel.map.values() if v not in (ONLINE, IN_STORE)})
        if channel.unmapped not in (None, ONLINE, IN_STORE):
            wrong.append(channel.unmapped)
        if wrong or not (channel.map or channel.expr):
            problems.append(
                f'fields.channel: map the vendor\'s values onto "{ONLINE}" or "{IN_STORE}"'
                + (f" (not {', '.join(map(repr, wrong))})" if wrong else "")
            )
    return problems


def parse_store_entry(raw: Any, spec: StreamSpec) -> StoreRef:
    """A directory entry read through the declared fields: id, name, state, zone; the rest are attrs."""
    item = mapping(raw, what="store")
    unmapped: dict[str, list[str]] = {}
    values = read_fields(item, spec.fields, zone("UTC"), unmapped)
    store_id = ident(values.get("store_id"), what="store_id")
    tz_name = text(values.get("timezone"), what="timezone") or "UTC"
    zone(tz_name)
    state = text(values.get("state"), what="state").strip().upper()
    if state and (len(state) != 2 or not state.isalpha()):
        raise Invalid(f"state: expected a two-letter US state, got {state!r}")
    attrs = {k: json_safe(v) for k, v in values.items() if k not in STORE_FIELDS}
    if unmapped:
        attrs["unmapped"] = unmapped
    name = text(values.get("name"), what="name")
    return StoreRef(store_id, name, state, tz_name, attrs)


def _category_problems(spec: FieldSpec, where: str) -> list[str]:
    allowed = {*CATEGORIES, OTHER_CATEGORY}
    wrong = sorted({v for v in spec.map.values() if v not in allowed})
    if spec.unmapped is not None and spec.unmapped not in allowed:
        wrong.append(spec.unmapped)
    if not wrong:
        return []
    return [
        f"{where}.map: {', '.join(map(repr, wrong))} not a category; use one of {', '.join(sorted(allowed))}"
    ]


class RestSpec(_Model):
    """A REST source's streams, shipped in `connectors/sources/<name>.toml` or inline in the config."""

    description: str = ""
    auth: dict[str, Any] = {}  # defaults under the source's `auth` table (kind, header name; no secrets)
    pagination: PaginationConfig = PaginationConfig()
    scope: Literal["store", "all"] = "store"  # "all": one call lists every store's items
    pos_kind: str = ""  # serve only the directory stores whose POS is this kind ("" = every store)
    streams: tuple[StreamSpec, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> RestSpec:
        names = [s.name for s in self.streams]
        if len(set(names)) != len(names):
            raise ValueError(f"stream names must be unique: {names}")
        if self.scope == "all":
            missing = [s.name for s in self.streams if not s.store]
            if missing:
                raise ValueError(f"scope = 'all' needs a store field on every stream: {missing}")
        return self


class RestOptions(Options):
    spec: str = ""  # a shipped spec name ("billing") or a path to a spec TOML
    description: str = ""
    auth: dict[str, Any] = {}
    pagination: PaginationConfig | None = None
    scope: Literal["store", "all"] | None = None
    pos_kind: str | None = None
    streams: tuple[StreamSpec, ...] = ()


class SpecError(SourceError):
    """A REST spec file that cannot be used; `issues` lists every problem, each naming the spec's file."""

    def __init__(self, issues: list[FileIssue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues


def load_spec(name_or_path: str) -> RestSpec:
    """A spec by shipped name or file path; errors name the file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SPECS_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            shipped = sorted(p.stem for p in SPECS_DIR.glob("*.toml"))
            raise SourceError(f"REST spec {name_or_path!r} not found (shipped: {', '.join(shipped)})")
    raw, issues = read_toml(path, str(path))
    if raw is None:
        raise SpecError(issues)
    try:
        return RestSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(pydantic_issues(str(path), exc, model=RestSpec, raw=raw)) from None


def resolve_spec(options: RestOptions) -> RestSpec:
    base = load_spec(options.spec) if options.spec else RestSpec()
    merged = base.model_dump(by_alias=True)
    if options.streams:
        merged["streams"] = [s.model_dump(by_alias=True) for s in options.streams]
    if options.pagination is not None:
        merged["pagination"] = options.pagination.model_dump()
    if options.scope is not None:
        merged["scope"] = options.scope
    if options.pos_kind is not None:
        merged["pos_kind"] = options.pos_kind
    merged["auth"] = {**base.auth, **options.auth}
    try:
        spec = RestSpec.model_validate(merged)
    except ValidationError as exc:
        issues = pydantic_issues(options.spec or "options", exc, model=RestSpec, raw=merged)
        raise SourceError("; ".join(str(i) for i in issues)) from None
    if not spec.streams:
        raise SourceError("a rest source needs streams: options.spec or options.streams")
    return spec


def render(template: str, values: Mapping[str, str], *, for_path: bool = False) -> str:
    """Fill `{name}` placeholders; a name the store does not have is a SourceError naming it."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise SourceError(f"template {template!r} needs {{{name}}}, which this store does not have")
        value = values[name]
        return quote(value, safe="") if for_path else value

    return _PLACEHOLDER.sub(fill, template)


def _render_dimension(template: str, item: Mapping[str, Any]) -> str:
    def fill(match: re.Match[str]) -> str:
        value = dig(item, match.group(1), None)
        return (
            slug(str(value)) if value not in (None, "") and not isinstance(value, dict | list) else "unknown"
        )

    return _PLACEHOLDER.sub(fill, template)


def counts(spec: StreamSpec) -> bool:
    """Whether the stream's cursor is a counting one: its field is declared `type = "number"`."""
    declared = spec.fields.get(spec.cursor) if spec.cursor else None
    return declared is not None and declared.type == "number"


def parse_item(
    spec: StreamSpec, item: Any, store: StoreRef, now: datetime | None = None
) -> list[Record | Rejected]:
    """One listed item → its record (plus one per extra fact time), or a Rejected with the reason.

    `now` is when a snapshot item without a time field counts."""
    result = parse_safely(spec.name, store.store_id, item, _parse_item, spec, store, now)
    return [result] if isinstance(result, Rejected) else result


def _parse_item(raw: Any, spec: StreamSpec, store: StoreRef, now: datetime | None) -> list[Record | Rejected]:
    item = mapping(raw, what=spec.name)
    unmapped: dict[str, list[str]] = {}
    if spec.fields:
        # The declared fields over the vendor's item: keys, times, facts and attrs read canonical names.
        item = {**item, **read_fields(item, spec.fields, zone(store.timezone), unmapped)}
    for name in spec.required:
        if dig(item, name, None) in (None, ""):
            raise Invalid(f"{name}: required")
    for name in spec.numeric:
        value = dig(item, name, None)
        if value is not None:
            number(value, what=name)
    for name, (low, high) in spec.ranges.items():
        value = dig(item, name, None)
        if value is not None:
            number(value, what=name, minimum=low, maximum=high)
    raw_key = ident(dig(item, spec.key, None), what=spec.key)
    store_id = ident(dig(item, spec.store, None), what=spec.store) if spec.store else store.store_id
    if store_id == ALL_STORES:
        raise Invalid(f"{spec.store}: {ALL_STORES!r} is not a store id")
    tz = zone(store.timezone) if store.store_id == store_id else zone("UTC")
    if spec.time:
        occurred = parse_time(dig(item, spec.time, None), tz, what=spec.time)
    elif now is not None:
        occurred = now
    else:
        raise Invalid(f"{spec.name}: no time field and no read time")
    counting = counts(spec)
    if not spec.cursor:
        cursor = ""
    elif counting:
        cursor = counting_cursor(dig(item, spec.cursor, None), what=spec.cursor)
    else:
        cursor = iso_utc(parse_time(dig(item, spec.cursor, None), what=spec.cursor))
    attrs = {name.replace(".", "_"): json_safe(dig(item, name, None)) for name in spec.attrs}
    if unmapped:
        attrs["unmapped"] = unmapped  # vendor values a map lacked: kept, and shown where they landed
    key = f"{store_id}:{raw_key}"
    if spec.role == "pos_transactions":
        if not spec.cursor or counting:
            modified = occurred
        else:
            modified = parse_time(dig(item, spec.cursor, None), what=spec.cursor)
        record = _pos_transaction(item, store_id, raw_key, occurred, modified, attrs)
        return [dataclasses.replace(record, cursor=cursor) if counting else record]
    if spec.role == "pos_inventory":
        return [Record(spec.name, key, store_id, occurred, cursor, (), {**_pos_stock(item), **attrs})]
    by_time: dict[str, list[Fact]] = {"": []}
    for fact in spec.facts:
        group = fact.time if fact.time and fact.time != spec.time else ""
        bucket = by_time.setdefault(group, [])
        if not all(c.holds(item) for c in fact.when):
            continue
        if group and dig(item, group, None) in (None, ""):
            continue
        if fact.field:
            value = number(dig(item, fact.field, None), what=fact.field, minimum=None)
        else:
            value = 1.0 if fact.value is None else fact.value
        dim = _render_dimension(fact.dimension, item) if fact.dimension else ""
        bucket.append(Fact(fact.metric, value, dim))
    out: list[Record | Rejected] = [
        Record(spec.name, key, store_id, occurred, cursor, _merge(by_time.pop("", [])), attrs)
    ]
    for time_field, facts in by_time.items():
        # A fact counted on another day (a ticket's close) lives in its own record; when the field is
        # empty again (reopened) the record stays with no facts, so a re-pull takes the count back.
        when_raw = dig(item, time_field, None)
        when = parse_time(when_raw, tz, what=time_field) if when_raw not in (None, "") else occurred
        out.append(
            Record(f"{spec.name}.{time_field}", f"{key}#{time_field}", store_id, when, cursor, _merge(facts))
        )
    return out


def _pos_transaction(
    item: Mapping[str, Any],
    store_id: str,
    tid: str,
    occurred: datetime,
    modified: datetime,
    attrs: Mapping[str, Any],
) -> Record:
    """A declared POS sale as every POS yields it: facts for a completed sale, by channel and category."""
    lines = []
    for i, el in enumerate(item.get("items") or ()):
        what = f"items[{i}]"
        lines.append(
            Line(
                ident(el.get("product_id"), what=f"{what}.product_id"),
                _category(el.get("category")),
                number(el.get("quantity"), what=f"{what}.quantity", minimum=None),
                number(el.get("amount") or 0.0, what=f"{what}.amount", minimum=None),
            )
        )
    channel = item.get("channel")
    if channel not in (ONLINE, IN_STORE):
        raise Invalid(f"channel: expected {ONLINE!r} or {IN_STORE!r}, got {channel!r}")
    revenue = number(item.get("revenue"), what="revenue", minimum=None)
    raw_total = item.get("total")
    total = revenue if raw_total is None else number(raw_total, what="total", minimum=None)
    completed = item.get("completed")
    is_return = bool(item.get("is_return"))
    counted = completed is None or completed is True
    facts = sale_facts(channel, abs(revenue), lines, is_return=is_return) if counted else ()
    vendor = {"completed": counted, "is_return": is_return, **attrs}
    return transaction_record(
        store_id, tid, occurred, modified, channel, total, revenue, lines, facts, vendor
    )


def _category(value: Any) -> str:
    """A line's category: a mapped canonical one as is, else the built-in vendor spellings."""
    if isinstance(value, str) and value in (*CATEGORIES, OTHER_CATEGORY):
        return value
    return category_slug(value)


def _pos_stock(item: Mapping[str, Any]) -> dict[str, Any]:
    """The inventory attrs menu health reads: product, quantity on hand, name, category, brand, price."""
    out: dict[str, Any] = {
        "product_id": ident(item.get("product_id"), what="product_id"),
        "quantity": number(item.get("quantity"), what="quantity", minimum=None),
    }
    for name in ("name", "brand", "sku"):
        if item.get(name) is not None:
            out[name] = json_safe(item[name])
    if item.get("price") is not None:
        out["price"] = number(item["price"], what="price")
    out["category"] = _category(item.get("category"))
    return out


def _merge(facts: list[Fact]) -> tuple[Fact, ...]:
    """Sum facts of the same metric and dimension, keeping the first-seen order."""
    totals: dict[tuple[str, str], float] = {}
    for fact in facts:
        totals[(fact.metric, fact.dimension)] = totals.get((fact.metric, fact.dimension), 0.0) + fact.value
    return tuple(Fact(m, v, d) for (m, d), v in totals.items())


class RestConnector(BaseConnector):
    def __init__(self, source: RestSource, store: StoreRef, client: HttpClient) -> None:
        super().__init__(store)
        self.source = source
        self.client = client
        self.specs = {s.name: s for s in source.spec.streams if s.role != "directory"}
        self.streams = tuple(self.specs)
        self.snapshot_streams = tuple(s.name for s in self.specs.values() if s.snapshot)

    def iter_records(self, stream: str, since: str | None) -> Iterator[Item]:
        spec = self.specs.get(stream)
        if spec is None:
            raise SourceError(f"unknown stream {stream!r}; streams: {', '.join(self.streams)}")
        start = self.source.start(None if spec.snapshot else since)
        values = dict(store_values(self.store))
        values.update(
            # a counting cursor goes out as stored (0 before the first pull); a time in the API's format
            since=(since or "0") if counts(spec) else format_time(start, spec.since_format, self.tz),
            since_date=start.astimezone(self.tz).date().isoformat(),
            now=format_time(self.source.runtime.now(), spec.since_format, self.tz),
        )
        if self.is_all_stores():
            values.pop("store_id")
        path = render(spec.path, values, for_path=True)
        # A feed of every store takes no per-store filter: a parameter naming {store_id} is left out.
        params = {
            k: render(v, values)
            for k, v in spec.params.items()
            if not (self.is_all_stores() and "{store_id}" in v)
        }
        paging = self.source.cfg.pagination or spec.pagination or self.source.spec.pagination
        cursor = ""
        now = self.source.runtime.now()
        pages: Iterable[Page] = self.client.pages(path, params, make_paginator(paging), spec.records)
        if spec.snapshot:
            held = self.hold(pages, stream, repr(spec))
            if held.fingerprint is not None:
                yield held.fingerprint
            pages = held.all_pages()
        for page in pages:
            for item in page.items:
                for out in parse_item(spec, item, self.store, now):
                    if isinstance(out, Record) and cursor_after(out.cursor, cursor):
                        cursor = out.cursor
                    yield out
            if spec.ordered and cursor:
                yield Checkpoint(stream, cursor)


@register("rest")
class RestSource(HttpSource):
    """Any JSON API declared in a spec: billing, support and NPS ship as specs."""

    kind = "rest"
    options_model = RestOptions

    def __init__(self, cfg: SourceConfig, runtime: Runtime | None = None) -> None:
        super().__init__(cfg, runtime)
        assert isinstance(self.options, RestOptions)
        self.spec = resolve_spec(self.options)
        merged = {**self.spec.auth, **cfg.auth.model_dump(exclude_unset=True)}
        try:
            self.auth_cfg = AuthConfig.model_validate(merged)
        except ValidationError as exc:
            raise SourceError(f"{cfg.name}: auth: {exc}") from None
        self._shared_auth = (
            None if self.auth_cfg.per_store_file else build_auth(self.auth_cfg, "", self.runtime)
        )
        self._directory = next((s for s in self.spec.streams if s.role == "directory"), None)

    @property
    def provides_directory(self) -> bool:  # type: ignore[override]
        """A spec with a `directory` stream lists the stores itself, as the platform does."""
        return self._directory is not None

    def serves(self, store: StoreRef) -> bool:
        return not self.spec.pos_kind or store.attrs.get("pos_kind") == self.spec.pos_kind

    def stores(self, directory: Sequence[StoreRef]) -> Sequence[StoreRef | Rejected]:
        if self._directory is not None:
            return self._list_stores(self._directory)
        if self.spec.scope == "all":
            return [StoreRef(ALL_STORES, name=f"all stores of {self.name}")]
        return super().stores(directory)

    def _list_stores(self, spec: StreamSpec) -> list[StoreRef | Rejected]:
        if self._shared_auth is None:
            raise SourceError(f"{self.name}: a directory stream needs one credential, not a per-store file")
        values = {"now": format_time(self.runtime.now(), spec.since_format, zone("UTC"))}
        path = render(spec.path, values, for_path=True)
        params = {k: render(v, values) for k, v in spec.params.items()}
        paging = self.cfg.pagination or spec.pagination or self.spec.pagination
        client = self.http.client(self._shared_auth)
        wanted = set(self.cfg.stores)
        out: list[StoreRef | Rejected] = []
        for page in client.pages(path, params, make_paginator(paging), spec.records):
            for raw in page.items:
                ref = parse_safely("stores", "", raw, parse_store_entry, spec)
                if isinstance(ref, Rejected) or not wanted or ref.store_id in wanted:
                    out.append(ref)
        return out

    def connector(self, store: StoreRef) -> RestConnector:
        auth = self._shared_auth or build_auth(self.auth_cfg, store.store_id, self.runtime)
        return RestConnector(self, store, self.http.client(auth))
