"""Desired state: what a mapping says Salesforce should hold, and guards that leave people's edits alone."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

GuardOp = Literal["eq", "ne", "in", "truthy", "ge", "gt", "ne_field"]


@dataclass(frozen=True, slots=True)
class Guard:
    """A condition on the record's current value under which csm-sync leaves the record alone.

    Guards are how people keep ownership: a Task a CSM closed (`IsClosed truthy`), a flag snoozed
    until a date (`Snoozed_Until__c ge <today>`), a score a CSM overrode.
    """

    field: str
    op: GuardOp
    value: Any = None
    why: str = ""

    @property
    def reads(self) -> tuple[str, ...]:
        """The record's fields the guard looks at (`ne_field` compares two of them)."""
        return (self.field, str(self.value)) if self.op == "ne_field" else (self.field,)

    def holds(self, current: Mapping[str, Any]) -> bool:
        have = current.get(self.field)
        if self.op == "truthy":
            return bool(have)
        if self.op == "ne_field":  # e.g. LastModifiedById ≠ CreatedById: someone else edited it since
            other = current.get(str(self.value))
            return have not in (None, "") and other not in (None, "") and not same(have, other)
        if have is None:
            return False
        if self.op == "eq":
            return bool(same(have, self.value))
        if self.op == "ne":
            return not same(have, self.value)
        if self.op == "in":
            return any(same(have, v) for v in self.value)
        left, right = _comparable(have), _comparable(self.value)
        if self.op == "ge":
            return bool(left >= right)
        return bool(left > right)


@dataclass(frozen=True, slots=True)
class Desired:
    """What one Salesforce record should look like, keyed by a deterministic external ID."""

    sobject: str
    key_field: str
    key: str
    fields: Mapping[str, Any]  # kept in step: sent whenever they differ from Salesforce
    create_only: Mapping[str, Any] = field(default_factory=dict)  # set on create; people may edit later
    touch: Mapping[str, Any] = field(default_factory=dict)  # sent only along with another change
    guards: tuple[Guard, ...] = ()
    account_key: str = ""  # the store the record belongs to: ordering and lock-friendly grouping
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Managed:
    """The records a job owns in Salesforce: an open one that is no longer desired gets closed."""

    sobject: str
    key_field: str
    is_open: Mapping[str, Any]  # field -> value an open record has, e.g. {"Status__c": "Open"}
    close_fields: Mapping[str, Any]  # what closing writes, e.g. {"Status__c": "Resolved", ...}
    guards: tuple[Guard, ...] = ()
    reason: str = "condition cleared"
    key_prefix: str = ""  # only keys starting with this belong to the job (jobs share Task)
    parent_field: str = ""  # the Account lookup (Account__c, WhatId, AccountId): scopes reads to a shard

    def owns(self, key: str) -> bool:
        return key.startswith(self.key_prefix)


def same(a: Any, b: Any) -> bool:
    """Equality as Salesforce sees it: None equals "", numbers by value, times to the second."""
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) if {type(a), type(b)} <= {bool} else a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, str) and isinstance(b, str) and a != b:
        ta, tb = _as_time(a), _as_time(b)
        if ta is not None and tb is not None:
            return ta == tb
    return bool(a == b)


def _as_time(s: str) -> datetime | None:
    if len(s) < 19 or s[4] != "-" or s[10] != "T":
        return None
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(microsecond=0)


def _comparable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v
