"""Declared fields of a REST spec (specs v2): a vendor item read into the canonical fields the jobs read.

A field names where its value sits in the vendor's item (a dotted path; a list's elements are read
through `each`), then types and transforms it: numbers scaled (cents → dollars, grams ↔ ounces), times
parsed (ISO 8601, epoch seconds or milliseconds, a strptime pattern; naive ones in the store's zone or
UTC), values mapped onto a vocabulary, or computed by the safe expression language. Pure: a bad value
raises `values.Invalid` naming the field, so its item is quarantined with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from connectors.values import Invalid, dig, number, parse_time, slug, text

FieldType = Literal["any", "text", "number", "time", "bool", "list"]
TimeZoneChoice = Literal["store", "utc"]

# Unit conversions an admin names instead of working out a factor.
CONVERSIONS: dict[str, float] = {
    "cents_to_dollars": 0.01,
    "dollars_to_cents": 100.0,
    "grams_to_ounces": 1 / 28.349523125,
    "ounces_to_grams": 28.349523125,
    "milligrams_to_grams": 0.001,
    "grams_to_milligrams": 1000.0,
}
TIME_FORMATS = ("iso", "epoch_s", "epoch_ms")  # or a strptime pattern (contains "%")
_EPOCH_MAX_S = 253402300799.0  # 9999-12-31T23:59:59Z: beyond it no calendar time exists


class Computed(Protocol):
    """A checked expression, run over one item's other fields; raises ValueError when it fails on them."""

    def __call__(self, values: Mapping[str, Any]) -> Any: ...


class ExpressionEngine(Protocol):
    """The safe expression language, supplied from outside `connectors` (the layering keeps the mapping
    language out of here): `jobs` installs `mappings.expressions` with `use_expressions`."""

    def compile(self, source: str, names: Mapping[str, str]) -> tuple[Computed | None, list[str]]: ...


_ENGINE: list[ExpressionEngine] = []


def use_expressions(engine: ExpressionEngine) -> None:
    """Install the expression language computed fields are written in."""
    _ENGINE[:] = [engine]


_EXPR_TYPES = {
    "any": "any",
    "text": "text",
    "number": "number",
    "time": "datetime",
    "bool": "bool",
    "list": "list",
}


class FieldSpec(BaseModel):
    """One canonical field: where it is in the vendor's item and how its value becomes canonical."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = ""  # dotted path in the item ("location.id"); "" = the field's own name
    type: FieldType = "any"
    required: bool = Field(default=False, strict=True)  # absent or empty → the item is quarantined
    scale: float | None = Field(default=None, strict=True)  # the number times scale
    convert: (
        Literal[
            "cents_to_dollars",
            "dollars_to_cents",
            "grams_to_ounces",
            "ounces_to_grams",
            "milligrams_to_grams",
            "grams_to_milligrams",
        ]
        | None
    ) = None
    min: float | None = Field(default=None, strict=True)
    max: float | None = Field(default=None, strict=True)
    format: str = "iso"  # time: iso | epoch_s | epoch_ms | a strptime pattern ("%m/%d/%Y %H:%M")
    zone: TimeZoneChoice = "store"  # a naive time is read in the store's zone, or in UTC
    map: dict[str, str] = {}  # vendor value → canonical value (matched case- and punctuation-blind)
    unmapped: str | None = None  # for values the map lacks (kept in attrs); None: quarantine
    expr: str = ""  # computed from the other fields by the safe expression language
    each: dict[str, FieldSpec] = Field(default_factory=dict)  # type = "list": the fields of every element

    _compiled: Computed | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> FieldSpec:
        if self.type == "time" and self.format not in TIME_FORMATS and "%" not in self.format:
            raise ValueError(
                f"format {self.format!r} is not a time format; "
                'use "iso", "epoch_s", "epoch_ms" or a strptime pattern such as "%m/%d/%Y %H:%M"'
            )
        if (self.scale is not None or self.convert) and self.type != "number":
            raise ValueError('scale and convert apply to numbers: set type = "number"')
        if self.scale is not None and self.convert:
            raise ValueError("set either scale or convert, not both")
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale != 0):
            raise ValueError("scale must be a finite number other than 0")
        if self.each and self.type != "list":
            raise ValueError('each describes list elements: set type = "list"')
        if self.unmapped is not None and not self.map:
            raise ValueError("unmapped is the value for one the map lacks: declare map too")
        if self.expr and self.path:
            raise ValueError("a computed field (expr) reads other fields, not a path: remove path")
        return self

    @property
    def factor(self) -> float | None:
        return CONVERSIONS[self.convert] if self.convert else self.scale


def _key(value: object) -> str:
    return slug(str(value))


def compile_fields(fields: Mapping[str, FieldSpec], where: str = "fields") -> list[str]:
    """Check and compile every computed field; the problems, each with its path and a fix."""
    problems: list[str] = []
    plain = {n: _EXPR_TYPES[f.type] for n, f in fields.items() if not f.expr}
    for name, spec in fields.items():
        if spec.expr:
            if not _ENGINE:
                problems.append(f"{where}.{name}.expr: computed fields need the expression language")
                continue
            compiled, errors = _ENGINE[0].compile(spec.expr, plain)
            problems.extend(f"{where}.{name}.expr: {p}" for p in errors)
            spec._compiled = compiled
        if spec.each:
            problems.extend(compile_fields(spec.each, f"{where}.{name}.each"))
    return problems


def read_fields(
    item: Mapping[str, Any], fields: Mapping[str, FieldSpec], store_tz: tzinfo, unmapped: dict[str, list[str]]
) -> dict[str, Any]:
    """The canonical fields of one item; `unmapped` collects vendor values the maps lacked, by field."""
    out: dict[str, Any] = {}
    computed = []
    for name, spec in fields.items():
        if spec.expr:
            computed.append((name, spec))
            continue
        raw = dig(item, spec.path or name, None)
        out[name] = read_value(name, raw, spec, store_tz, unmapped)
    for name, spec in computed:
        out[name] = _compute(name, spec, out, store_tz, unmapped)
    return out


def read_value(name: str, raw: Any, spec: FieldSpec, store_tz: tzinfo, unmapped: dict[str, list[str]]) -> Any:
    """One field's canonical value (None when absent and not required)."""
    if raw is None or raw == "":
        if spec.required:
            raise Invalid(f"{name}: required")
        return [] if spec.type == "list" else None
    value: Any = raw
    if spec.type == "number":
        value = number(raw, what=name, minimum=None)
        factor = spec.factor
        if factor is not None:
            value = round(value * factor, 9)
            if not math.isfinite(value):
                raise Invalid(f"{name}: {raw!r} scaled is not a finite number")
        if spec.min is not None and value < spec.min:
            raise Invalid(f"{name}: must be ≥ {spec.min:g}, got {value:g}")
        if spec.max is not None and value > spec.max:
            raise Invalid(f"{name}: must be ≤ {spec.max:g}, got {value:g}")
    elif spec.type == "time":
        value = read_time(raw, spec.format, UTC if spec.zone == "utc" else store_tz, what=name)
    elif spec.type == "text":
        value = text(raw, what=name)
    elif spec.type == "bool":
        value = read_bool(raw, what=name)
    elif spec.type == "list":
        if not isinstance(raw, list):
            raise Invalid(f"{name}: expected a list, got {type(raw).__name__}")
        if spec.each:
            value = []
            for i, el in enumerate(raw):
                try:
                    value.append(read_fields(_element(el, name, i), spec.each, store_tz, unmapped))
                except Invalid as exc:
                    text_ = str(exc)
                    where = f"{name}[{i}]"
                    raise Invalid(text_ if text_.startswith(where) else f"{where}.{text_}") from None
    if spec.map:
        value = _mapped(name, value, spec, unmapped)
    return value


