"""sObject Collections: up to 200 records per call, per-record results in request order, allOrNone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sandbox.salesforce.errors import ApiError, RecordError
from sandbox.salesforce.faults import Dice
from sandbox.salesforce.ids import normalize_id
from sandbox.salesforce.schema import FieldDef, ObjectDef
from sandbox.salesforce.store import MultipleMatches, Store, UnknownFieldError

MAX_RECORDS = 200
ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)

Result = dict[str, Any]


class _RollBack(Exception):
    """Raised inside the savepoint so the store undoes an all-or-none request that had a failure."""


def _records(body: Any) -> tuple[list[Any], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be an object with a records array")
    records = body["records"]
    if len(records) > MAX_RECORDS:
        raise _too_many()
    return records, bool(body.get("allOrNone", False))


def _too_many() -> ApiError:
    return ApiError(
        400,
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
    )


def _failure(err: RecordError, record_id: str | None = None) -> Result:
    result: Result = {"success": False, "errors": [err.as_result()]}
    if record_id:
        result = {"id": record_id} | result
    return result


def _no_id(_item: Any) -> str | None:
    return None


def _run(
    store: Store,
    dice: Dice,
    items: Sequence[Any],
    all_or_none: bool,
    apply: Callable[[Any], Result],
    id_of: Callable[[Any], str | None] = _no_id,
) -> list[Result]:
    """Applies each item in order; with allOrNone a single failure undoes every write of the request."""
    results: list[Result] = []
    failed = False
    try:
        # Always a savepoint: a request refused whole (unknown column) must leave nothing behind.
        with store.atomic():
            for item in items:
                try:
                    if dice.locked():
                        raise RecordError(
                            "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"
                        )
                    results.append(apply(item))
                except UnknownFieldError as err:
                    # Salesforce refuses the whole request when a body names an unknown column.
                    raise ApiError.from_record(err) from err
                except RecordError as err:
                    failed = True
                    results.append(_failure(err, id_of(item)))
            if all_or_none and failed:
                raise _RollBack
    except _RollBack:
        results = [
            r if not r["success"] else _failure(ROLLED_BACK, id_of(item))
            for r, item in zip(results, items, strict=True)
        ]
    return results


def _object_of(store: Store, record: Any) -> tuple[ObjectDef, dict[str, Any]]:
    if not isinstance(record, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
    attributes = record.get("attributes")
    name = attributes.get("type") if isinstance(attributes, dict) else None
    if not name:
        raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
    obj = store.schema.get(str(name))
    if obj is None:
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return obj, record


def create(store: Store, dice: Dice, body: Any) -> list[Result]:
    records, all_or_none = _records(body)
    typed = [_object_of(store, r) for r in records]
    for _obj, record in typed:
        if any(k.lower() == "id" for k in record):
            raise ApiError(
                400, "INVALID_FIELD", "Records with an Id cannot be created; use PATCH to update them"
            )

    def apply(item: tuple[ObjectDef, dict[str, Any]]) -> Result:
        obj, record = item
        return {"id": store.create(obj, record), "success": True, "errors": []}

    return _run(store, dice, typed, all_or_none, apply)


def update(store: Store, dice: Dice, body: Any) -> list[Result]:
    records, all_or_none = _records(body)
    typed = [_object_of(store, r) for r in records]

    def id_of(item: tuple[ObjectDef, dict[str, Any]]) -> str | None:
        raw_id = next((v for k, v in item[1].items() if k.lower() == "id"), None)
        return normalize_id(raw_id) if isinstance(raw_id, str) else None

    def apply(item: tuple[ObjectDef, dict[str, Any]]) -> Result:
        obj, record = item
        record_id = id_of(item)
        if record_id is None:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        store.update(obj, record_id, {k: v for k, v in record.items() if k.lower() != "id"})
        return {"id": record_id, "success": True, "errors": []}

    return _run(store, dice, typed, all_or_none, apply, id_of)


def upsert(store: Store, dice: Dice, obj: ObjectDef, key_field: FieldDef, body: Any) -> list[Result]:
    records, all_or_none = _records(body)
    for record in records:
        if not isinstance(record, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
        attributes = record.get("attributes")
        declared = attributes.get("type") if isinstance(attributes, dict) else None
        if declared and str(declared).lower() != obj.name.lower():
            raise ApiError(400, "INVALID_TYPE", f"Record type {declared} does not match {obj.name}")

    def key_of(record: Mapping[str, Any]) -> str | None:
        value = next((v for k, v in record.items() if k.lower() == key_field.name.lower()), None)
        if value in (None, ""):
            return None
        text = str(value)
        return text if key_field.case_sensitive else text.lower()

    counts = Counter(k for r in records if (k := key_of(r)) is not None)

    def apply(record: dict[str, Any]) -> Result:
        key = key_of(record)
        if key is None:
            raise RecordError("MISSING_ARGUMENT", f"{key_field.name} not specified", [key_field.name])
        raw_key = str(next(v for k, v in record.items() if k.lower() == key_field.name.lower()))
        if counts[key] > 1:
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {raw_key}", [key_field.name]
            )
        try:
            record_id, created = store.upsert(obj, key_field, raw_key, record)
        except MultipleMatches as err:
            raise RecordError(err.code, err.message, err.fields) from err
        return {"id": record_id, "success": True, "errors": [], "created": created}

    return _run(store, dice, records, all_or_none, apply)


def delete(store: Store, dice: Dice, ids: Sequence[str], all_or_none: bool) -> list[Result]:
    if len(ids) > MAX_RECORDS:
        raise _too_many()

    def apply(raw_id: str) -> Result:
        record_id = normalize_id(raw_id)
        if record_id is None:
            raise RecordError("MALFORMED_ID", f"malformed id {raw_id}")
        store.delete(record_id)
        return {"id": record_id, "success": True, "errors": []}

    return _run(store, dice, ids, all_or_none, apply, normalize_id)


def retrieve(
    store: Store, obj: ObjectDef, ids: Sequence[str], fields: Sequence[str], version: str
) -> list[Any]:
    """`GET /composite/sobjects/{type}?ids=…&fields=…`: a record or null per id, in order."""
    chosen = []
    for name in fields:
        f = obj.field(name)
        if f is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'")
        chosen.append(f.name)
    out: list[Any] = []
    for raw_id in ids:
        found = store.get(raw_id)
        if found is None or found[0] is not obj:
            out.append(None)
            continue
        rec = found[1]
        url = f"/services/data/v{version}/sobjects/{obj.name}/{rec['Id']}"
        out.append({"attributes": {"type": obj.name, "url": url}} | {name: rec.get(name) for name in chosen})
    return out
