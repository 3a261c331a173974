"""`POST /composite`: up to 25 subrequests in one API call, chained by `@{ref.field}` references."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.rest import Call, Reply

MAX_SUBREQUESTS = 25
_REFERENCE = re.compile(r"@\{([^}]+)\}")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_ALLOWED = ("sobjects", "query", "queryall", "composite/sobjects")
_REQUIRED = ("method", "url", "referenceId")
HALTED = "The transaction was rolled back since another operation in the same transaction failed."


class _Unresolved(Exception):
    def __init__(self, expression: str, reference_id: str) -> None:
        super().__init__(expression)
        self.expression = expression
        self.reference_id = reference_id


class _RollBack(Exception):
    pass


def _lookup(value: Any, path: str) -> Any:
    for name, index in _STEP.findall(path):
        if name:
            if not isinstance(value, dict) or name not in value:
                raise KeyError(path)
            value = value[name]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                raise KeyError(path)
            value = value[int(index)]
    return value


class _References:
    """Bodies of earlier subrequests, for resolving `@{refAccount.id}` in later URLs and bodies."""

    def __init__(self) -> None:
        self.bodies: dict[str, Any] = {}

    def value(self, expression: str) -> Any:
        ref = re.split(r"[.\[]", expression, maxsplit=1)[0]
        if ref not in self.bodies:
            raise _Unresolved(expression, ref)
        rest = expression[len(ref) :].lstrip(".")
        try:
            return _lookup(self.bodies[ref], rest) if rest else self.bodies[ref]
        except KeyError as exc:
            raise _Unresolved(expression, ref) from exc

    def substitute(self, value: Any) -> Any:
        if isinstance(value, str):
            whole = _REFERENCE.fullmatch(value)
            if whole:
                return self.value(whole.group(1))
            return _REFERENCE.sub(lambda m: str(self.value(m.group(1))), value)
        if isinstance(value, list):
            return [self.substitute(v) for v in value]
        if isinstance(value, dict):
            return {k: self.substitute(v) for k, v in value.items()}
        return value


def run(
    call: Call, dispatch: Callable[[Call], Reply], atomic: Callable[[], AbstractContextManager[None]]
) -> Reply:
    body = call.json()
    subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
    if not isinstance(subrequests, list) or not subrequests:
        raise ApiError(400, "INVALID_API_INPUT", "compositeRequest must be a non-empty array")
    if len(subrequests) > MAX_SUBREQUESTS:
        raise ApiError(
            400, "INVALID_API_INPUT", f"A composite request may contain at most {MAX_SUBREQUESTS} subrequests"
        )
    seen: set[str] = set()
    for sub in subrequests:
        if not isinstance(sub, dict) or not all(isinstance(sub.get(k), str) for k in _REQUIRED):
            raise ApiError(400, "INVALID_API_INPUT", "Each subrequest needs method, url and referenceId")
        if sub["referenceId"] in seen:
            raise ApiError(400, "INVALID_API_INPUT", f"Duplicate referenceId: {sub['referenceId']}")
        seen.add(sub["referenceId"])
    all_or_none = bool(body.get("allOrNone", False))
    refs = _References()
    responses: list[dict[str, Any]] = []
    try:
        with atomic() if all_or_none else nullcontext():
            for sub in subrequests:
                reply = _one(call, sub, refs, dispatch)
                responses.append(_entry(sub, reply))
                if reply.status < 400:
                    refs.bodies[sub["referenceId"]] = reply.body
                elif all_or_none:
                    raise _RollBack
    except _RollBack:
        # The failing subrequest keeps its error; everything else is reported as rolled back.
        failed_at = len(responses) - 1
        halted = Reply(400, [{"errorCode": "PROCESSING_HALTED", "message": HALTED}])
        responses = [
            responses[i] if i == failed_at else _entry(sub, halted) for i, sub in enumerate(subrequests)
        ]
    return Reply(200, {"compositeResponse": responses})


def _one(parent: Call, sub: dict[str, Any], refs: _References, dispatch: Callable[[Call], Reply]) -> Reply:
    try:
        url = refs.substitute(sub["url"])
        payload = refs.substitute(sub.get("body"))
    except _Unresolved as unresolved:
        message = (
            f"Invalid reference specified. No value for {unresolved.expression} found in "
            f"{unresolved.reference_id}. Provided referenceId ({unresolved.reference_id}) must be an earlier "
            "successful subrequest."
        )
        return Reply(400, [{"errorCode": "PROCESSING_HALTED", "message": message}])
    headers = dict(parent.headers) | {k.lower(): str(v) for k, v in (sub.get("httpHeaders") or {}).items()}
    headers["content-type"] = "application/json"
    body = b"" if payload is None else json.dumps(payload).encode()
    call = Call.from_url(sub["method"], str(url), headers, body, parent.base_url)
    if call is None or not "/".join(call.segments).lower().startswith(_ALLOWED):
        message = f"The resource {url} is not supported in a composite request"
        return Reply(400, [{"errorCode": "INVALID_API_INPUT", "message": message}])
    return dispatch(call)


def _entry(sub: dict[str, Any], reply: Reply) -> dict[str, Any]:
    headers: dict[str, str] = {}
    if reply.status == 201 and isinstance(reply.body, dict) and "id" in reply.body:
        url = str(sub["url"]).split("?", 1)[0].rstrip("/")
        headers["Location"] = f"{url}/{reply.body['id']}" if sub["method"].upper() == "POST" else url
    return {
        "body": reply.body,
        "httpHeaders": headers,
        "httpStatusCode": reply.status,
        "referenceId": sub["referenceId"],
    }
