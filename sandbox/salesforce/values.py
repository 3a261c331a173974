"""Field values: checking what a client sends against the field's type, and Salesforce's wire forms."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.ids import normalize_id
from sandbox.salesforce.schema import NUMBER_TYPES, FieldDef

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def format_datetime(value: datetime) -> str:
    """Salesforce's JSON form: UTC, milliseconds, `+0000`."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_datetime(value: str) -> datetime:
    """Accepts the ISO 8601 forms clients send; a value without an offset is taken as UTC."""
    text = value.strip()
    if len(text) == 10:
        parsed = datetime.fromisoformat(text)
    else:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(value: str) -> date:
    text = value.strip()
    if len(text) > 10 and text[10] == "T":
        return parse_datetime(text).date()
    return date.fromisoformat(text)


def _type_error(f: FieldDef, raw: Any) -> RecordError:
    return RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.label}: value not of required type: {raw}", [f.name]
    )


def coerce(f: FieldDef, raw: Any) -> Any:
    """The stored form of `raw` (a JSON value or a Bulk CSV cell) for field `f`.

    Empty strings mean null, as in Salesforce; text forms of numbers and booleans are accepted, since
    Bulk CSV has nothing else. References are shape-checked here; whether the target exists is the
    store's job.
    """
    if raw is None or raw == "":
        return False if f.type == "boolean" else None
    kind = f.type
    if kind in NUMBER_TYPES:
        return _number(f, raw)
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise _type_error(f, raw)
    if kind == "date":
        if not isinstance(raw, str):
            raise _type_error(f, raw)
        try:
            return parse_date(raw).isoformat()
        except ValueError as exc:
            raise _type_error(f, raw) from exc
    if kind == "datetime":
        if not isinstance(raw, str):
            raise _type_error(f, raw)
        try:
            return format_datetime(parse_datetime(raw))
        except ValueError as exc:
            raise _type_error(f, raw) from exc
    if kind in ("id", "reference"):
        normalized = normalize_id(raw) if isinstance(raw, str) else None
        if normalized is None:
            raise RecordError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {raw}", [f.name])
        return normalized
    return _text(f, raw)


def _number(f: FieldDef, raw: Any) -> float | int:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _type_error(f, raw)
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation as exc:
        raise _type_error(f, raw) from exc
    if not number.is_finite():
        raise _type_error(f, raw)
    # Salesforce rounds to the field's scale on save, then checks the digits left of the point.
    rounded = number.quantize(Decimal(1).scaleb(-f.scale), rounding=ROUND_HALF_UP)
    integer_digits = f.precision - f.scale
    if f.precision and abs(rounded) >= Decimal(10) ** integer_digits:
        raise RecordError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{f.label}: value outside of valid range on numeric field: {raw}",
            [f.name],
        )
    if f.type == "int":
        return int(rounded)
    value = float(rounded)
    # -0.4 rounds to -0.0, which would otherwise travel as "-0.0" in JSON.
    return 0.0 if value == 0 else value


def _text(f: FieldDef, raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _type_error(f, raw)
    value = raw if isinstance(raw, str) else str(raw)
    if f.type == "picklist" and f.restricted and value not in f.picklist:
        raise RecordError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{f.label}: bad value for restricted picklist field: {value}",
            [f.name],
        )
    if f.length and len(value) > f.length:
        raise RecordError(
            "STRING_TOO_LONG",
            f"{f.label}: data value too large: {value[:80]} (max length={f.length})",
            [f.name],
        )
    return value
