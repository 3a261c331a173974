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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.base import Record, StoreRef
from connectors.values import ID_MAX, cursor_time

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
    try:
        raw = tomllib.loads(file.read_text())
    except FileNotFoundError:
        raise PlausibleError(f"{file}: plausible-ranges file not found (limits.plausible_file)") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlausibleError(f"{file}: not valid TOML: {exc}") from None
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


@lru_cache(maxsize=4096)
def field_kind(name: str) -> str:
    """`id`, `name` or `text`, by the attr's name (`store_id`, `productId` → id; `brand_name` → name)."""
    lowered = name.lower()
    if lowered in _ID_NAMES or lowered.endswith(("_id", "_key", "_number")) or name.endswith("Id"):
        return "id"
    if lowered in _NAME_NAMES or lowered.endswith(("_name", "name", "_title", "_status", "_category")):
        return "name"
    return "text"


def text_problem(value: str, limit: int, what: str) -> str:
    """Why a string is refused ("" when fine): too long, or not valid Unicode text."""
    if len(value) > limit:
        return f"{what}: {len(value):,} characters, over the limit of {limit:,}"
    bad = _BAD_TEXT.search(value)
    if bad is not None:
        char = bad.group()
        kind = "a NUL character" if char == "\x00" else f"a lone surrogate U+{ord(char):04X}"
        return f"{what}: invalid Unicode: {kind} at position {bad.start()}"
    return ""


class _Walk:
    """Checks a record's attrs in one pass: kinds, lengths, encoding, numbers, depth and total size."""

    def __init__(self, limits: Limits, plausible: Plausible) -> None:
        self.limits = limits
        self.magnitude = plausible.attr_magnitude
        self.size = 0
        self.caps = {"id": limits.id_chars, "name": limits.name_chars, "text": limits.text_chars}

    def value(self, value: Any, path: str, kind: str, depth: int) -> Problem | None:
        if isinstance(value, str):
            self.size += len(value) + 2
            reason = text_problem(value, self.caps[kind], path)
            return Problem(reason) if reason else None
        if value is None or isinstance(value, bool):
            self.size += 4
            return None
        if isinstance(value, int):
            self.size += 8
            if kind == "id":
                return None if 0 <= value <= ID_MAX else Problem(f"{path}: id {value} out of range", True)
            return self.number(float(value), path)
        if isinstance(value, float | Decimal):
            self.size += 8
            return self.number(float(value), path)
        if depth >= self.limits.depth:
            return Problem(f"{path}: nested deeper than {self.limits.depth} levels")
        if isinstance(value, Mapping):
            for key, item in value.items():
                name = str(key)
                reason = text_problem(name, self.limits.id_chars, f"{path}: a key")
                if reason:
                    return Problem(reason)
                self.size += len(name) + 3
                found = self.value(item, f"{path}.{name}", field_kind(name), depth + 1)
                if found is not None:
                    return found
            return self.over() if self.size > self.limits.record_bytes else None
        if isinstance(value, list | tuple):
            for i, item in enumerate(value):
                found = self.value(item, f"{path}[{i}]", kind, depth + 1)
                if found is not None:
                    return found
                if self.size > self.limits.record_bytes:
                    return self.over()
            return None
        return Problem(f"{path}: unsupported value of type {type(value).__name__}")

    def number(self, value: float, path: str) -> Problem | None:
        if not math.isfinite(value):
            return Problem(f"{path}: not a finite number ({value})")
        if abs(value) > self.magnitude:
            return Problem(f"{path}: {value:g} is implausible (beyond ±{self.magnitude:g})", True)
        return None

    def over(self) -> Problem:
        return Problem(f"attrs: over {self.limits.record_bytes:,} bytes")


def _time_problem(moment: datetime, now: datetime, limits: Limits, what: str) -> Problem | None:
    if moment < EARLIEST:
        return Problem(f"{what}: {moment.isoformat()} is before {EARLIEST.year}", True)
    if moment > now + timedelta(days=limits.future_days):
        return Problem(f"{what}: {moment.isoformat()} is more than {limits.future_days:g} days ahead", True)
    return None


def record_problem(record: Record, limits: Limits, plausible: Plausible, now: datetime) -> Problem | None:
    """Why a connector's record may not be stored (None when it may), checked before the writer sees it."""
    for value, what, cap in (
        (record.key, "key", 2 * limits.id_chars + 1),  # keys carry the store: `{store}:{id}`
        (record.store_id, "store_id", limits.id_chars),
        (record.stream, "stream", limits.name_chars),
    ):
        if not isinstance(value, str):
            return Problem(f"{what}: expected text, got {type(value).__name__}")
        reason = text_problem(value, cap, what)
        if reason:
            return Problem(reason)
    if record.occurred_at.tzinfo is not None:
        found = _time_problem(record.occurred_at, now, limits, "occurred_at")
        if found is not None:
            return found
    if record.cursor:
        reason = text_problem(record.cursor, limits.name_chars, "cursor")
        if reason:
            return Problem(reason)
        moment = cursor_time(record.cursor)
        if moment is not None:
            found = _time_problem(moment, now, limits, "cursor")
            if found is not None:
                return found
    for fact in record.facts:
        reason = text_problem(fact.metric, limits.name_chars, "fact metric") or text_problem(
            fact.dimension, limits.name_chars, f"fact {fact.metric} dimension"
        )
        if reason:
            return Problem(reason)
        amount = fact.value
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount):
            return Problem(f"fact {fact.metric}: not a finite number ({amount!r})")
        low, high = plausible.range_of(fact.metric)
        if not low <= amount <= high:
            reason = f"fact {fact.metric}: {amount:g} is implausible (outside [{low:g}, {high:g}])"
            return Problem(reason, True)
    return _Walk(limits, plausible).value(record.attrs, "attrs", "text", 0)


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
    found = _Walk(limits, plausible).value(store.attrs, "attrs", "text", 0)
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
