"""Expansion: new MSO locations, sustained order growth, plan limits reached → an upsell Task per quarter."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from jobs.current import Reader
from jobs.job import JobBase
from mappings.context import AccountData
from mappings.desired import Desired
from mappings.lifecycle import (
    FileIssue,
    Model,
    Quarter,
    TaskTemplate,
    as_date,
    load_templated,
    mapping_dir,
    number,
    task,
)

FILE = "expansion.toml"
TASK_PREFIX = "expansion:"
TASK_PLACEHOLDERS = ("account", "store", "signal", "title", "evidence", "quarter")


SERIES = re.compile(r"^[a-z][a-z0-9_]*(\|[a-z_]+=[a-z0-9_]+(,[a-z_]+=[a-z0-9_]+)*)?$")


def _check_series(v: tuple[str, ...]) -> tuple[str, ...]:
    for s in v:
        if not SERIES.match(s):
            raise ValueError(
                f'"{s}" is not a series ("metric" or "metric|dimension", e.g. "orders|channel=online")'
            )
    return v


class Growth(Model):
    enabled: bool = True
    series: tuple[str, ...] = ("orders|channel=online", "online_orders")  # the first one the store has
    weeks: int = Field(default=8, ge=4, le=26)
    min_growth: float = Field(default=0.20, gt=0)  # the fitted trend over the weeks: +20 %
    min_weekly_orders: float = Field(default=50, ge=0)  # the earlier half's weekly mean must reach this

    _series = field_validator("series")(_check_series)


class PlanLimit(Model):
    enabled: bool = True
    series: tuple[str, ...] = ("orders|channel=online", "online_orders")  # what the plan limits count
    share: float = Field(default=0.9, gt=0, le=2)  # orders at this share of the plan's monthly limit
    days: int = Field(default=30, ge=7, le=31)  # the trailing window counted as a month

    _series = field_validator("series")(_check_series)


class Locations(Model):
    enabled: bool = True
    lookback_days: int = Field(default=90, ge=7, le=365)  # locations added since then count as new
    limit_share: float = Field(default=1.0, gt=0, le=2)  # locations at this share of the plan's limit


class ExpansionFile(Model):
    titles: dict[str, str] = Field(
        default_factory=lambda: {
            "growth": "sustained order growth",
            "plan_limit": "plan's monthly order limit nearly reached",
            "new_locations": "new locations added",
            "location_limit": "plan's location limit reached",
        }
    )
    growth: Growth = Growth()
    plan_limit: PlanLimit = PlanLimit()
    locations: Locations = Locations()
    task: TaskTemplate


def _signal_issues(cfg: ExpansionFile, label: str) -> list[FileIssue]:
    unknown = sorted(set(cfg.titles) - {"growth", "plan_limit", "new_locations", "location_limit"})
    return [
        FileIssue(label, "titles", k, "not a signal (growth, plan_limit, new_locations, location_limit)")
        for k in unknown
    ]


def load(path: Path) -> ExpansionFile:
    return load_templated(ExpansionFile, path, {"task": TASK_PLACEHOLDERS}, _signal_issues)


@dataclass(frozen=True)
class Signal:
    name: str
    evidence: str


def pick(data: AccountData, candidates: Sequence[str]) -> tuple[str, Mapping[date, float]] | None:
    """The first of the candidate series ("metric|dimension") the store has data for."""
    for c in candidates:
        metric, _, dim = c.partition("|")
        s = data.series.get((metric, dim))
        if s:
            return c, s
    return None


def weekly(data: AccountData, candidates: Sequence[str], weeks: int) -> list[float] | None:
    """Weekly totals, oldest first, of the `weeks` complete weeks to yesterday; None without the history."""
    found = pick(data, candidates)
    if found is None:
        return None
    s = found[1]
    end = data.today - timedelta(days=1)
    start = end - timedelta(days=7 * weeks - 1)
    if min(s) > start:
        return None
    out = [0.0] * weeks
    for d, v in s.items():
        if start <= d <= end:
            out[(d - start).days // 7] += v
    return out


def trend(values: Sequence[float]) -> float | None:
    """The least-squares line's change from the first point to the last, relative to its first point."""
    n = len(values)
    if n < 2:
        return None
    mx, my = (n - 1) / 2.0, sum(values) / n
    sxx = sum((i - mx) ** 2 for i in range(n))
    slope = sum((i - mx) * (v - my) for i, v in enumerate(values)) / sxx
    first = my - slope * mx
    return slope * (n - 1) / first if first > 0 else None


def growth_signal(cfg: Growth, data: AccountData) -> Signal | None:
    """A fitted trend of at least `min_growth`, with every later week above the earlier weeks' mean."""
    w = weekly(data, cfg.series, cfg.weeks)
    if w is None:
        return None
    half = cfg.weeks // 2
    early, late = w[:half], w[half:]
    base = sum(early) / len(early)
    change = trend(w)
    if base <= 0 or base < cfg.min_weekly_orders or change is None:
        return None
    if change < cfg.min_growth or min(late) <= base:
        return None
    shown = ", ".join(f"{x:,.0f}" for x in w)
    return Signal(
        "growth", f"Orders per week over the last {cfg.weeks} weeks: {shown} (trend {change:+.0%})."
    )


