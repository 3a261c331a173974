"""Shared pieces of the lifecycle jobs: file loading with readable issues, quarters, Task and flag records."""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from mappings import records, templates
from mappings.desired import Desired
from mappings.load import TYPE_WORDS, MappingError, MappingIssue, finite_message
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
_ITEM_NAMES = ("code", "id", "name", "brand", "signal")


def read_toml(path: Path, label: str) -> tuple[dict[str, Any] | None, list[FileIssue]]:
    """The file's TOML table, or the issue saying why it could not be read."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh), []
    except FileNotFoundError:
        return None, [FileIssue(label, message="file not found")]
    except tomllib.TOMLDecodeError as exc:
        text = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", text)
        what = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", text)
        where = f"line {m.group(1)}, column {m.group(2)}" if m else "end of file"
        return None, [
            FileIssue(label, path=where, message=f"TOML syntax error: {what[:1].lower() + what[1:]}")
        ]


def parse_model(model: type[M], raw: Mapping[str, Any], label: str) -> tuple[M | None, list[FileIssue]]:
    """Validate raw TOML against a model; every error rendered with its key path."""
    try:
        return validate_strict(model, raw), []
    except ValidationError as exc:
        issues: list[FileIssue] = []
        for e in exc.errors():
            where, path = locate(raw, e["loc"])
            if e.get("type") == "extra_forbidden":
                where, path = locate(raw, e["loc"][:-1])
                path = ".".join(p for p in (path, str(e["loc"][-1])) if p)
            issue = FileIssue(label, where, path, message(e))
            if issue not in issues:
                issues.append(issue)
        return None, issues


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


def locate(raw: Any, loc: Sequence[int | str]) -> tuple[str, str]:
    """`("milestones", 2, "due_days")` → (`milestone "go_live"`, `due_days`) when the item has a code."""
    where = ""
    rest: list[str] = []
    node = raw
    for i, part in enumerate(loc):
        if isinstance(part, int) and i > 0 and isinstance(loc[i - 1], str) and len(rest) <= 1:
            parent = str(loc[i - 1])
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            name = next((item[k] for k in _ITEM_NAMES if isinstance(item, dict) and k in item), None)
            singular = parent[:-1] if parent.endswith("s") else parent
            prefix = "".join(f"{r}." for r in rest[:-1])
            where = prefix + (f'{singular} "{name}"' if name is not None else f"{parent}[{part}]")
            rest = []
        else:
            rest.append(str(part))
        if isinstance(node, dict):
            node = node.get(part) if isinstance(part, str) else None
        elif isinstance(node, list) and isinstance(part, int):
            node = node[part] if 0 <= part < len(node) else None
        else:
            node = None
    return where, ".".join(rest)


LITERAL_NOUNS: dict[str, str] = {
    "priority": "a Task priority",
    "severity": "a severity",
    "owner": "an owner",
    "group": "a rule group",
    "kind": "a rule kind",
    "status": "a status source",
    "source": "a renewal source",
    "direction": "an MSRP direction",
    "high_priority": "a severity",
    "unit": "a unit",
    "per": "a limit period",
    "signal": "an expansion signal",
}


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def message(err: Mapping[str, Any]) -> str:
    """Pydantic's error as a sentence an admin can act on, in the mapping loader's wording."""
    kind = err.get("type", "")
    value = err.get("input")
    loc = [p for p in err.get("loc", ()) if isinstance(p, str)]
    ctx = err.get("ctx", {}) or {}
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        noun = LITERAL_NOUNS.get(loc[-1] if loc else "", "allowed")
        return f"{_show(value)} is not {noun} ({', '.join(expected)})"
    if kind in TYPE_WORDS:
        return f"expected {TYPE_WORDS[kind]}, got {_show(value)}"
    if kind == "finite_number":
        return finite_message(value)
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {
            "greater_than": "greater than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }[kind]
        bound = next(iter(ctx.values()), "")
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {words} {bound}, got {_show(value)}"
    if kind == "string_too_short":
        return f"expected at least {ctx.get('min_length')} characters, got {_show(value)}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} characters or items, got {_show(value)}"
    return str(err.get("msg", "invalid")).removeprefix("Value error, ")


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
