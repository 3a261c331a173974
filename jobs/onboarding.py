"""Onboarding milestones per location from templates, statuses from data, overdue Tasks, MSO roll-ups."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from jobs.current import Reader
from jobs.job import JobBase
from jobs.portfolio import rows_in
from mappings import records
from mappings.context import AccountData
from mappings.desired import Desired, Guard, Managed
from mappings.lifecycle import (
    FileError,
    FileIssue,
    Model,
    TaskTemplate,
    as_date,
    label_of,
    load_model,
    mapping_dir,
    pct,
    placeholders_ok,
    task,
)
from mappings.states import (
    BrandFile,
    MenuItem,
    Promotion,
    RuleGroup,
    StateFile,
    brands_from_records,
    check_menu,
    check_msrp,
    check_promotions,
    group_detail,
    load_brands,
    load_states,
)

FILE = "onboarding.toml"
OBJECT = "Onboarding_Milestone__c"
KEY_FIELD = "Milestone_Key__c"
TASK_PREFIX = "onboarding:"
CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
StatusFrom = Literal["on_create", "pos_sync", "first_online_order", "state_rules", "msrp", "manual"]
TASK_PLACEHOLDERS = (
    "milestone",
    "code",
    "store",
    "account",
    "due",
    "days_overdue",
    "status",
    "why",
    "detail",
)
MANUAL = Guard("Status_Source__c", "eq", "Manual", why="status set by a CSM (Status Source = Manual)")


# -- the file -------------------------------------------------------------------------------------
class MilestoneSpec(Model):
    """One milestone of the template; `status` says which data completes it."""

    code: str
    title: str
    due_days: int = Field(ge=0, le=365)  # days after the onboarding start
    due_days_by_plan: dict[str, int] = Field(default_factory=dict)
    status: StatusFrom
    state_group: RuleGroup | None = None  # adds the state's rules of this group to Detail__c
    detail: str = ""
    plans: tuple[str, ...] = ()  # only for these plans (empty: every plan)
    states: tuple[str, ...] = ()  # only in these states (empty: every state)

    @field_validator("code")
    @classmethod
    def _check_code(cls, v: str) -> str:
        if not CODE.match(v):
            raise ValueError(f'"{v}" is not a milestone code (lower_snake_case, at most 40 characters)')
        return v

    @model_validator(mode="after")
    def _check_group(self) -> MilestoneSpec:
        if self.status == "state_rules" and self.state_group is None:
            raise ValueError('a milestone with status = "state_rules" needs state_group')
        for plan, days in self.due_days_by_plan.items():
            if not 0 <= days <= 365:
                raise ValueError(f"due_days_by_plan.{plan} must be between 0 and 365 days")
        return self

    def due_days_for(self, plan: str) -> int:
        return self.due_days_by_plan.get(plan, self.due_days)

    def applies(self, plan: str, state: str) -> bool:
        return (not self.plans or plan in self.plans) and (not self.states or state in self.states)


class Target(Model):
    days: int = Field(default=30, ge=1, le=365)  # an onboarding is on time when complete within this
    share: float = Field(default=0.9, ge=0, le=1)  # the goal for the share of on-time onboardings
    exclude: tuple[str, ...] = ()  # milestones after completion (the 30-day review)
    # Account fields a report groups by CSM__c ("" leaves one out); see OnTime
    completed_field: str = "Onboarding_Completed__c"
    days_field: str = "Onboarding_Days__c"
    status_field: str = "Onboarding_On_Time__c"
    share_field: str = "Onboarding_On_Time_Pct__c"

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(
            f for f in (self.completed_field, self.days_field, self.status_field, self.share_field) if f
        )


class Rollup(Model):
    progress_field: str = "Onboarding_Progress__c"
    live_field: str = "Locations_Live__c"
    total_field: str = "Locations_Total__c"
    on_time_field: str = ""  # an Account Percent field for the on-time share, when the org has one
    live_code: str = "go_live"  # the milestone that makes a location live


class OnboardingFile(Model):
    start_field: str = "Onboarding_Start__c"
    # the source names that pull POS data
    pos_sources: tuple[str, ...] = ("pos", "dutchie", "treez", "flowhub", "blaze")
    track_days: int = Field(default=180, ge=30, le=730)  # onboardings older than this are not tracked
    states_dir: str = "states"
    brands_dir: str = "brands"
    menu_stream: str = "menu_items"
    promotion_stream: str = "promotions"
    msrp_stream: str = "brand_msrp"
    target: Target = Target()
    rollup: Rollup = Rollup()
    overdue_task: TaskTemplate
    milestones: tuple[MilestoneSpec, ...] = Field(min_length=1)


def check_file(cfg: OnboardingFile, label: str) -> list[FileIssue]:
    """What the model alone cannot see: unique codes, known targets, known placeholders."""
    issues: list[FileIssue] = []
    codes = [m.code for m in cfg.milestones]
    for c in sorted({c for c in codes if codes.count(c) > 1}):
        issues.append(FileIssue(label, f'milestone "{c}"', "code", "appears twice"))
    for c in cfg.target.exclude:
        if c not in codes:
            issues.append(FileIssue(label, "target", "exclude", f'"{c}" is not a milestone code'))
    if cfg.rollup.live_code not in codes:
        issues.append(
            FileIssue(label, "rollup", "live_code", f'"{cfg.rollup.live_code}" is not a milestone code')
        )
    for part in ("subject", "description"):
        problem = placeholders_ok(getattr(cfg.overdue_task, part), TASK_PLACEHOLDERS)
        if problem:
            issues.append(FileIssue(label, "overdue_task", part, problem))
    return issues


# -- evaluation -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MilestoneState:
    code: str
    title: str
    sequence: int
    due: date
    status: str  # what the milestone counts as: derived, or the CSM's when manual / done
    completed: date | None
    why: str
    manual: bool  # the status is the CSM's (Status_Source__c = Manual, or a manual milestone)
    overdue: bool
    detail: str


@dataclass(frozen=True)
class Onboarding:
    """One location's onboarding as evaluated: the roll-ups and the on-time figure read this."""

    store_id: str
    start: date
    tracked: bool
    milestones: tuple[MilestoneState, ...]

    def done(self, code: str) -> bool:
        return any(m.code == code and m.status == "Done" for m in self.milestones)

    @property
    def progress(self) -> float:
        if not self.milestones:
            return 1.0
        return sum(m.status == "Done" for m in self.milestones) / len(self.milestones)

    def completed_on(self, exclude: Sequence[str]) -> date | None:
        """The day the last counted milestone was done; None while any is open."""
        counted = [m for m in self.milestones if m.code not in exclude]
        if not counted or any(m.status != "Done" for m in counted):
            return None
        days = [m.completed for m in counted if m.completed is not None]
        return max(days) if days else None

    def on_time(self, target: Target, today: date) -> bool | None:
        """True/False once it can be judged (done, or past the target days); None before."""
        done_on = self.completed_on(target.exclude)
        deadline = self.start + timedelta(days=target.days)
        if done_on is not None and done_on <= deadline:
            return True
        if today > deadline:
            return False
        return None


