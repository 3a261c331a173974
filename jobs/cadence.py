"""Touchpoint cadence: a Task for the CSM when an account's touchpoint is overdue, completed once one is
logged; the Account's last touchpoint, next due day and status kept current.

Touchpoints are the account's own activity in Salesforce (completed Tasks, ended Events), read once per
run with one query per object over the shard's accounts; the decision (`assess`) is pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from connectors.values import Invalid, parse_time
from jobs.compliance import read_open
from jobs.current import Reader
from jobs.job import JobBase
from jobs.portfolio import rows_in
from mappings import records
from mappings.context import AccountData
from mappings.desired import Desired, Managed
from mappings.lifecycle import Model, TaskTemplate, as_date, load_templated, mapping_dir, task

FILE = "cadence.toml"
NAME = "cadence"
PREFIX = "cadence:"
LAST_FIELD = "Last_Touchpoint__c"
NEXT_FIELD = "Next_Touchpoint_Due__c"
STATUS_FIELD = "Touchpoint_Status__c"
ON_SCHEDULE, DUE, OVERDUE = "On schedule", "Due", "Overdue"
PLACEHOLDERS = {
    "task": ("account", "store", "stage", "interval_days", "last", "due", "late_days", "grace_days"),
}
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class Stage(Model):
    name: str = Field(min_length=1)
    until_day: int = Field(ge=0, le=3650)
    interval_days: int = Field(ge=1, le=365)


class Touchpoints(Model):
    task_types: tuple[str, ...] = ("Call", "Meeting")
    subject_prefixes: tuple[str, ...] = ()
    events: bool = True


class CadenceFile(Model):
    start_field: str = "Onboarding_Start__c"
    tier_field: str = "Plan__c"
    grace_days: int = Field(default=3, ge=0, le=90)
    window_days: int = Field(default=180, ge=7, le=730)
    default_interval_days: int = Field(default=90, ge=1, le=365)
    stages: tuple[Stage, ...] = Field(min_length=1)
    tiers: dict[str, int] = Field(default_factory=dict)
    touchpoints: Touchpoints = Touchpoints()
    task: TaskTemplate

    @field_validator("start_field", "tier_field")
    @classmethod
    def _field(cls, v: str) -> str:
        if not _FIELD_NAME.match(v):
            raise ValueError(f"must be an Account field's API name (letters, digits, _), got {v!r}")
        return v

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, v: dict[str, int]) -> dict[str, int]:
        for tier, days in v.items():
            if not 1 <= days <= 365:
                raise ValueError(f'tier "{tier}": interval must be between 1 and 365 days, got {days}')
        return v

    @model_validator(mode="after")
    def _order(self) -> CadenceFile:
        days = [s.until_day for s in self.stages]
        if days != sorted(set(days)):
            raise ValueError("stages: until_day must increase from one stage to the next")
        longest = max(
            [s.interval_days for s in self.stages] + [*self.tiers.values(), self.default_interval_days]
        )
        if self.window_days < longest:
            raise ValueError(f"window_days must cover the longest interval ({longest} days)")
        return self


def load(path: Path) -> CadenceFile:
    return load_templated(CadenceFile, path, PLACEHOLDERS)


@dataclass(frozen=True)
class Touchpoint:
    day: date
    what: str  # "Call: Weekly check-in", "Event: On-site visit"


def touchpoint_of(cfg: CadenceFile, sobject: str, rec: Mapping[str, Any], today: date) -> Touchpoint | None:
    """The touchpoint a completed Task or an Event is, or None: csm-sync's own records, Tasks of other
    kinds and anything dated after today do not count (the query already leaves out Events ending
    later today)."""
    if rec.get(records.KEY_FIELD):
        return None
    subject = str(rec.get("Subject") or "")
    if sobject == "Event":
        day = as_date(rec.get("EndDateTime")) or as_date(rec.get("ActivityDate"))
        counts = cfg.touchpoints.events
    else:
        day = as_date(rec.get("ActivityDate"))
        kind = str(rec.get("Type") or "").casefold()
        counts = bool(rec.get("IsClosed", True)) and (
            kind in {t.casefold() for t in cfg.touchpoints.task_types}
            or any(subject.casefold().startswith(p.casefold()) for p in cfg.touchpoints.subject_prefixes)
        )
    if not counts or day is None or day > today:
        return None
    return Touchpoint(day, f"{rec.get('Type') or sobject}: {subject}".strip(": "))


@dataclass(frozen=True)
class Cadence:
    stage: str  # the stage the interval comes from
    interval_days: int
    last: Touchpoint | None
    due: date | None  # None: no start and no touchpoint in the window
    status: str
    late_days: int

    @property
    def on_schedule(self) -> bool:
        return self.status != OVERDUE


def stage_of(cfg: CadenceFile, start: date | None, day: date, tier: str) -> tuple[str, int]:
    """The stage an account is in on `day` (day 0 is the start) and its interval; after the last stage,
    or without a start, its tier's."""
    if start is not None:
        n = max((day - start).days, 0)
        for s in cfg.stages:
            if n <= s.until_day:
                return s.name, s.interval_days
    days = cfg.tiers.get(tier, cfg.default_interval_days)
    return f"{tier or 'no tier'}: every {days} days", days


