"""The morning brief's content (pure): what changed in one CSM's book, worded from `mappings/digest.toml`.

Kept apart from reading the org and sending (jobs/digest.py), so the content is a function of the book,
the baseline the last brief saw and the day: tested without an org, and the same on a rerun.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from mappings.lifecycle import FileError, FileIssue, Model, label_of, load_model
from mappings.templates import placeholders, render, unknown_placeholders

FILE = "digest.toml"
SECTIONS = (
    "new_red",
    "score_drops",
    "flags_opened",
    "flags_resolved",
    "renewals",
    "overdue_milestones",
    "tasks_due_today",
)
LINE_FIELDS: dict[str, tuple[str, ...]] = {
    "new_red": ("account", "store", "score", "was_band", "was_score", "drivers"),
    "score_drops": ("account", "store", "score", "was_score", "drop", "band", "drivers"),
    "flags_opened": ("account", "store", "flag", "severity", "category"),
    "flags_resolved": ("account", "store", "flag", "severity", "category"),
    "renewals": ("account", "store", "contract", "end", "days", "band", "score"),
    "overdue_milestones": ("account", "store", "milestone", "due", "days", "status"),
    "tasks_due_today": ("account", "subject", "priority"),
}
BRIEF_FIELDS = ("first_name", "csm", "today", "since", "accounts", *SECTIONS)


class Section(Model):
    heading: str
    line: str


class Wording(Model):
    subject: str
    greeting: str
    intro: str
    nothing: str
    footer: str
    more: str
    new_red: Section
    score_drops: Section
    flags_opened: Section
    flags_resolved: Section
    renewals: Section
    overdue_milestones: Section
    tasks_due_today: Section


class DigestFile(Model):
    enabled: bool = True
    channel: Literal["email", "chatter"] = "email"
    score_drop: int = Field(10, ge=1, le=100)
    renewal_days: int = Field(30, ge=1, le=365)
    max_lines: int = Field(12, ge=1, le=200)
    wording: Wording


def _template_issues(cfg: DigestFile, label: str) -> list[FileIssue]:
    """Every placeholder a sentence uses must be one its line offers; malformed braces are named."""
    w = cfg.wording
    checks: list[tuple[str, str, Sequence[str]]] = [
        (f"wording.{k}", getattr(w, k), BRIEF_FIELDS)
        for k in ("subject", "greeting", "intro", "nothing", "footer")
    ]
    checks.append(("wording.more", w.more, ("count",)))
    for name in SECTIONS:
        section: Section = getattr(w, name)
        checks.append((f"wording.{name}.heading", section.heading, BRIEF_FIELDS))
        checks.append((f"wording.{name}.line", section.line, LINE_FIELDS[name]))
    issues: list[FileIssue] = []
    for key, template, allowed in checks:
        _, problems = placeholders(template)
        issues += [FileIssue(label, path=key, message=p) for p in problems]
        for name, close in unknown_placeholders(template, allowed):
            hint = f"; did you mean {{{close}}}?" if close else f"; this line may use {', '.join(allowed)}"
            issues.append(FileIssue(label, path=key, message=f"unknown placeholder {{{name}}}{hint}"))
    return issues


def load(directory: Path) -> DigestFile:
    """The digest file of a mapping folder, with every problem of it raised together (exit 2 at the CLI)."""
    path = directory / FILE
    label = label_of(path)
    cfg = load_model(DigestFile, path, label)
    issues = _template_issues(cfg, label)
    if issues:
        raise FileError(issues)
    return cfg


# -- what a brief is made of -----------------------------------------------------------------------


@dataclass(frozen=True)
class Csm:
    id: str
    name: str
    first_name: str
    email: str


@dataclass
class Book:
    """One CSM's book as Salesforce has it now (rows as queried), and what their last brief saw."""

    accounts: list[dict[str, Any]]
    flags: list[dict[str, Any]] = field(default_factory=list)
    contracts: list[dict[str, Any]] = field(default_factory=list)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    baseline: Mapping[str, tuple[float | None, str]] = field(
        default_factory=dict
    )  # account Id → (score, band)


@dataclass(frozen=True)
class Brief:
    csm: Csm
    day: date
    subject: str
    body: str
    counts: dict[str, int]
    seen: dict[str, tuple[float | None, str]]  # what this brief saw, the next one's baseline

    @property
    def empty(self) -> bool:
        return not any(self.counts.values())


def _num(value: Any) -> str:
    if value is None or value == "":
        return "—"
    f = float(value)
    return str(int(f)) if f.is_integer() else f"{f:.1f}"


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":  # Salesforce's +0000
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text)