def _element(value: Any, name: str, index: int) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise Invalid(f"{name}[{index}]: expected an object, got {type(value).__name__}")


def _mapped(name: str, value: Any, spec: FieldSpec, unmapped: dict[str, list[str]]) -> Any:
    if isinstance(value, dict | list):
        raise Invalid(f"{name}: expected a single value to map, got {type(value).__name__}")
    table = {_key(k): v for k, v in spec.map.items()}
    found = table.get(_key(value))
    if found is not None:
        return found
    if spec.unmapped is None:
        raise Invalid(
            f"{name}: {str(value)[:60]!r} is not in the map; add it under fields.{name}.map "
            '(or set unmapped = "…" for values not listed)'
        )
    seen = unmapped.setdefault(name, [])
    if str(value) not in seen and len(seen) < 20:
        seen.append(str(value)[:100])
    return spec.unmapped


def _compute(
    name: str, spec: FieldSpec, values: Mapping[str, Any], store_tz: tzinfo, unmapped: dict[str, list[str]]
) -> Any:
    compiled = spec._compiled
    if compiled is None:  # a spec built without validation: compile it now
        problems = compile_fields({name: spec})
        if problems:
            raise Invalid(problems[0])
        compiled = spec._compiled
        assert compiled is not None
    try:
        result = compiled(values)
    except ValueError as exc:
        raise Invalid(f"{name}: {exc}") from None
    if isinstance(result, float) and not math.isfinite(result):
        raise Invalid(f"{name}: computed {result!r}, not a finite number")
    plain = spec.model_copy(update={"expr": "", "path": ""})
    return read_value(name, result, plain, store_tz, unmapped)


def read_time(value: object, fmt: str, tz: tzinfo, *, what: str) -> datetime:
    """A time in one of the declared formats as an aware datetime (naive ones read in `tz`)."""
    if fmt == "iso":
        return parse_time(value, tz, what=what)
    if fmt in ("epoch_s", "epoch_ms"):
        seconds = number(value, what=what, minimum=0) / (1000.0 if fmt == "epoch_ms" else 1.0)
        if seconds > _EPOCH_MAX_S:
            unit = "milliseconds" if fmt == "epoch_ms" else "seconds"
            raise Invalid(f"{what}: {value!r} is beyond year 9999 as epoch {unit}")
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str):
        raise Invalid(f"{what}: expected a time like {fmt!r}, got {type(value).__name__}")
    try:
        parsed = datetime.strptime(value.strip(), fmt)
    except ValueError:
        raise Invalid(f"{what}: {value[:60]!r} does not match {fmt!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def format_time(moment: datetime, fmt: str, tz: tzinfo) -> str:
    """A time in an API's own format, for `{since}`: iso (UTC), date (in `tz`), epoch or a pattern."""
    if fmt == "iso":
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "date":
        return moment.astimezone(tz).date().isoformat()
    if fmt == "epoch_s":
        return str(int(moment.timestamp()))
    if fmt == "epoch_ms":
        return str(int(moment.timestamp() * 1000))
    return moment.astimezone(tz).strftime(fmt)


def read_bool(value: object, *, what: str) -> bool:
    """true/false, 1/0 or their usual spellings ("Y", "yes", "false")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOLS:
        return _BOOLS[value.strip().lower()]
    raise Invalid(f"{what}: expected true or false, got {str(value)[:60]!r}")


_BOOLS = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
    "1": True,
    "0": False,
}
