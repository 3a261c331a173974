"""Bounds at the connector boundary (pure): what a vendor sends is checked before anything is stored.

Every record and every listed store passes one check here, whatever connector built it: lengths
capped per field kind (ids, names, text), nesting and size bounded, strings valid Unicode (no lone
surrogates, no NUL: either makes the database refuse a whole batch), numbers finite and facts within
the plausible range declared for their metric (`plausible.toml`), times neither before 1990 nor
days in the future (a cursor from the year 9999 would stop a stream for good). A failing record is
quarantined alone with the reason; its payload is clipped so the quarantine row is bounded too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from configfiles import read_toml
from connectors.base import Record, StoreRef
from connectors.values import ID_MAX, cursor_time, iso_utc

PLAUSIBLE_FILE = Path(__file__).with_name("plausible.toml")
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class Limits(BaseModel):
    """`[sources.limits]`: caps per field kind and per response; the defaults suit every shipped source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id_chars: Annotated[int, Field(ge=8, le=4096)] = 256  # record keys, store ids, `*_id` attrs
    name_chars: Annotated[int, Field(ge=16, le=65_536)] = 1_000  # names, subjects, titles, categories
    text_chars: Annotated[int, Field(ge=64, le=10_000_000)] = 32_768  # any other text attr
    record_bytes: Annotated[int, Field(ge=1_024, le=100_000_000)] = 262_144  # a record's attrs, all told
    depth: Annotated[int, Field(ge=1, le=64)] = 8  # nesting of a record's attrs
    future_days: Annotated[float, Field(ge=0, le=366)] = 2.0  # how far ahead a record's time may be
    page_items: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000  # items in one page of a listing
    response_bytes: Annotated[int, Field(ge=1_024, le=2**31)] = 32 * 2**20  # one response body, decoded
    quarantine_bytes: Annotated[int, Field(ge=256, le=1_000_000)] = 8_192  # a quarantined payload, clipped
    plausible_file: str = ""  # another plausible-ranges TOML instead of the shipped one


class PlausibleError(ValueError):
    """A plausible-ranges file that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class Plausible:
    """Per-metric [min, max] of one record's fact, a default for unlisted metrics, and the attrs cap."""

    metrics: Mapping[str, tuple[float, float]]
    default: tuple[float, float]
    attr_magnitude: float

    def range_of(self, metric: str) -> tuple[float, float]:
        return self.metrics.get(metric, self.default)