def lines(book: Book, cfg: DigestFile, today: date, since: datetime) -> dict[str, list[dict[str, str]]]:
    """Each section's items (placeholder values), in a stable order."""
    by_id = {str(a["Id"]): a for a in book.accounts}
    out: dict[str, list[dict[str, str]]] = {s: [] for s in SECTIONS}

    def acct(account_id: Any) -> dict[str, str]:
        a = by_id.get(str(account_id), {})
        return {"account": str(a.get("Name") or ""), "store": str(a.get("Store_Id__c") or "")}

    for a in sorted(book.accounts, key=lambda a: str(a.get("Store_Id__c") or a.get("Name"))):
        was_score, was_band = book.baseline.get(str(a["Id"]), (None, ""))
        score, band = a.get("Health_Score__c"), str(a.get("Health_Band__c") or "")
        base = {
            **acct(a["Id"]),
            "score": _num(score),
            "was_score": _num(was_score),
            "band": band,
            "was_band": was_band or "no band",
            "drivers": str(a.get("Health_Drivers__c") or ""),
        }
        if band == "Red" and was_band and was_band != "Red":
            out["new_red"].append(base)
        if score is not None and was_score is not None and float(was_score) - float(score) >= cfg.score_drop:
            out["score_drops"].append({**base, "drop": _num(float(was_score) - float(score))})
    for f in sorted(book.flags, key=lambda f: (str(f.get("Opened_At__c")), str(f.get("Name")))):
        item = {
            **acct(f.get("Account__c")),
            "flag": str(f.get("Name") or ""),
            "severity": str(f.get("Severity__c") or ""),
            "category": str(f.get("Category__c") or ""),
        }
        opened, resolved = _time(f.get("Opened_At__c")), _time(f.get("Resolved_At__c"))
        if opened is not None and opened > since and f.get("Status__c") != "Resolved":
            out["flags_opened"].append(item)
        if resolved is not None and resolved > since and f.get("Status__c") == "Resolved":
            out["flags_resolved"].append(item)
    for c in sorted(book.contracts, key=lambda c: str(c.get("EndDate"))):
        end = date.fromisoformat(str(c["EndDate"])) if c.get("EndDate") else None
        if end is not None and 0 <= (end - today).days <= cfg.renewal_days:
            a = by_id.get(str(c.get("AccountId")), {})
            out["renewals"].append(
                {
                    **acct(c.get("AccountId")),
                    "contract": str(c.get("ContractNumber") or ""),
                    "end": end.isoformat(),
                    "days": str((end - today).days),
                    "band": str(a.get("Health_Band__c") or "no band"),
                    "score": _num(a.get("Health_Score__c")),
                }
            )
    for m in sorted(book.milestones, key=lambda m: (str(m.get("Due_Date__c")), str(m.get("Name")))):
        due = date.fromisoformat(str(m["Due_Date__c"])) if m.get("Due_Date__c") else None
        if due is not None and due < today and m.get("Status__c") != "Done":
            out["overdue_milestones"].append(
                {
                    **acct(m.get("Account__c")),
                    "milestone": str(m.get("Name") or ""),
                    "due": due.isoformat(),
                    "days": str((today - due).days),
                    "status": str(m.get("Status__c") or ""),
                }
            )
    for t in sorted(book.tasks, key=lambda t: (str(t.get("Priority")) != "High", str(t.get("Subject")))):
        if str(t.get("ActivityDate")) == today.isoformat() and t.get("Status") != "Completed":
            out["tasks_due_today"].append(
                {
                    **acct(t.get("WhatId")),
                    "subject": str(t.get("Subject") or ""),
                    "priority": str(t.get("Priority") or ""),
                }
            )
    return out


def compose(csm: Csm, book: Book, cfg: DigestFile, today: date, since: datetime) -> Brief:
    """The brief of one CSM for `today`: subject and text body, every sentence from the wording."""
    items = lines(book, cfg, today, since)
    counts = {s: len(v) for s, v in items.items()}
    values = {
        "first_name": csm.first_name or csm.name,
        "csm": csm.name,
        "today": today.isoformat(),
        "since": since.strftime("%Y-%m-%d %H:%M UTC"),
        "accounts": str(len(book.accounts)),
        **{s: str(n) for s, n in counts.items()},
    }
    w = cfg.wording
    parts = [render(w.greeting, values), ""]
    if not any(counts.values()):
        parts.append(render(w.nothing, values))
    else:
        parts.append(render(w.intro, values))
        for name in SECTIONS:
            if not items[name]:
                continue
            section: Section = getattr(w, name)
            parts += ["", f"{render(section.heading, values)} ({counts[name]})"]
            parts += [f"• {render(section.line, item)}" for item in items[name][: cfg.max_lines]]
            if counts[name] > cfg.max_lines:
                parts.append("  " + render(w.more, {"count": str(counts[name] - cfg.max_lines)}))
    parts += ["", render(w.footer, values)]
    seen = {
        str(a["Id"]): (
            None if a.get("Health_Score__c") is None else float(a["Health_Score__c"]),
            str(a.get("Health_Band__c") or ""),
        )
        for a in book.accounts
    }
    return Brief(csm, today, render(w.subject, values), "\n".join(parts), counts, seen)
