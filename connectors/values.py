"""Pure value parsing shared by the parsers: times, numbers, categories, dimensions, dotted paths."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CATEGORIES = (
    "flower",
    "pre_rolls",
    "vapes",
    "concentrates",
    "edibles",
    "beverages",
    "tinctures",
    "topicals",
    "accessories",
)
OTHER_CATEGORY = "other"

# Vendor category spellings → the metric vocabulary's lower-snake categories.
_CATEGORY_ALIASES: dict[str, str] = {
    "flower": "flower",
    "flowers": "flower",
    "bud": "flower",
    "buds": "flower",
    "shake": "flower",
    "prepack": "flower",
    "pre_roll": "pre_rolls",
    "pre_rolls": "pre_rolls",
    "preroll": "pre_rolls",
    "prerolls": "pre_rolls",
    "joint": "pre_rolls",
    "joints": "pre_rolls",
    "vape": "vapes",
    "vapes": "vapes",
    "vaporizer": "vapes",
    "vaporizers": "vapes",
    "cartridge": "vapes",
    "cartridges": "vapes",
    "cart": "vapes",
    "carts": "vapes",
    "concentrate": "concentrates",
    "concentrates": "concentrates",
    "extract": "concentrates",
    "extracts": "concentrates",
    "wax": "concentrates",
    "edible": "edibles",
    "edibles": "edibles",
    "gummies": "edibles",
    "chocolate": "edibles",
    "beverage": "beverages",
    "beverages": "beverages",
    "drink": "beverages",
    "drinks": "beverages",
    "tincture": "tinctures",
    "tinctures": "tinctures",
    "topical": "topicals",
    "topicals": "topicals",
    "accessory": "accessories",
    "accessories": "accessories",
    "gear": "accessories",
    "merch": "accessories",
    "merchandise": "accessories",
    "apparel": "accessories",
}

_FRACTION = re.compile(r"(\.\d{6})\d+")
_SLUG = re.compile(r"[^a-z0-9]+")
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Invalid(ValueError):
    """A field that fails validation; its message becomes the quarantine reason."""


def slug(value: str) -> str:
    return _SLUG.sub("_", value.strip().lower()).strip("_")


def category_slug(raw: object) -> str:
    """A vendor category (`EDIBLE`, `Pre-Rolls`, `Vaporizers`) as the vocabulary's category, else `other`."""
    if not isinstance(raw, str) or not raw.strip():
        return OTHER_CATEGORY
    return _CATEGORY_ALIASES.get(slug(raw), OTHER_CATEGORY)


def dimension(channel: str = "", category: str = "") -> str:
    """The vocabulary's dimension string, keys in fixed order (channel before category)."""
    parts = []
    if channel:
        parts.append(f"channel={channel}")
    if category:
        parts.append(f"category={category}")
    return ",".join(parts)


def zone(name: str) -> tzinfo:
    """A time zone by IANA name; raises Invalid for an unknown one."""
    try:
        return ZoneInfo(name) if name and name != "UTC" else UTC
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"unknown time zone {name!r}") from exc