def _bounds(raw: object, where: str) -> tuple[float, float]:
    if not isinstance(raw, Mapping) or set(raw) != {"min", "max"}:
        raise PlausibleError(f"{where}: expected {{ min = …, max = … }}")
    low, high = raw["min"], raw["max"]
    for name, value in (("min", low), ("max", high)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise PlausibleError(f"{where}.{name}: expected a finite number, got {value!r}")
    if low > high:
        raise PlausibleError(f"{where}: min {low} is above max {high}")
    return float(low), float(high)


@lru_cache(maxsize=8)
def load_plausible(path: str = "") -> Plausible:
    """The plausible ranges from `path` (default: the shipped file); errors name the file and key."""
    file = Path(path) if path else PLAUSIBLE_FILE
    raw, issues = read_toml(file, str(file))
    if raw is None:
        raise PlausibleError("\n".join(str(i) for i in issues))
    unknown = sorted(set(raw) - {"default", "metrics", "attrs"})
    if unknown:
        raise PlausibleError(f"{file}: unknown table(s) {', '.join(unknown)}; known: default, metrics, attrs")
    metrics_raw = raw.get("metrics", {})
    if not isinstance(metrics_raw, Mapping):
        raise PlausibleError(f"{file}: metrics: expected a table")
    metrics = {str(m): _bounds(v, f"{file}: metrics.{m}") for m, v in metrics_raw.items()}
    default = _bounds(raw.get("default", {"min": -1e9, "max": 1e9}), f"{file}: default")
    attrs = raw.get("attrs", {})
    magnitude = attrs.get("max_magnitude", 1e12) if isinstance(attrs, Mapping) else None
    if isinstance(magnitude, bool) or not isinstance(magnitude, int | float) or not 0 < magnitude < math.inf:
        raise PlausibleError(f"{file}: attrs.max_magnitude: expected a positive finite number")
    return Plausible(metrics, default, float(magnitude))


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a record cannot be stored; `implausible` when its numbers, not its shape, are the trouble."""

    reason: str
    implausible: bool = False


_ID_NAMES = frozenset({"id", "key", "sku", "uuid"})
_NAME_NAMES = frozenset(
    {"name", "title", "subject", "label", "category", "brand", "status", "priority", "channel", "state"}
)


_KINDS: dict[str, str] = {}  # attr name → kind, filled as names are met (a few hundred at most)


def field_kind(name: str) -> str:
    """`id`, `name` or `text`, by the attr's name (`store_id`, `productId` → id; `brand_name` → name)."""
    lowered = name.lower()
    if lowered in _ID_NAMES or lowered.endswith(("_id", "_key", "_number")) or name.endswith("Id"):
        kind = "id"
    elif lowered in _NAME_NAMES or lowered.endswith(("_name", "name", "_title", "_status", "_category")):
        kind = "name"
    else:
        kind = "text"
    if len(_KINDS) < 10_000 and len(name) <= 64:  # vendor-made names cannot grow it without bound
        _KINDS[name] = kind
    return kind


def text_problem(value: str, limit: int, what: str) -> str:
    """Why a string is refused ("" when fine): too long, or not valid Unicode text."""
    if len(value) > limit:
        return f"{what}: {len(value):,} characters, over the limit of {limit:,}"
    if value.isascii() and "\x00" not in value:
        return ""
    bad = _BAD_TEXT.search(value)
    if bad is not None:
        char = bad.group()
        kind = "a NUL character" if char == "\x00" else f"a lone surrogate U+{ord(char):04X}"
        return f"{what}: invalid Unicode: {kind} at position {bad.start()}"
    return ""


@dataclass
class _Found:
    """A problem deep in a record's attrs; the path is built on the way out, only when there is one."""

    path: list[str]  # innermost first
    message: str  # what follows "path: "
    implausible: bool = False


class _Walk:
    """Checks a record's attrs in one pass: kinds, lengths, encoding, numbers, depth and total size.

    It runs on every record a pull reads, so it dispatches on exact types, leaves fine scalars
    without a call, and names the path only of what it refuses.
    """

    def __init__(self, limits: Limits, plausible: Plausible) -> None:
        self.limits = limits
        self.magnitude = plausible.attr_magnitude
        self.size = 0
        self.caps = {"id": limits.id_chars, "name": limits.name_chars, "text": limits.text_chars}

    def check(self, attrs: Any) -> Problem | None:
        found = self.value(attrs, "text", 0)
        if found is None:
            return None
        path = "attrs" + "".join(reversed(found.path))
        return Problem(f"{path}: {found.message}" if found.message else path, found.implausible)

    def value(self, value: Any, kind: str, depth: int) -> _Found | None:
        kind_of = type(value)
        if kind_of is str:
            self.size += len(value) + 2
            cap = self.caps[kind]
            if len(value) <= cap and value.isascii() and "\x00" not in value:
                return None
            reason = text_problem(value, cap, "")
            return _Found([], reason.removeprefix(": ")) if reason else None
        if kind_of is float or kind_of is int or kind_of is bool or value is None:
            self.size += 8
            if kind_of is float:
                return None if -self.magnitude <= value <= self.magnitude else self.number(value)
            if kind_of is int:
                if kind == "id":
                    return None if 0 <= value <= ID_MAX else _Found([], f"id {value} out of range", True)
                return None if -self.magnitude <= value <= self.magnitude else self.number(float(value))
            return None
        if kind_of in (dict, list, tuple) or isinstance(value, Mapping | list | tuple):
            if depth >= self.limits.depth:
                return _Found([], f"nested deeper than {self.limits.depth} levels")
            if isinstance(value, Mapping):
                return self.mapping(value, depth)
            for i, item in enumerate(value):
                found = self.value(item, kind, depth + 1)
                if found is not None:
                    found.path.append(f"[{i}]")
                    return found
                if self.size > self.limits.record_bytes:
                    return self.over()
            return None
        if isinstance(value, int | float | Decimal):
            return self.value(int(value) if isinstance(value, int) else float(value), kind, depth)
        return _Found([], f"unsupported value of type {type(value).__name__}")

    def mapping(self, value: Mapping[Any, Any], depth: int) -> _Found | None:
        id_cap, caps, kinds = self.limits.id_chars, self.caps, _KINDS
        for key, item in value.items():
            name = key if type(key) is str else str(key)
            if not (len(name) <= id_cap and name.isascii() and "\x00" not in name):
                reason = text_problem(name, id_cap, "a key")
                if reason:
                    return _Found([], reason)
            kind = kinds.get(name) or field_kind(name)
            kind_of = type(item)  # most values are checked here, without a call
            if kind_of is str and len(item) <= caps[kind] and item.isascii() and "\x00" not in item:
                self.size += len(name) + len(item) + 5
                continue
            if kind_of is float and -self.magnitude <= item <= self.magnitude:
                self.size += len(name) + 11
                continue
            self.size += len(name) + 3
            found = self.value(item, kind, depth + 1)
            if found is not None:
                found.path.append(f".{name}")
                return found
        return self.over() if self.size > self.limits.record_bytes else None

    def number(self, value: float) -> _Found | None:
        if not math.isfinite(value):
            return _Found([], f"not a finite number ({value})")
        if abs(value) > self.magnitude:
            return _Found([], f"{value:g} is implausible (beyond ±{self.magnitude:g})", True)
        return None

    def over(self) -> _Found:
        return _Found([], f"over {self.limits.record_bytes:,} bytes")


def _time_problem(moment: datetime, now: datetime, limits: Limits, what: str) -> Problem | None:
    if moment < EARLIEST:
        return Problem(f"{what}: {moment.isoformat()} is before {EARLIEST.year}", True)
    if moment > now + timedelta(days=limits.future_days):
        return Problem(f"{what}: {moment.isoformat()} is more than {limits.future_days:g} days ahead", True)
    return None


class Checker:
    """The record check of one source for one pull: limits, ranges and the run's time, prepared once."""

    def __init__(self, limits: Limits, plausible: Plausible, now: datetime) -> None:
        self.limits = limits
        self.plausible = plausible
        self.now = now
        self.latest = now + timedelta(days=limits.future_days)
        # Canonical cursors (`YYYY-MM-DDTHH:MM:SSZ`) compare as text: most need no parsing at all.
        self.earliest_text = iso_utc(EARLIEST)
        self.latest_text = iso_utc(self.latest)
        self.caps = (2 * limits.id_chars + 1, limits.id_chars, limits.name_chars)

    def problem(self, record: Record) -> Problem | None:
        """Why a connector's record may not be stored (None when it may), before the writer sees it."""
        limits = self.limits
        values = (record.key, record.store_id, record.stream)
        for value, what, cap in zip(values, ("key", "store_id", "stream"), self.caps, strict=True):
            if type(value) is not str:
                return Problem(f"{what}: expected text, got {type(value).__name__}")
            if not (len(value) <= cap and value.isascii() and "\x00" not in value):
                reason = text_problem(value, cap, what)
                if reason:
                    return Problem(reason)
        occurred = record.occurred_at
        if occurred.tzinfo is not None and not EARLIEST <= occurred <= self.latest:
            return _time_problem(occurred, self.now, limits, "occurred_at")
        cursor = record.cursor
        if cursor:
            canonical = len(cursor) == 20 and cursor.endswith("Z") and cursor.isascii()
            if not (canonical and self.earliest_text <= cursor <= self.latest_text):
                reason = text_problem(cursor, limits.name_chars, "cursor")
                if reason:
                    return Problem(reason)
                moment = cursor_time(cursor)
                if moment is not None:
                    found = _time_problem(moment, self.now, limits, "cursor")
                    if found is not None:
                        return found
        cap = limits.name_chars
        for fact in record.facts:
            both = fact.metric + fact.dimension
            if not (len(both) <= cap and both.isascii() and "\x00" not in both):
                reason = text_problem(fact.metric, limits.name_chars, "fact metric") or text_problem(
                    fact.dimension, limits.name_chars, f"fact {fact.metric} dimension"
                )
                if reason:
                    return Problem(reason)
            amount = fact.value
            if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount):
                return Problem(f"fact {fact.metric}: not a finite number ({amount!r})")
            low, high = self.plausible.range_of(fact.metric)
            if not low <= amount <= high:
                reason = f"fact {fact.metric}: {amount:g} is implausible (outside [{low:g}, {high:g}])"
                return Problem(reason, True)
        return _Walk(limits, self.plausible).check(record.attrs)


