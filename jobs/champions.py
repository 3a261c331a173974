"""Champion change: the account's champion left, was deactivated, changed role or was unmarked → a flag
and a Task to find a new one.

The champion last seen is kept in the org, on the Account (not in local state), so the worker can be
rebuilt without losing it and a CSM can see and correct it. The decision (`assess`) is pure; `prepare`
reads the Contacts of the shard's accounts (by = "role": and their AccountContactRoles), and those
recorded champions that have left them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import model_validator

from connectors.salesforce.soql import select_in
from jobs.current import Reader
from jobs.job import JobBase
from jobs.portfolio import rows_in
from mappings import records
from mappings.context import AccountData
from mappings.desired import Desired, Managed
from mappings.lifecycle import Model, Severity, TaskTemplate, as_date, load_templated, mapping_dir, task

FILE = "champions.toml"
NAME = "champions"
PREFIX = "champion:"
RULE = "champion_change"
PLACEHOLDERS = {"task": ("account", "store", "who", "change", "history")}
STORE_CONTACTS = "Account.Store_Id__c != null"  # Contacts of store Accounts and MSO parents only
ROLE_FIELDS = ("Id", "AccountId", "ContactId", "Role", "IsPrimary")

Kind = Literal["left", "deleted", "deactivated", "role", "unmarked", "none"]
HEADLINE: dict[str, str] = {
    "left": "left the account",
    "deleted": "deleted",
    "deactivated": "deactivated",
    "role": "changed role",
    "unmarked": "no longer marked",
    "none": "missing",
}


class ChampionsFile(Model):
    by: Literal["flag", "title", "role"] = "flag"
    flag_field: str = "Champion__c"
    titles: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    primary_only: bool = False
    inactive_field: str = "Inactive__c"
    inactive_value: bool | str = True
    contact_field: str = "Champion_Contact__c"
    title_field: str = "Champion_Title__c"
    since_field: str = "Champion_Since__c"
    flag_without_champion: bool = False
    severity: Severity = "High"
    category: str = "Relationship"
    task: TaskTemplate

    @model_validator(mode="after")
    def _fields(self) -> ChampionsFile:
        if self.by == "flag" and not self.flag_field:
            raise ValueError('by = "flag" needs flag_field (the Contact checkbox that marks the champion)')
        if self.by == "title" and not any(t.strip() for t in self.titles):
            raise ValueError('by = "title" needs titles (e.g. ["Owner", "General Manager"])')
        if self.by == "role" and not any(r.strip() for r in self.roles):
            raise ValueError(
                'by = "role" needs roles, the AccountContactRole Roles that make a champion '
                '(e.g. roles = ["Decision Maker", "Executive Sponsor"])'
            )
        if not self.contact_field or not self.title_field:
            raise ValueError("contact_field and title_field name the Account fields the champion is kept in")
        return self

    @property
    def contact_fields(self) -> frozenset[str]:
        """The Contact fields the job reads."""
        extra = {self.flag_field if self.by == "flag" else "", self.inactive_field}
        return frozenset({"Id", "Name", "Title", "AccountId"} | extra - {""})


def load(path: Path) -> ChampionsFile:
    return load_templated(ChampionsFile, path, PLACEHOLDERS)


def norm(title: Any) -> str:
    """A title as compared: case and extra spaces do not make a role change."""
    return " ".join(str(title or "").split()).casefold()


def held_roles(
    cfg: ChampionsFile, contact_id: str, roles: Sequence[Mapping[str, Any]]
) -> tuple[tuple[str, ...], bool]:
    """The Roles a Contact holds on the account (of its AccountContactRole rows), champion roles first
    in `roles` order so the one recorded is one that makes them champion; and whether any does (one of
    `roles`, and primary when `primary_only`)."""
    rank = {norm(r): i for i, r in enumerate(cfg.roles)}
    champion: list[str] = []
    other: list[str] = []
    for row in roles:
        role = " ".join(str(row.get("Role") or "").split())
        if str(row.get("ContactId") or "") != contact_id or not role:
            continue
        counts = norm(role) in rank and (bool(row.get("IsPrimary")) or not cfg.primary_only)
        (champion if counts else other).append(role)
    ordered = sorted(champion, key=lambda r: rank[norm(r)]) + sorted(other)
    return tuple(dict.fromkeys(ordered)), bool(champion)


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    title: str  # what title_field records: the Contact's Title; by = "role" its Role on the account
    account_id: str
    active: bool
    marked: bool  # marked champion: the checkbox, a champion title or a champion role on the account
    roles: tuple[str, ...] = ()  # by = "role": every Role the Contact holds on the account

    @classmethod
    def of(
        cls, cfg: ChampionsFile, row: Mapping[str, Any], roles: Sequence[Mapping[str, Any]] = ()
    ) -> Person:
        """`roles`: the account's AccountContactRole rows (by = "role")."""
        title = " ".join(str(row.get("Title") or "").split())
        cid = str(row.get("Id") or "")
        held: tuple[str, ...] = ()
        if cfg.by == "flag":
            marked = bool(row.get(cfg.flag_field))
        elif cfg.by == "title":
            marked = norm(title) in {norm(t) for t in cfg.titles}
        else:
            held, marked = held_roles(cfg, cid, roles)
            title = held[0] if held else ""
        inactive = bool(cfg.inactive_field) and row.get(cfg.inactive_field) == cfg.inactive_value
        return cls(
            id=cid,
            name=str(row.get("Name") or "").strip() or "(no name)",
            title=title,
            account_id=str(row.get("AccountId") or ""),
            active=not inactive,
            marked=marked,
            roles=held,
        )


