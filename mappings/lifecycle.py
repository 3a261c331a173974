"""Shared pieces of the lifecycle jobs: file loading with readable issues, quarters, Task and flag records."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from configfiles import pydantic_issues, read_toml
from mappings import records, templates
from mappings.desired import Desired
from mappings.issues import MappingError, MappingIssue
from mappings.schema import validate_strict

TaskPriority = Literal["High", "Normal", "Low"]
Severity = Literal["Low", "Medium", "High", "Critical"]
OwnerRef = Literal["account:CSM__c", "account:OwnerId"]

TASK_KEY_FIELD = records.KEY_FIELD
FLAG_KEY_FIELD = records.KEY_FIELD
CLOSED_BY_PERSON = records.CLOSED_BY_PERSON
EDITED_BY_PERSON = records.EDITED_BY_PERSON


# -- file loading ---------------------------------------------------------------------------------
class Model(BaseModel):
    """Every lifecycle file model: immutable once loaded; an unknown key is an error, not silence."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


# One issue type for every mapping file: the loader's, so `csm-sync validate` prints them alike.
FileIssue = MappingIssue
FileError = MappingError


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], raw: Mapping[str, Any], label: str) -> tuple[M | None, list[FileIssue]]:
    """Validate raw TOML against a model; every error rendered with its key path."""
    try:
        return validate_strict(model, raw), []
    except ValidationError as exc:
        return None, pydantic_issues(label, exc, model=model, raw=raw, nouns=LITERAL_NOUNS)


def load_model(model: type[M], path: Path, label: str | None = None) -> M:
    """Read and validate one file, raising FileError with every issue."""
    label = label or path.as_posix()
    raw, issues = read_toml(path, label)
    if raw is None:
        raise FileError(issues)
    parsed, issues = parse_model(model, raw, label)
    if parsed is None:
        raise FileError(issues)
    return parsed


LITERAL_NOUNS: dict[tuple[str, ...], str] = {
    ("priority",): "a Task priority",
    ("severity",): "a severity",
    ("owner",): "an owner",
    ("group",): "a rule group",
    ("kind",): "a rule kind",
    ("status",): "a status source",
    ("source",): "a renewal source",
    ("direction",): "an MSRP direction",
    ("high_priority",): "a severity",
    ("unit",): "a unit",
    ("per",): "a limit period",
    ("signal",): "an expansion signal",
}


def unique(values: Sequence[str], what: str, label: str, where: str = "") -> list[FileIssue]:
    seen: set[str] = set()
    out: list[FileIssue] = []
    for v in values:
        if v in seen:
            out.append(FileIssue(label, where, message=f'{what} "{v}" appears twice'))
        seen.add(v)
    return out


# -- templates ------------------------------------------------------------------------------------
class TaskTemplate(Model):
    """A Task csm-sync creates; `{name}` placeholders are filled from the job's facts."""

    subject: str
    description: str = ""
    priority: TaskPriority = "Normal"
    due_in_days: int = 3
    owner: OwnerRef = "account:CSM__c"
    type: str = ""

    @field_validator("due_in_days")
    @classmethod
    def _days(cls, v: int) -> int:
        if not 0 <= v <= 365:
            raise ValueError("must be between 0 and 365 days")
        return v


def placeholders_ok(template: str, allowed: Sequence[str]) -> str:
    """'' when every placeholder is known, else a message naming the first problem."""
    _, problems = templates.placeholders(template)
    if problems:
        return f"bad placeholder: {problems[0]}"
    unknown = templates.unknown_placeholders(template, allowed)
    if unknown:
        return f"unknown placeholder {{{unknown[0][0]}}} (known: {', '.join(sorted(allowed))})"
    return ""


def load_templated(
    model: type[M],
    path: Path,
    placeholders: Mapping[str, Sequence[str]],
    check: Callable[[M, str], list[FileIssue]] | None = None,
) -> M:
    """Load a job's file and check its Task templates' placeholders (template field → names allowed).

    `check` adds the job's own checks; every issue of the file is raised together.
    """
    label = label_of(path)
    cfg = load_model(model, path, label)
    issues = [
        FileIssue(label, name, part, problem)
        for name, allowed in placeholders.items()
        for part in ("subject", "description")
        if (problem := placeholders_ok(getattr(getattr(cfg, name), part), allowed))
    ]
    issues += check(cfg, label) if check else []
    if issues:
        raise FileError(issues)
    return cfg


# -- owners, quarters, numbers --------------------------------------------------------------------
def owner_of(account: Mapping[str, Any], ref: str) -> str | None:
    """The User a Task goes to: the account's CSM (falling back to the owner) or the account owner."""
    if ref == "account:CSM__c":
        return account.get("CSM__c") or account.get("OwnerId") or None
    return account.get("OwnerId") or None


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    q: int

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def start(self) -> date:
        return date(self.year, 3 * self.q - 2, 1)

    @property
    def end(self) -> date:
        nxt = self.next()
        return nxt.start - timedelta(days=1)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.q == 4 else Quarter(self.year, self.q + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.q == 1 else Quarter(self.year, self.q - 1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        return f"{self.year}-Q{self.q}"


def as_date(value: Any) -> date | None:
    """A date from a Salesforce/ISO value (date, datetime or text); None when it is not one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (missing, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def pct(fraction: float | None) -> float | None:
    """A fraction as a Salesforce Percent field stores it (0.125 → 12.5), rounded to 2 places."""
    return None if fraction is None or not math.isfinite(fraction) else round(100.0 * fraction, 2)


def money(x: float) -> str:
    return f"${x:,.2f}"


# -- records: built by mappings/records.py, from a job's Task template ------------------------------
def task(
    key: str,
    account: Mapping[str, Any],
    template: TaskTemplate,
    values: Mapping[str, Any],
    today: date,
    *,
    priority: str | None = None,
    store_id: str = "",
    reason: str = "",
    due: date | None = None,
    keep_current: Sequence[str] = (),
) -> Desired:
    """The Task of `template` on the account, its placeholders filled from `values` (records.task)."""
    text = {k: str(v) for k, v in values.items()}
    return records.task(
        key,
        account_id=account.get("Id"),
        subject=templates.render(template.subject, text),
        description=templates.render(template.description, text),
        priority=priority or template.priority,
        due=due or today + timedelta(days=template.due_in_days),
        owner=owner_of(account, template.owner),
        type=template.type,
        store_id=store_id,
        reason=reason,
        keep_current=keep_current,
    )


def mapping_dir(source: Any) -> Path:
    """The folder of mapping files, from a path or from a loaded mapping set that knows its folder."""
    if isinstance(source, str | Path):
        return Path(source)
    for attr in ("directory", "dir", "root", "path"):
        value = getattr(source, attr, None)
        if isinstance(value, str | Path):
            return Path(value)
    raise TypeError(f"cannot find the mapping folder of {type(source).__name__}")


def label_of(path: Path) -> str:
    """How an issue names a file: relative to the project (`mappings/onboarding.toml`) when it can."""
    parts = path.parts
    if "mappings" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("mappings") :])
    return path.as_posix()