def record_problem(record: Record, limits: Limits, plausible: Plausible, now: datetime) -> Problem | None:
    """`Checker(limits, plausible, now).problem(record)`, for one record."""
    return Checker(limits, plausible, now).problem(record)


def store_problem(store: StoreRef, limits: Limits, plausible: Plausible) -> str:
    """Why a listed store may not enter the directory ("" when it may)."""
    for value, what, cap in (
        (store.store_id, "store_id", limits.id_chars),
        (store.name, "name", limits.name_chars),
        (store.state, "state", 8),
        (store.timezone, "timezone", 64),
    ):
        if not isinstance(value, str):
            return f"{what}: expected text, got {type(value).__name__}"
        reason = text_problem(value, cap, what)
        if reason:
            return reason
    if not store.store_id.strip() or any(c.isspace() or not c.isprintable() for c in store.store_id):
        return "store_id: empty or holds spaces or control characters"
    found = _Walk(limits, plausible).check(store.attrs)
    return found.reason if found is not None else ""


def clean_text(value: str, limit: int) -> str:
    """Text made storable: invalid Unicode replaced, cut to `limit` characters with a note of the rest."""
    if len(value) > limit:
        value = f"{value[:limit]}… ({len(value) - limit:,} more characters)"
    return _BAD_TEXT.sub("\ufffd", value)