@dataclass(frozen=True)
class Change:
    kind: Kind
    who: str  # the recorded champion, as the flag names them
    what: str  # what changed, from → to


@dataclass(frozen=True)
class Verdict:
    champion: Person | None  # who the Account should record (None: keep what it records)
    change: Change | None  # a change no new champion answers yet: flag + Task


def change_of(cfg: ChampionsFile, account_id: str, title: str, rec: Person | None, who: str) -> Change | None:
    """How the recorded champion differs from what they were when recorded (None: still the champion)."""
    if rec is None:
        return Change("deleted", who, "was deleted from Salesforce")
    if rec.account_id != account_id:
        where = f"moved to Account {rec.account_id}" if rec.account_id else "has no Account now"
        return Change("left", who, f"left the account (the Contact {where})")
    if not rec.active:
        return Change("deactivated", who, f"was deactivated ({cfg.inactive_field} = {cfg.inactive_value})")
    if cfg.by == "role":
        return role_change(cfg, title, rec, who)
    if title.strip() and norm(rec.title) != norm(title):  # no recorded title: nothing to compare
        return Change("role", who, f'changed role: "{title or "no title"}" → "{rec.title or "no title"}"')
    if not rec.marked:
        what = f"{cfg.flag_field} cleared" if cfg.by == "flag" else "title no longer a champion title"
        return Change("unmarked", who, f"is no longer marked champion ({what})")
    return None


def role_change(cfg: ChampionsFile, role: str, rec: Person, who: str) -> Change | None:
    """By = "role": how the recorded champion's roles on the account differ from the `role` recorded."""
    was = f'"{role}"' if role.strip() else "no recorded role"
    if not rec.roles:
        return Change("unmarked", who, f"is no longer marked champion (role on the account: {was} → none)")
    if role.strip() and norm(role) not in {norm(r) for r in rec.roles}:
        return Change("role", who, f'changed role: {was} → "{rec.title}"')
    if not rec.marked:
        champion_role = norm(rec.title) in {norm(r) for r in cfg.roles}
        why = "no longer primary" if cfg.primary_only and champion_role else "not a champion role"
        return Change("unmarked", who, f'is no longer marked champion (role "{rec.title}" {why})')
    return None


def assess(
    cfg: ChampionsFile,
    account: Mapping[str, Any],
    contacts: Sequence[Mapping[str, Any]],
    recorded: Mapping[str, Any] | None,
    roles: Sequence[Mapping[str, Any]] = (),
) -> Verdict:
    """What the account's Contacts call for, against the champion recorded on the Account (pure).

    `contacts` are the Contacts on the account; `recorded` the recorded champion's Contact wherever it
    is now (None: deleted); `roles` the account's AccountContactRoles (by = "role"). A new active
    champion answers any change: it is recorded and nothing fires.
    """
    account_id = str(account.get("Id") or "")
    rec_id = str(account.get(cfg.contact_field) or "")
    people = sorted((Person.of(cfg, c, roles) for c in contacts), key=lambda p: p.id)
    candidates = [p for p in people if p.active and p.marked and p.account_id == account_id]
    if not rec_id:
        if candidates:
            return Verdict(candidates[0], None)
        change = Change("none", "nobody", "has no champion") if cfg.flag_without_champion else None
        return Verdict(None, change)
    title = str(account.get(cfg.title_field) or "")
    rec = Person.of(cfg, recorded, roles) if recorded is not None else None
    who = f"{rec.name} ({title})" if rec and title else rec.name if rec else f"Contact {rec_id}"
    change = change_of(cfg, account_id, title, rec, who)
    if change is None:  # a champion set by hand without a title gets theirs recorded
        return Verdict(rec if rec and rec.title and not title.strip() else None, None)
    new = [p for p in candidates if p.id != rec_id]
    return Verdict(new[0], None) if new else Verdict(None, change)


def history(cfg: ChampionsFile, account: Mapping[str, Any], change: Change) -> str:
    """What the recorded fields tell of the champion: since when, in which role, and what changed."""
    if change.kind == "none":
        return "no champion was ever recorded on the account"
    since = as_date(account.get(cfg.since_field)) if cfg.since_field else None
    title = str(account.get(cfg.title_field) or "no title")
    start = f"champion since {since.isoformat()}" if since else "champion"
    return f"{change.who}: {start} as {title}; then {change.what}"


