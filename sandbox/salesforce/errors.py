"""Errors in Salesforce's two shapes: whole-request failures and per-record failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class RecordError(Exception):
    """One record was refused; collections and bulk report it per row, single-record calls as a 400."""

    def __init__(self, code: str, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = list(fields)

    def as_result(self) -> dict[str, Any]:
        """The `errors[]` entry of a collections result."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_bulk(self) -> str:
        """The `sf__Error` cell of a Bulk API 2.0 failed-results row."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


class ApiError(Exception):
    """The whole request failed; rendered as the REST error list `[{"message", "errorCode"}]`."""

    def __init__(self, status: int, code: str, message: str, fields: Sequence[str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = None if fields is None else list(fields)

    @classmethod
    def from_record(cls, err: RecordError, status: int = 400) -> ApiError:
        return cls(status, err.code, err.message, err.fields)

    def body(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")