def assess(
    cfg: CadenceFile, account: Mapping[str, Any], touchpoints: Iterable[Touchpoint], today: date
) -> Cadence:
    """When the account's next touchpoint is due and whether it is late (pure).

    The interval is the one of the stage the account was in on its last touchpoint (or on its start
    before any), so a due day does not move while nothing is logged.
    """
    start = as_date(account.get(cfg.start_field))
    tier = str(account.get(cfg.tier_field) or "")
    last = max(touchpoints, key=lambda t: (t.day, t.what), default=None)
    anchor = last.day if last else start
    if anchor is None:
        stage, interval = stage_of(cfg, None, today, tier)
        return Cadence(stage, interval, None, None, OVERDUE, cfg.window_days)
    stage, interval = stage_of(cfg, start, anchor, tier)
    due = anchor + timedelta(days=interval)
    late = (today - due).days
    status = ON_SCHEDULE if late < 0 else DUE if late <= cfg.grace_days else OVERDUE
    return Cadence(stage, interval, last, due, status, max(late, 0))


def task_key(store: str, due: date | None) -> str:
    return f"{PREFIX}{store}:{due.isoformat() if due else 'none'}"


class CadenceJob(JobBase):
    """Overdue-touchpoint Tasks (completed when a touchpoint is logged) and the Account's cadence fields."""

    name = NAME

    def __init__(self, cfg: CadenceFile) -> None:
        self.cfg = cfg
        self._tasks = 0
        self._by_csm: dict[str, dict[str, int]] = {}

    @classmethod
    def build(cls, source: Any) -> CadenceJob:
        return cls(load(mapping_dir(source) / FILE))

    @property
    def account_fields(self) -> frozenset[str]:
        return frozenset(
            {
                "CSM__c",
                "OwnerId",
                self.cfg.start_field,
                self.cfg.tier_field,
                LAST_FIELD,
                NEXT_FIELD,
                STATUS_FIELD,
            }
        )

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> dict[str, Any]:
        self._tasks, self._by_csm = 0, {}
        out = read_open(org, accounts, PREFIX)
        for store, found in read_touchpoints(org, accounts, now, self.cfg).items():
            out.setdefault(store, {})["activity"] = found
        return out

    def managed(self, now: datetime) -> Sequence[Managed]:
        return (records.close_tasks(PREFIX, "a touchpoint was logged"),)

    def touchpoints(self, data: AccountData) -> list[Touchpoint]:
        found: Sequence[tuple[str, Mapping[str, Any]]] = data.attrs.get("activity") or ()
        return [t for sobject, rec in found if (t := touchpoint_of(self.cfg, sobject, rec, data.today))]

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        acct = data.account
        if not acct.get("Id"):
            return []
        c = assess(self.cfg, acct, self.touchpoints(data), data.today)
        figures = self._by_csm.setdefault(str(acct.get("CSM__c") or acct.get("OwnerId") or ""), {})
        figures["accounts"] = figures.get("accounts", 0) + 1
        figures["on_schedule"] = figures.get("on_schedule", 0) + c.on_schedule
        out: list[Desired] = [
            Desired(
                "Account",
                "Store_Id__c",
                data.store_id,
                {LAST_FIELD: c.last.day if c.last else None, NEXT_FIELD: c.due, STATUS_FIELD: c.status},
                account_key=data.store_id,
                reason=f"{c.status}: last {c.last.day if c.last else 'none'}, due {c.due or 'now'}",
                routine=frozenset({LAST_FIELD, NEXT_FIELD, STATUS_FIELD}),  # follows the activity by design
            )
        ]
        if c.status == OVERDUE:
            values = {
                "account": str(acct.get("Name") or data.store_id),
                "store": data.store_id,
                "stage": c.stage,
                "interval_days": c.interval_days,
                "last": c.last.day.isoformat() if c.last else f"none in {self.cfg.window_days} days",
                "due": c.due.isoformat() if c.due else "now",
                "late_days": c.late_days,
                "grace_days": self.cfg.grace_days,
            }
            out.append(
                task(
                    task_key(data.store_id, c.due),
                    acct,
                    self.cfg.task,
                    values,
                    data.today,
                    store_id=data.store_id,
                    reason=f"touchpoint due {values['due']}, {c.late_days} days late",
                )
            )
            self._tasks += 1
        return out

    def summary(self, desired: Sequence[Desired]) -> dict[str, Any]:
        return {**super().summary(desired), "cadence": {"tasks": self._tasks, "by_csm": dict(self._by_csm)}}

    def explain(self, data: AccountData) -> dict[str, Any]:
        c = assess(self.cfg, data.account, self.touchpoints(data), data.today)
        return {
            "job": self.name,
            "store": data.store_id,
            "touchpoints": [{"day": t.day.isoformat(), "what": t.what} for t in self.touchpoints(data)],
            "stage": c.stage,
            "interval_days": c.interval_days,
            "last": c.last.day.isoformat() if c.last else None,
            "due": c.due.isoformat() if c.due else None,
            "status": c.status,
        }