class ChampionsJob(JobBase):
    """Records each account's champion; flags and tasks a change until a new champion is designated."""

    name = NAME

    def __init__(self, cfg: ChampionsFile) -> None:
        self.cfg = cfg
        self._counts: dict[str, int] = {}

    @classmethod
    def build(cls, source: Any) -> ChampionsJob:
        return cls(load(mapping_dir(source) / FILE))

    @property
    def account_fields(self) -> frozenset[str]:
        c = self.cfg
        return frozenset({"CSM__c", "OwnerId", c.contact_field, c.title_field, c.since_field} - {""})

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> dict[str, Any]:
        """Each store's Contacts (by = "role": and AccountContactRoles), and its recorded champion's
        Contact wherever it is now."""
        self._counts = {"recorded": 0, "changes": 0}
        by_id = {str(a["Id"]): s for s, a in accounts.items() if a.get("Id")}
        fields = sorted(self.cfg.contact_fields)
        out: dict[str, dict[str, Any]] = {
            s: {"contacts": [], "recorded": None, "roles": []} for s in by_id.values()
        }
        if self.cfg.by == "role":  # every role, not only champion ones: a change names the new one
            for row in rows_in(org, "AccountContactRole", ROLE_FIELDS, "AccountId", sorted(by_id)):
                store = by_id.get(str(row.get("AccountId")))
                if store is not None:
                    out[store]["roles"].append(row)
        seen: dict[str, dict[str, Any]] = {}
        # The store Accounts' Contacts: through kept reads one read serves every shard.
        for row in rows_in(org, "Contact", fields, "AccountId", sorted(by_id), STORE_CONTACTS):
            seen[str(row["Id"])] = row
            store = by_id.get(str(row.get("AccountId")))
            if store is not None:
                out[store]["contacts"].append(row)
        recorded = {s: str(a.get(self.cfg.contact_field) or "") for s, a in accounts.items() if s in out}
        away = sorted({r for r in recorded.values() if r and r not in seen})
        for soql in select_in("Contact", fields, "Id", away):
            for row in org.query(soql):
                seen[str(row["Id"])] = row
        for store, rec_id in recorded.items():
            out[store]["recorded"] = seen.get(rec_id) if rec_id else None
        return out

    def managed(self, now: datetime) -> Sequence[Managed]:
        why = "a new champion is recorded"
        return (records.close_flags(now, prefix=PREFIX, reason=why), records.close_tasks(PREFIX, why))

    def verdict(self, data: AccountData) -> Verdict:
        attrs = data.attrs
        return assess(
            self.cfg,
            data.account,
            attrs.get("contacts") or (),
            attrs.get("recorded"),
            attrs.get("roles") or (),
        )

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        acct = data.account
        if not acct.get("Id"):
            return []
        v = self.verdict(data)
        out: list[Desired] = []
        if v.champion is not None:
            c = self.cfg
            fields: dict[str, Any] = {c.contact_field: v.champion.id, c.title_field: v.champion.title}
            same = v.champion.id == str(acct.get(c.contact_field) or "")
            if c.since_field and not (same and acct.get(c.since_field)):
                fields[c.since_field] = data.today
            self._count("recorded")
            out.append(
                Desired(
                    "Account",
                    "Store_Id__c",
                    data.store_id,
                    fields,
                    account_key=data.store_id,
                    reason=f"champion {v.champion.name} recorded",
                    routine=frozenset(fields),
                )
            )
        if v.change is not None:
            out += self._flag_and_task(data, v.change)
        return out

    def _flag_and_task(self, data: AccountData, change: Change) -> list[Desired]:
        acct = data.account
        name = str(acct.get("Name") or data.store_id)
        told = history(self.cfg, acct, change)
        values = {"account": name, "store": data.store_id, "who": change.who, "change": change.what,
                  "history": told}  # fmt: skip
        self._count("changes")
        title = f"Champion {HEADLINE[change.kind]}: {change.who}"  # the flag's Name: 80 characters
        evidence = {"kind": change.kind, "who": change.who, "what": change.what, "history": told,
                    "recorded_contact": acct.get(self.cfg.contact_field)}  # fmt: skip
        return [
            records.flag(
                f"{PREFIX}{data.store_id}",
                account_id=acct.get("Id"),
                rule=RULE,
                name=title,
                severity=self.cfg.severity,
                evidence=f"{told}.",
                category=self.cfg.category,
                now=data.now,
                store_id=data.store_id,
                reason=title,
                evidence_data=json.dumps(evidence, sort_keys=True, default=str),
            ),
            task(
                f"{PREFIX}{data.store_id}:new-champion",
                acct,
                self.cfg.task,
                values,
                data.today,
                store_id=data.store_id,
                reason=title,
            ),
        ]

    def _count(self, what: str) -> None:
        self._counts[what] = self._counts.get(what, 0) + 1

    def summary(self, desired: Sequence[Desired]) -> dict[str, Any]:
        return {**super().summary(desired), "champions": dict(self._counts)}

    def explain(self, data: AccountData) -> dict[str, Any]:
        v = self.verdict(data)
        return {
            "job": self.name,
            "store": data.store_id,
            "recorded": data.account.get(self.cfg.contact_field),
            "record": v.champion.id if v.champion else None,
            "change": None if v.change is None else {"kind": v.change.kind, "what": v.change.what},
        }