@dataclass(frozen=True)
class OnTime:
    """One onboarding against the target, as the Account shows it.

    `share` is 100 (on time), 0 (late, or still open past the target days) or None (open inside them):
    a report's average of it per CSM is that CSM's on-time share, and open ones stay out of it.
    """

    status: Literal["On time", "Late", "Overdue", "In progress"]
    completed: date | None
    days: int | None
    share: float | None

    def fields(self, target: Target) -> dict[str, Any]:
        values = {
            target.completed_field: self.completed.isoformat() if self.completed else None,
            target.days_field: self.days,
            target.status_field: self.status,
            target.share_field: self.share,
        }
        return {k: v for k, v in values.items() if k}


def on_time(ob: Onboarding, target: Target, today: date) -> OnTime:
    """Complete within `target.days` of the start (day 30 itself counts) is on time; open past it, overdue."""
    done_on = ob.completed_on(target.exclude)
    days = (done_on - ob.start).days if done_on is not None else None
    hit = ob.on_time(target, today)
    if done_on is not None:
        status: Literal["On time", "Late", "Overdue", "In progress"] = "On time" if hit else "Late"
    else:
        status = "In progress" if hit is None else "Overdue"
    return OnTime(status, done_on, days, None if hit is None else 100.0 if hit else 0.0)