def parse_time(value: object, tz: tzinfo = UTC, *, what: str = "time") -> datetime:
    """An ISO 8601 time as an aware datetime; naive times are read in `tz`, bare dates at noon in `tz`.

    Noon keeps a date on its day in every zone from UTC-12 to UTC+11, whatever zone later reads it.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, time(12), tzinfo=tz)
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{what}: expected an ISO 8601 time, got {_show(value)}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(r"\1", text)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(12), tzinfo=tz)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{what}: not an ISO 8601 time: {_show(value)}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def parse_day(value: object, *, what: str = "date") -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise Invalid(f"{what}: expected a date YYYY-MM-DD, got {_show(value)}")


def iso_utc(moment: datetime) -> str:
    """The canonical cursor form: UTC to the second, so cursors compare as strings."""
    return moment.astimezone(UTC).strftime(ISO_FORMAT)


def cursor_number(cursor: str) -> int | None:
    """A counting cursor (an incrementing id or sequence: plain digits) as its number, else None."""
    return int(cursor) if cursor.isascii() and cursor.isdigit() and len(cursor) <= 19 else None


def counting_cursor(value: object, *, what: str) -> str:
    """A whole number ≥ 0 read from an item (an id, a sequence, an epoch) as a counting cursor."""
    num = number(value, what=what)
    if num != int(num) or num >= 10**19:
        raise Invalid(f"{what}: expected a whole number for the cursor, got {_show(value)}")
    return str(int(num))


def ordered_cursor(cursor: str) -> bool:
    """Whether a cursor has an order (a time or a count), so the later of two can be kept."""
    return cursor_number(cursor) is not None or cursor_time(cursor) is not None


def cursor_time(cursor: str) -> datetime | None:
    """A cursor read back as a time, or None when the cursor is not a time (a counting cursor, a
    file ledger)."""
    if cursor_number(cursor) is not None:
        return None
    try:
        return parse_time(cursor)
    except Invalid:
        return None


def cursor_after(a: str, b: str) -> bool:
    """Whether cursor `a` is later than `b`: the one cursor comparison.

    Times compare as times, whatever their offset or precision (text order holds only for the
    canonical form); counting cursors (digits) as numbers; any other cursor (a file ledger, a digest)
    has no order, so any other value replaces it. An empty cursor is before everything.
    """
    if not a:
        return False
    if not b:
        return True
    na, nb = cursor_number(a), cursor_number(b)
    if na is not None and nb is not None:  # counting cursors compare as numbers ("10" after "9")
        return na > nb
    ta, tb = cursor_time(a), cursor_time(b)
    if ta is not None and tb is not None:
        return ta > tb
    return a != b


def later_cursor(a: str, b: str) -> str:
    """The later of two cursors (`cursor_after`); `a` when neither is later."""
    return b if cursor_after(b, a) else a


def shift_cursor(cursor: str, delta: timedelta) -> str:
    """A time cursor moved by `delta` (the lookback); any other cursor unchanged."""
    moment = cursor_time(cursor)
    return cursor if moment is None else iso_utc(moment + delta)


def number(value: object, *, what: str, minimum: float | None = 0.0, maximum: float | None = None) -> float:
    """A finite number (numeric strings accepted, booleans not), within bounds."""
    if isinstance(value, bool) or value is None:
        raise Invalid(f"{what}: expected a number, got {_show(value)}")
    if isinstance(value, int | float | Decimal):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise Invalid(f"{what}: expected a number, got {_show(value)}") from None
    else:
        raise Invalid(f"{what}: expected a number, got {_show(value)}")
    if not math.isfinite(result):
        raise Invalid(f"{what}: expected a finite number, got {_show(value)}")
    if minimum is not None and result < minimum:
        raise Invalid(f"{what}: must be ≥ {minimum:g}, got {result:g}")
    if maximum is not None and result > maximum:
        raise Invalid(f"{what}: must be ≤ {maximum:g}, got {result:g}")
    return result


def optional_number(value: object, *, what: str, minimum: float | None = 0.0) -> float | None:
    return None if value is None else number(value, what=what, minimum=minimum)


ID_MAX = 2**63 - 1  # beyond a signed 64-bit integer no vendor keys by it; a bigger one is a corruption
ID_MAX_CHARS = 4096  # a hard cap; the configured `limits.id_chars` is checked at the boundary


def ident(value: object, *, what: str) -> str:
    """An identifier: a non-empty string or an integer in 0..2^63-1, as a string.

    An integer outside that range would not round-trip through the vendor's own storage: ids of
    10^40 are corruption, and such records would merge under one key if they were kept.
    """
    if isinstance(value, bool):
        raise Invalid(f"{what}: expected an id, got {_show(value)}")
    if isinstance(value, int):
        if not 0 <= value <= ID_MAX:
            raise Invalid(f"{what}: id out of range (0 to 2^63-1): {_show(value)}")
        return str(value)
    if isinstance(value, str) and value.strip():
        if len(value) > ID_MAX_CHARS:
            raise Invalid(f"{what}: id of {len(value):,} characters, over {ID_MAX_CHARS:,}")
        return value.strip()
    raise Invalid(f"{what}: expected an id, got {_show(value)}")


def text(value: object, *, what: str, default: str | None = "") -> str:
    """An optional string field; None gives the default (or raises when there is none)."""
    if value is None and default is not None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise Invalid(f"{what}: expected text, got {_show(value)}")


def flag(value: object, *, what: str, default: bool | None = None) -> bool:
    if value is None and default is not None:
        return default
    if isinstance(value, bool):
        return value
    raise Invalid(f"{what}: expected true or false, got {_show(value)}")


def mapping(value: object, *, what: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise Invalid(f"{what}: expected an object, got {_show(value)}")


def items_list(value: object, *, what: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise Invalid(f"{what}: expected a list, got {_show(value)}")


_MISSING = object()


def dig(body: object, path: str, default: object = _MISSING) -> Any:
    """The value at a dotted path (`data.ticketList`); "" is the body itself. KeyError when absent."""
    node: Any = body
    if not path:
        return node
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif default is not _MISSING:
            return default
        else:
            raise KeyError(path)
    return node


_PLAIN = frozenset({str, int, bool, type(None)})  # returned as they are, at any depth within the limit
JSON_DEPTH = 50  # deeper values are stored as their repr


def json_safe(value: object, depth: int = 0) -> Any:
    """A payload as plain JSON values (dates as ISO text, decimals as floats), for quarantine rows.

    Every record's attrs pass through it on their way to the state, so a plain dict, list or tuple's
    plain members (finite floats too: inf - inf is nan) are kept without a call each; anything else
    takes the general path (`_json_safe`).
    """
    if depth <= JSON_DEPTH:
        if type(value) in _PLAIN:
            return value
        if type(value) is float:
            return value if math.isfinite(value) else repr(value)
    if depth < JSON_DEPTH:
        if type(value) is dict:
            return {
                (k if type(k) is str else str(k)): (
                    v if type(v) in _PLAIN or (type(v) is float and v - v == 0.0) else json_safe(v, depth + 1)
                )
                for k, v in value.items()
            }
        if type(value) is list or type(value) is tuple:
            return [
                v if type(v) in _PLAIN or (type(v) is float and v - v == 0.0) else json_safe(v, depth + 1)
                for v in value
            ]
    return _json_safe(value, depth)


def _json_safe(value: object, depth: int) -> Any:
    if depth > JSON_DEPTH:
        return repr(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    return repr(value)


def _show(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