def plan_limit_signal(cfg: PlanLimit, data: AccountData) -> Signal | None:
    limits = data.store.get("plan_limits") or {}
    limit = number(limits.get("monthly_orders")) if isinstance(limits, Mapping) else None
    if not limit:
        return None
    found = pick(data, cfg.series)
    if found is None:
        return None
    end = data.today - timedelta(days=1)
    start = end - timedelta(days=cfg.days - 1)
    orders = sum(v for d, v in found[1].items() if start <= d <= end)
    if orders < cfg.share * limit:
        return None
    plan = data.account.get("Plan__c") or data.store.get("plan") or "current"
    return Signal(
        "plan_limit",
        f"{orders:,.0f} orders in the last {cfg.days} days: {orders / limit:.0%} of the {plan} plan's "
        f"{limit:,.0f} a month.",
    )


@dataclass(frozen=True)
class Location:
    store_id: str
    added: date | None
    locations_limit: float | None


class ExpansionJob(JobBase):
    """Upsell Tasks for the account owner, at most one per signal per quarter (the key holds the quarter)."""

    name = "expansion"

    def __init__(self, cfg: ExpansionFile) -> None:
        self.cfg = cfg
        self.locations: dict[str, Location] = {}  # this run's, for the parents in finalize
        self.today: date | None = None

    @classmethod
    def build(cls, source: Any) -> ExpansionJob:
        return cls(load(mapping_dir(source) / FILE))

    @property
    def account_fields(self) -> frozenset[str]:
        return frozenset({"OwnerId", "ParentId", "Plan__c", "Onboarding_Start__c"})

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> dict[str, Any]:
        self.locations, self.today = {}, None
        return {}

    def signals(self, data: AccountData) -> list[Signal]:
        out = []
        if self.cfg.growth.enabled and (g := growth_signal(self.cfg.growth, data)):
            out.append(g)
        if self.cfg.plan_limit.enabled and (p := plan_limit_signal(self.cfg.plan_limit, data)):
            out.append(p)
        return out

    def upsell(self, store: str, account: Mapping[str, Any], s: Signal, today: date) -> Desired:
        q = Quarter.of(today)
        values = {
            "account": account.get("Name") or store,
            "store": store,
            "signal": s.name,
            "title": self.cfg.titles.get(s.name, s.name),
            "evidence": s.evidence,
            "quarter": str(q),
        }
        return task(
            f"{TASK_PREFIX}{store}:{s.name}:{q}",
            account,
            self.cfg.task,
            values,
            today,
            store_id=store,
            reason=s.evidence,
        )

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        limits = data.store.get("plan_limits") or {}
        self.locations[data.store_id] = Location(
            data.store_id,
            as_date(data.account.get("Onboarding_Start__c"))
            or as_date(data.store.get("onboarding_started_on")),
            number(limits.get("locations")) if isinstance(limits, Mapping) else None,
        )
        self.today = max(self.today or data.today, data.today)
        if not data.account.get("Id"):
            return []
        return [self.upsell(data.store_id, data.account, s, data.today) for s in self.signals(data)]

    def finalize(
        self, accounts: Mapping[str, Mapping[str, Any]], desired: Sequence[Desired], now: datetime
    ) -> Sequence[Desired]:
        today = self.today or now.date()
        out = []
        for parent, s in parent_signals(self.cfg.locations, accounts, self.locations, today):
            if accounts[parent].get("Id"):
                out.append(self.upsell(parent, accounts[parent], s, today))
        return out

    def explain(self, data: AccountData) -> dict[str, Any]:
        return {
            "job": self.name,
            "store": data.store_id,
            "quarter": str(Quarter.of(data.today)),
            "weekly_orders": weekly(data, self.cfg.growth.series, self.cfg.growth.weeks),
            "growth_trend": trend(weekly(data, self.cfg.growth.series, self.cfg.growth.weeks) or []),
            "plan_limits": data.store.get("plan_limits"),
            "signals": [{"signal": s.name, "evidence": s.evidence} for s in self.signals(data)],
        }


def parent_signals(
    cfg: Locations,
    accounts: Mapping[str, Mapping[str, Any]],
    seen: Mapping[str, Location],
    today: date,
) -> list[tuple[str, Signal]]:
    """MSO parents with more locations than `lookback_days` ago, or at their plan's location limit.

    A location's arrival is its onboarding start (Account field or store directory); one without is old.
    """
    if not cfg.enabled:
        return []
    store_of = {str(a["Id"]): s for s, a in accounts.items() if a.get("Id")}
    children: dict[str, list[str]] = {}
    for s, a in accounts.items():
        parent = store_of.get(str(a.get("ParentId") or ""))
        if parent is not None:
            children.setdefault(parent, []).append(s)
    since = today - timedelta(days=cfg.lookback_days)
    out: list[tuple[str, Signal]] = []
    for parent, kids in sorted(children.items()):

        def added(k: str) -> date | None:
            loc = seen.get(k)
            return (loc.added if loc else None) or as_date(accounts[k].get("Onboarding_Start__c"))

        new = sorted(k for k in kids if (d := added(k)) is not None and since < d <= today)
        if new:
            was = len(kids) - len(new)
            text = f"{len(kids)} locations now, {was} {cfg.lookback_days} days ago (new: {', '.join(new)})."
            out.append((parent, Signal("new_locations", text)))
        limits = [loc.locations_limit for k in kids if (loc := seen.get(k)) and loc.locations_limit]
        if limits and len(kids) >= cfg.limit_share * max(limits):
            out.append(
                (parent, Signal("location_limit", f"{len(kids)} locations on a plan for {max(limits):.0f}."))
            )
    return out