def on_time_share(onboardings: Sequence[Onboarding], target: Target, today: date) -> tuple[int, int]:
    """(on time, judged): onboardings complete within the target days, of those that can be judged."""
    judged = [o.on_time(target, today) for o in onboardings]
    return sum(1 for j in judged if j is True), sum(1 for j in judged if j is not None)


def first_day(data: AccountData, keys: Sequence[tuple[str, str]]) -> date | None:
    """The first day any of these series is above zero (within the history loaded)."""
    days = [d for k in keys for d, v in data.series.get(k, {}).items() if v > 0]
    return min(days) if days else None


POS_SERIES = (("orders", ""), ("orders", "channel=in_store"), ("revenue", ""))
ONLINE_SERIES = (("orders", "channel=online"), ("online_orders", ""))


class OnboardingJob(JobBase):
    """Milestones per location from `onboarding.toml`, kept in step with what the data shows."""

    name = "onboarding"

    def __init__(
        self,
        cfg: OnboardingFile,
        states: Mapping[str, StateFile] | None = None,
        brands: Mapping[str, BrandFile] | None = None,
    ) -> None:
        self.cfg = cfg
        self.states = dict(states or {})
        self.brands = dict(brands or {})
        self.seen: dict[str, Onboarding] = {}  # this run's evaluations, for finalize and summary
        self.evaluated: set[str] = set()  # every store this run (its shard) evaluated
        self.today: date | None = None  # this run's evaluation day

    @classmethod
    def build(cls, source: Any) -> OnboardingJob:
        folder = mapping_dir(source)
        cfg = load(folder / FILE)
        return cls(cfg, load_states(folder / cfg.states_dir), load_brands(folder / cfg.brands_dir))

    @property
    def account_fields(self) -> frozenset[str]:
        r = self.cfg.rollup
        rollup = {r.progress_field, r.live_field, r.total_field, r.on_time_field} - {""}
        facts = self.cfg.target.fields  # read back, so an unchanged verdict is not written again
        return frozenset({self.cfg.start_field, "CSM__c", "OwnerId", "ParentId", "Plan__c", *rollup, *facts})

    @property
    def streams(self) -> tuple[str, ...]:
        return (self.cfg.menu_stream, self.cfg.promotion_stream, self.cfg.msrp_stream)

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> dict[str, Any]:
        """Read the milestones Salesforce holds: a CSM's status and a done date are kept as they are."""
        self.seen, self.today = {}, None
        by_id = {str(a["Id"]): s for s, a in accounts.items() if a.get("Id")}
        out: dict[str, dict[str, Any]] = {}
        ids = sorted(by_id)
        fields = [
            "Id",
            "Account__c",
            KEY_FIELD,
            "Code__c",
            "Status__c",
            "Status_Source__c",
            "Completed_Date__c",
        ]
        for row in rows_in(org, OBJECT, fields, "Account__c", ids):
            store = by_id.get(str(row.get("Account__c")))
            if store is not None and row.get("Code__c"):
                out.setdefault(store, {}).setdefault("onboarding_current", {})[str(row["Code__c"])] = row
        return out

    def managed(self, now: datetime) -> Sequence[Managed]:
        return (records.close_tasks(TASK_PREFIX, "milestone done (or no longer tracked)"),)

    # -- per store ------------------------------------------------------------------------------
    def start(self, data: AccountData) -> date | None:
        return as_date(data.account.get(self.cfg.start_field)) or as_date(
            data.store.get("onboarding_started_on")
        )

    def assess(self, data: AccountData) -> Onboarding | None:
        """Every milestone's due date and status for one location (None: no onboarding start)."""
        start = self.start(data)
        if start is None or start > data.today:
            return None
        plan = str(data.account.get("Plan__c") or data.store.get("plan") or "")
        state = str(data.store.get("state") or data.account.get("BillingState") or "").upper()
        current: Mapping[str, Mapping[str, Any]] = data.attrs.get("onboarding_current") or {}
        specs = [m for m in self.cfg.milestones if m.applies(plan, state)]
        items = [MenuItem.of(r) for r in data.records.get(self.cfg.menu_stream, ())]
        promos = [Promotion.of(r) for r in data.records.get(self.cfg.promotion_stream, ())]
        out: list[MilestoneState] = []
        for seq, spec in enumerate(specs, start=1):
            due = start + timedelta(days=spec.due_days_for(plan))
            status, completed, why = self.derive(spec, data, start, state, items, promos)
            have = current.get(spec.code) or {}
            manual = spec.status == "manual" or have.get("Status_Source__c") == "Manual"
            if manual:
                status = str(have.get("Status__c") or "Not Started")
                completed = as_date(have.get("Completed_Date__c"))
                why = "status set by the CSM"
            elif have.get("Status__c") == "Done":
                # Done is final: the date recorded stands, and the reason only changes if the data regressed.
                why = why if status == "Done" else "done (as recorded)"
                status = "Done"
                completed = as_date(have.get("Completed_Date__c")) or completed or data.today
            detail = spec.detail
            if spec.state_group is not None:
                detail = "\n\n".join(
                    p
                    for p in (detail, group_detail(self.states.get(state), spec.state_group, data.today))
                    if p
                )
            out.append(
                MilestoneState(
                    code=spec.code,
                    title=spec.title,
                    sequence=seq,
                    due=due,
                    status=status,
                    completed=completed if status == "Done" else None,
                    why=why,
                    manual=manual,
                    overdue=due < data.today and status != "Done",
                    detail=detail,
                )
            )
        tracked = (data.today - start).days <= self.cfg.track_days
        return Onboarding(data.store_id, start, tracked, tuple(out))

    def derive(
        self,
        spec: MilestoneSpec,
        data: AccountData,
        start: date,
        state: str,
        items: Sequence[MenuItem],
        promos: Sequence[Promotion],
    ) -> tuple[str, date | None, str]:
        """(status, completed date, why) from the data; manual milestones start Not Started."""
        if spec.status == "on_create":
            return "Done", start, "done when the onboarding starts"
        if spec.status == "pos_sync":
            # Done on the first pull that brought data: a key that answers with nothing is not integrated.
            newest = [t for s in self.cfg.pos_sources if (t := data.freshness.get(s)) is not None]
            if not newest or not any(data.last_success.get(s) for s in self.cfg.pos_sources):
                return "Not Started", None, "no POS data pulled yet"
            first = first_day(data, POS_SERIES)
            done_on = max(start, first) if first is not None else max(start, min(newest).date())
            return "Done", min(done_on, data.today), f"POS data since {done_on.isoformat()}"
        if spec.status == "first_online_order":
            first = first_day(data, ONLINE_SERIES)
            if first is None:
                return "Not Started", None, "no online order yet"
            done_on = max(start, first)
            return "Done", done_on, f"first online order on {first.isoformat()}"
        if spec.status in ("state_rules", "msrp"):
            shown = [i for i in items if i.visible]
            if not shown:
                return "Not Started", None, "no menu items published yet"
            if spec.status == "msrp":
                brands = {
                    **self.brands,
                    **brands_from_records(data.records.get(self.cfg.msrp_stream, ()), data.today),
                }
                found = check_msrp(brands, items, data.today)
            else:
                rules = self.states.get(state)
                if rules is None:
                    return "Not Started", None, f"no state rules on file for {state or 'an unknown state'}"
                found = [
                    v
                    for v in check_menu(rules, items, data.today)
                    + check_promotions(rules, promos, data.today)
                    if v.group == spec.state_group
                ]
            if found:
                listed = "; ".join(f"{v.item}: {v.finding}" for v in found[:5])
                more = f" (+{len(found) - 5} more)" if len(found) > 5 else ""
                return "In Progress", None, f"{len(found)} item(s) to fix: {listed}{more}"
            return "Done", data.today, f"{len(shown)} menu items checked, all within the rules"
        return "Not Started", None, "set by the CSM"

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        self.evaluated.add(data.store_id)
        ob = self.assess(data)
        if ob is None or not ob.tracked or not data.account.get("Id"):
            return []
        self.seen[data.store_id] = ob
        self.today = max(self.today or data.today, data.today)
        state = str(data.store.get("state") or data.account.get("BillingState") or "").upper()[:2]
        out: list[Desired] = []
        verdict = on_time(ob, self.cfg.target, data.today)
        if self.cfg.target.fields:
            out.append(
                Desired(
                    "Account",
                    "Store_Id__c",
                    data.store_id,
                    verdict.fields(self.cfg.target),
                    account_key=data.store_id,
                    reason=f"onboarding {verdict.status.lower()} (target {self.cfg.target.days} days)",
                    # the verdict follows the milestones by design: not an overwrite for the safety check
                    routine=frozenset(self.cfg.target.fields),
                )
            )
        for m in ob.milestones:
            key = f"{data.store_id}:{m.code}"
            fields: dict[str, Any] = {
                "Name": m.title[:80],
                "Code__c": m.code,
                "Sequence__c": m.sequence,
                "State__c": state,
                "Detail__c": "\n\n".join(p for p in (m.detail, f"Status: {m.why}") if p),
                "Due_Date__c": m.due.isoformat(),
            }
            create_only: dict[str, Any] = {"Account__c": data.account["Id"], "Status_Source__c": "Auto"}
            if m.manual:
                create_only["Status__c"] = m.status
            else:
                fields["Status__c"] = m.status
                fields["Completed_Date__c"] = m.completed.isoformat() if m.completed else None
            out.append(
                Desired(
                    OBJECT,
                    KEY_FIELD,
                    key,
                    fields,
                    create_only,
                    guards=(MANUAL,),
                    account_key=data.store_id,
                    reason=f"onboarding milestone {m.code}: {m.why}",
                )
            )
            if m.overdue:
                values = {
                    "milestone": m.title,
                    "code": m.code,
                    "store": data.store_id,
                    "account": data.account.get("Name") or data.store_id,
                    "due": m.due.isoformat(),
                    "days_overdue": (data.today - m.due).days,
                    "status": m.status,
                    "why": m.why,
                    "detail": m.detail,
                }
                out.append(
                    task(
                        f"{TASK_PREFIX}{key}",
                        data.account,
                        self.cfg.overdue_task,
                        values,
                        data.today,
                        store_id=data.store_id,
                        reason=f"milestone {m.code} overdue since {m.due}",
                    )
                )
        return out

    # -- across stores --------------------------------------------------------------------------
    def finalize(
        self, accounts: Mapping[str, Mapping[str, Any]], desired: Sequence[Desired], now: datetime
    ) -> Sequence[Desired]:
        """MSO parents: progress across their locations, live and total locations, on-time share."""
        return rollups(self.cfg, accounts, self.seen, self.today or now.date(), self.evaluated)

    def summary(self, desired: Sequence[Desired]) -> dict[str, Any]:
        out = super().summary(desired)
        today = self.today
        hit, judged = on_time_share(list(self.seen.values()), self.cfg.target, today) if today else (0, 0)
        out["onboarding"] = {
            "tracked": len(self.seen),
            "overdue_milestones": sum(m.overdue for o in self.seen.values() for m in o.milestones),
            "on_time": hit,
            "judged": judged,
            "on_time_share": round(hit / judged, 3) if judged else None,
            "target_share": self.cfg.target.share,
            "target_days": self.cfg.target.days,
        }
        return out

    def explain(self, data: AccountData) -> dict[str, Any]:
        ob = self.assess(data)
        if ob is None:
            return {"job": self.name, "store": data.store_id, "onboarding": None,
                    "why": "no onboarding start (Account field or store directory)"}  # fmt: skip
        verdict = on_time(ob, self.cfg.target, data.today)
        return {
            "job": self.name,
            "store": data.store_id,
            "start": ob.start.isoformat(),
            "tracked": ob.tracked,
            "progress": round(ob.progress, 3),
            "on_time": verdict.status,
            "completed": verdict.completed.isoformat() if verdict.completed else None,
            "days": verdict.days,
            "milestones": [
                {
                    "code": m.code,
                    "due": m.due.isoformat(),
                    "status": m.status,
                    "completed": m.completed.isoformat() if m.completed else None,
                    "why": m.why,
                    "manual": m.manual,
                    "overdue": m.overdue,
                }
                for m in ob.milestones
            ],
        }