def read_touchpoints(
    org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime, cfg: CadenceFile
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The shard's completed Tasks and ended Events of the window, per store: one query per object (per
    IN chunk of accounts), not one per account.

    The queries are bounded by whole days, so every shard and firing of a day asks the same and the
    process's kept reads serve them all (`rows_in`); the exact window and "ended by now" are applied here.
    """
    by_id = {str(a["Id"]): s for s, a in accounts.items() if a.get("Id")}
    key = records.KEY_FIELD
    queries = [
        (
            "Task",
            ["AccountId", "ActivityDate", "Subject", "Type", "IsClosed", key],
            f"IsClosed = true AND {key} = null AND ActivityDate >= {{since}} AND ActivityDate <= {{today}}",
        )
    ]
    if cfg.touchpoints.events:
        queries.append(
            (
                "Event",
                ["AccountId", "ActivityDate", "EndDateTime", "Subject", "Type", key],
                f"{key} = null AND EndDateTime >= {{since_day}} AND EndDateTime < {{tomorrow}}",
            )
        )
    since_at = now - timedelta(days=cfg.window_days)
    day = timedelta(days=1)
    values = {
        "since": since_at.date(),
        "today": now.date(),
        "since_day": datetime.combine(since_at.astimezone(UTC).date(), time(0), UTC),
        "tomorrow": datetime.combine(now.astimezone(UTC).date() + day, time(0), UTC),
    }
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for sobject, fields, where in queries:
        for row in rows_in(org, sobject, fields, "AccountId", sorted(by_id), where, **values):
            store = by_id.get(str(row.get("AccountId")))
            if store is not None and (sobject != "Event" or _ended_within(row, since_at, now)):
                out.setdefault(store, []).append((sobject, row))
    return out


def _ended_within(event: Mapping[str, Any], since: datetime, now: datetime) -> bool:
    """An Event that ended in the window, by now: one ending later today is not a touchpoint yet."""
    try:
        end = parse_time(event.get("EndDateTime"), what="EndDateTime")
    except Invalid:
        return False
    return since <= end <= now
