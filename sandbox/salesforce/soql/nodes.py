"""The parsed form of a query: paths, literals, conditions, ordering."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Path:
    """A field reference such as `Id` or `Account__r.Owner.Name`, with where it starts in the text."""

    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class DateRange:
    """A relative date literal (`TODAY`, `LAST_N_DAYS:7`); resolved against the org's clock at run time."""

    name: str
    n: int | None = None


@dataclass(frozen=True)
class Literal:
    """kind is one of string, number, boolean, null, date, datetime, range."""

    kind: str
    value: Any
    pos: int
    like: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Compare:
    path: Path
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    path: Path
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    path: Path
    pattern: Literal


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class BoolOp:
    op: str
    operands: tuple[Condition, ...]


Condition = Compare | InList | Like | Not | BoolOp


@dataclass(frozen=True)
class OrderItem:
    path: Path
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    """`fields` is empty for `SELECT COUNT()`."""

    fields: tuple[Path, ...]
    count_only: bool
    sobject: str
    sobject_pos: int
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