def rollups(
    cfg: OnboardingFile,
    accounts: Mapping[str, Mapping[str, Any]],
    seen: Mapping[str, Onboarding],
    today: date,
    evaluated: Collection[str] | None = None,
) -> list[Desired]:
    """Parent Account fields from the children: locations not being onboarded count as live and done.

    Only parents with a location among `evaluated` (this shard's stores; None: all): another shard,
    reading the same Accounts without those locations' milestones, would otherwise write them as done.
    """
    store_of = {str(a["Id"]): s for s, a in accounts.items() if a.get("Id")}
    children: dict[str, list[str]] = {}
    for s, a in accounts.items():
        parent = store_of.get(str(a.get("ParentId") or ""))
        if parent is not None:
            children.setdefault(parent, []).append(s)
    out: list[Desired] = []
    r = cfg.rollup
    for parent, kids in sorted(children.items()):
        if evaluated is not None and not any(k in evaluated for k in kids):
            continue
        obs = [seen[k] for k in kids if k in seen]
        live = sum(1 for k in kids if k not in seen or seen[k].done(r.live_code))
        progress = sum(seen[k].progress if k in seen else 1.0 for k in kids) / len(kids)
        fields: dict[str, Any] = {
            r.progress_field: pct(progress),
            r.live_field: live,
            r.total_field: len(kids),
        }
        if r.on_time_field:
            hit, judged = on_time_share(obs, cfg.target, today)
            fields[r.on_time_field] = pct(hit / judged) if judged else None
        out.append(
            Desired(
                "Account",
                "Store_Id__c",
                parent,
                fields,
                account_key=parent,
                reason=f"MSO roll-up of {len(kids)} locations",
            )
        )
    return out


def read_progress(org: Reader, accounts: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """`attrs["onboarding_progress"]` (0-1, done milestones over all) per store with milestones in Salesforce.

    For the account_health job's onboarding component: it reads what this job wrote, once per run.
    """
    by_id = {str(a["Id"]): s for s, a in accounts.items() if a.get("Id")}
    ids = sorted(by_id)
    counts: dict[str, list[int]] = {}
    for row in rows_in(org, OBJECT, ["Account__c", "Status__c"], "Account__c", ids):
        store = by_id.get(str(row.get("Account__c")))
        if store is not None:
            c = counts.setdefault(store, [0, 0])
            c[0] += row.get("Status__c") == "Done"
            c[1] += 1
    return {s: {"onboarding_progress": done / total} for s, (done, total) in counts.items() if total}


def load(path: Path) -> OnboardingFile:
    label = label_of(path)
    cfg = load_model(OnboardingFile, path, label)
    issues = check_file(cfg, label)
    if issues:
        raise FileError(issues)
    return cfg
