"""The declarative REST source (`kind = "rest"`): streams, paging, validation and facts declared in TOML."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
from connectors.http import HttpClient, build_auth
from connectors.paging import Page, PaginationConfig, make_paginator
from connectors.source import BaseConnector, HttpSource, Options, parse_safely, store_values
from connectors.values import (
    Invalid,
    cursor_after,
    dig,
    ident,
    iso_utc,
    json_safe,
    mapping,
    number,
    parse_time,
    slug,
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
    min: float | None = None
    max: float | None = None
    present: bool | None = None

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
    value: float | None = None
    field: str = ""
    dimension: str = ""  # template over the item's fields, e.g. "channel={fulfillment}"
    when: tuple[Condition, ...] = ()
    time: str = ""  # count the fact on this field's day instead of the record's (e.g. closed_at)

    @model_validator(mode="after")
    def _one_value(self) -> FactSpec:
        if self.value is not None and self.field:
            raise ValueError("set either value (a constant) or field, not both")
        return self


class StreamSpec(_Model):
    """One listing endpoint and how its items become records."""

    name: str
    path: str  # templated: {store_id}, {since}, {since_date}, and the store's attrs
    params: dict[str, str] = {}
    records: str = ""  # dotted path to the list in the body; "" = the body is the list
    pagination: PaginationConfig | None = None
    key: str
    time: str  # when it happened (occurred_at); a bare date counts at noon in the store's zone
    cursor: str = ""  # the item's last-modified field; the stream resumes after the greatest one
    store: str = ""  # the item's store id field; default: the store the call was made for
    ordered: bool = False  # items come oldest-first: checkpoint after every page
    snapshot: bool = False  # read whole every time; items no longer listed are deleted
    required: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()  # must be numbers ≥ 0 when present
    ranges: dict[str, Annotated[tuple[float, float], Field()]] = {}
    facts: tuple[FactSpec, ...] = ()
    attrs: tuple[str, ...] = ()  # fields kept on the record (dots become _)


class RestSpec(_Model):
    """A REST source's streams, shipped in `connectors/sources/<name>.toml` or inline in the config."""

    description: str = ""
    auth: dict[str, Any] = {}  # defaults under the source's `auth` table (kind, header name; no secrets)
    pagination: PaginationConfig = PaginationConfig()
    scope: Literal["store", "all"] = "store"  # "all": one call lists every store's items
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
    merged["auth"] = {**base.auth, **options.auth}
    spec = RestSpec.model_validate(merged)
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


def parse_item(spec: StreamSpec, item: Any, store: StoreRef) -> list[Record | Rejected]:
    """One listed item → its record (plus one per extra fact time), or a Rejected with the reason."""
    result = parse_safely(spec.name, store.store_id, item, _parse_item, spec, store)
    return [result] if isinstance(result, Rejected) else result


def _parse_item(raw: Any, spec: StreamSpec, store: StoreRef) -> list[Record | Rejected]:
    item = mapping(raw, what=spec.name)
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
    occurred = parse_time(dig(item, spec.time, None), tz, what=spec.time)
    cursor = iso_utc(parse_time(dig(item, spec.cursor, None), what=spec.cursor)) if spec.cursor else ""
    attrs = {name.replace(".", "_"): json_safe(dig(item, name, None)) for name in spec.attrs}
    key = f"{store_id}:{raw_key}"
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
        self.specs = {s.name: s for s in source.spec.streams}
        self.streams = tuple(self.specs)
        self.snapshot_streams = tuple(s.name for s in source.spec.streams if s.snapshot)

    def iter_records(self, stream: str, since: str | None) -> Iterator[Item]:
        spec = self.specs.get(stream)
        if spec is None:
            raise SourceError(f"unknown stream {stream!r}; streams: {', '.join(self.streams)}")
        start = self.source.start(None if spec.snapshot else since)
        values = dict(store_values(self.store))
        values.update(since=iso_utc(start), since_date=start.astimezone(self.tz).date().isoformat())
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
        pages: Iterable[Page] = self.client.pages(path, params, make_paginator(paging), spec.records)
        if spec.snapshot:
            held = self.hold(pages, stream, repr(spec))
            if held.fingerprint is not None:
                yield held.fingerprint
            pages = held.all_pages()
        for page in pages:
            for item in page.items:
                for out in parse_item(spec, item, self.store):
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

    def stores(self, directory: Sequence[StoreRef]) -> Sequence[StoreRef | Rejected]:
        if self.spec.scope == "all":
            return [StoreRef(ALL_STORES, name=f"all stores of {self.name}")]
        return super().stores(directory)

    def connector(self, store: StoreRef) -> RestConnector:
        auth = self._shared_auth or build_auth(self.auth_cfg, store.store_id, self.runtime)
        return RestConnector(self, store, self.http.client(auth))