def clip(value: Any, budget: int, depth: int = 0) -> Any:
    """A payload as JSON values of at most about `budget` characters, for a quarantine row.

    Strings are cut and their invalid Unicode replaced; long lists and objects keep their first
    entries; so a 10 MB string or a million-item list costs a few kilobytes in the quarantine.
    """
    if value is None or isinstance(value, bool | int):
        return value if not isinstance(value, int) or abs(value) < 2**63 else str(value)[:64]
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Decimal):
        return clip(float(value), budget, depth)
    if isinstance(value, str):
        return clean_text(value, max(16, budget // 4))  # room left for the fields beside it
    if isinstance(value, datetime):
        return value.isoformat()
    if depth >= 16:
        return "…"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        left = budget
        for key, item in value.items():
            if left <= 0:
                out["…"] = f"{len(value) - len(out)} more keys"
                break
            name = clean_text(str(key), 128)
            out[name] = clip(item, left, depth + 1)
            left -= len(name) + _size(out[name]) + 4  # quotes, colon, comma
        return out
    if isinstance(value, list | tuple):
        items: list[Any] = []
        left = budget
        for item in value:
            if left <= 0:
                items.append(f"… {len(value) - len(items)} more items")
                break
            items.append(clip(item, left, depth + 1))
            left -= _size(items[-1]) + 2
        return items
    return clean_text(repr(value), max(16, budget))


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str))


def bounded_payload(payload: Any, max_bytes: int) -> Any:
    """`clip`, then a hard cap: what is still larger becomes an excerpt of its JSON text."""
    clipped = clip(payload, max_bytes * 3 // 4)
    text = json.dumps(clipped, ensure_ascii=False, default=str)
    if len(text) <= max_bytes:
        return clipped
    return {"excerpt": text[:max_bytes], "clipped_from_chars": len(text)}
