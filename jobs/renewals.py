"""Renewals: Tasks at 90, 60 and 30 days before a contract ends, with health, open risks and ROI."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from jobs.current import Reader
from jobs.job import JobBase
from jobs.portfolio import rows_in
from jobs.qbr import roi
from mappings.context import AccountData
from mappings.desired import Desired
from mappings.lifecycle import (
    Model,
    TaskTemplate,
    as_date,
    load_templated,
    mapping_dir,
    task,
)

FILE = "renewals.toml"
TASK_PREFIX = "renewal:"
TASK_PLACEHOLDERS = (
    "account",
    "store",
    "window",
    "days_left",
    "end_date",
    "record",
    "health",
    "risks",
    "roi",
    "roi_days",
    "roi_to",
)
HEALTH_FIELDS = ("Health_Score__c", "Health_Band__c", "Health_Trend__c", "Health_Score_Change_7d__c")


class RenewalsFile(Model):
    source: Literal["contract", "opportunity"] = "contract"
    windows: tuple[int, ...] = (90, 60, 30)  # days before the end: one Task per window reached
    opportunity_type: str = "Renewal"  # for source = "opportunity": open Opportunities of this Type
    contract_status: str = "Activated"
    roi_days: int = Field(default=90, ge=7, le=365)
    high_priority_bands: tuple[Literal["Green", "Yellow", "Red"], ...] = ("Red",)
    high_priority_with_open_risk: bool = True
    task: TaskTemplate

    @field_validator("windows")
    @classmethod
    def _windows(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(not 1 <= w <= 365 for w in v) or len(set(v)) != len(v):
            raise ValueError("windows must be distinct day counts between 1 and 365")
        return tuple(sorted(v, reverse=True))

    @property
    def lookahead(self) -> int:
        return max(self.windows)


def load(path: Path) -> RenewalsFile:
    return load_templated(RenewalsFile, path, {"task": TASK_PLACEHOLDERS})


@dataclass(frozen=True)
class Renewal:
    record_id: str  # the Contract or Opportunity Id
    end: date
    days_left: int
    window: int  # the smallest window the renewal is inside

    @property
    def opened(self) -> date:
        """The day the renewal entered its window: the ROI is measured up to it, so it holds still."""
        return self.end - timedelta(days=self.window)


def window_for(days_left: int, windows: Sequence[int]) -> int | None:
    """The window a renewal is in: 45 days left with (90, 60, 30) is the 60-day window; none past the end."""
    inside = [w for w in windows if 0 <= days_left <= w]
    return min(inside) if inside else None


def renewals(cfg: RenewalsFile, data: AccountData) -> list[Renewal]:
    out = []
    for rec in data.attrs.get("renewals") or ():
        end = as_date(rec.get("end"))
        if end is None:
            continue
        left = (end - data.today).days
        w = window_for(left, cfg.windows)
        if w is not None:
            out.append(Renewal(str(rec.get("id")), end, left, w))
    return sorted(out, key=lambda r: (r.end, r.record_id))


def health_text(account: Mapping[str, Any]) -> str:
    score, band = account.get("Health_Score__c"), account.get("Health_Band__c")
    if score in (None, ""):
        return "no health score yet"
    trend, change = account.get("Health_Trend__c"), account.get("Health_Score_Change_7d__c")
    text = f"{float(score):.0f} ({band or 'no band'})"
    if trend:
        text += f", {str(trend).lower()}"
        if change not in (None, ""):
            text += f" ({float(change):+.0f} in 7 days)"
    return text


def risks_text(risks: Sequence[Mapping[str, Any]]) -> str:
    if not risks:
        return "nothing open"
    return "; ".join(
        f"{r.get('Name') or r.get('Rule__c')} ({r.get('Severity__c') or '?'})"
        for r in sorted(risks, key=lambda r: str(r.get("Name") or r.get("Rule__c")))
    )


class RenewalsJob(JobBase):
    """One Task per contract per window reached; High when health is Red or a risk is open."""

    name = "renewals"

    def __init__(self, cfg: RenewalsFile) -> None:
        self.cfg = cfg

    @classmethod
    def build(cls, source: Any) -> RenewalsJob:
        return cls(load(mapping_dir(source) / FILE))

    @property
    def account_fields(self) -> frozenset[str]:
        return frozenset({"CSM__c", "OwnerId", *HEALTH_FIELDS})

    def queries(
        self, org: Reader, ids: Sequence[str], now: datetime
    ) -> tuple[Iterator[dict[str, Any]], Iterator[dict[str, Any]]]:
        """Renewals ending in the next `lookahead` days, and open flags, of these accounts.

        Dates are bound from the run's `now` (not NEXT_N_DAYS) so a plan is reproducible for a given time.
        """
        start, end = now.date(), now.date() + timedelta(days=self.cfg.lookahead)
        if self.cfg.source == "contract":
            renewal = rows_in(
                org,
                "Contract",
                ["Id", "AccountId", "EndDate", "Status"],
                "AccountId",
                ids,
                "Status = {status} AND EndDate >= {start} AND EndDate <= {end}",
                status=self.cfg.contract_status,
                start=start,
                end=end,
            )
        else:
            renewal = rows_in(
                org,
                "Opportunity",
                ["Id", "AccountId", "CloseDate", "StageName", "Type"],
                "AccountId",
                ids,
                "IsClosed = false AND Type = {kind} AND CloseDate >= {start} AND CloseDate <= {end}",
                kind=self.cfg.opportunity_type,
                start=start,
                end=end,
            )
        fields = ["Id", "Account__c", "Name", "Rule__c", "Severity__c"]
        risks = rows_in(org, "Risk_Flag__c", fields, "Account__c", ids, "Status__c = 'Open'")
        return renewal, risks

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> dict[str, Any]:
        by_id = {str(a["Id"]): s for s, a in accounts.items() if a.get("Id")}
        out: dict[str, dict[str, Any]] = {}
        renewals, risks = self.queries(org, sorted(by_id), now)
        for row in renewals:
            store = by_id.get(str(row.get("AccountId")))
            if store is not None:
                end = row.get("EndDate") if self.cfg.source == "contract" else row.get("CloseDate")
                out.setdefault(store, {}).setdefault("renewals", []).append({"id": row["Id"], "end": end})
        for row in risks:
            store = by_id.get(str(row.get("Account__c")))
            if store is not None:
                out.setdefault(store, {}).setdefault("open_risks", []).append(dict(row))
        return out

    def priority(self, data: AccountData) -> str:
        band = data.account.get("Health_Band__c")
        risky = self.cfg.high_priority_with_open_risk and bool(data.attrs.get("open_risks"))
        return "High" if band in self.cfg.high_priority_bands or risky else self.cfg.task.priority

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        if not data.account.get("Id"):
            return []
        found = renewals(self.cfg, data)
        if not found:
            return []
        risks: Sequence[Mapping[str, Any]] = data.attrs.get("open_risks") or ()
        priority = self.priority(data)
        out = []
        for rn in found:
            # the ROI of the roi_days before the window opened: a kept-current description that would
            # otherwise change every day changes only when the health or the open risks do
            r = roi(data, rn.opened - timedelta(days=self.cfg.roi_days), rn.opened - timedelta(days=1))
            values = {
                "account": data.account.get("Name") or data.store_id,
                "store": data.store_id,
                "window": rn.window,
                "days_left": rn.days_left,
                "end_date": rn.end.isoformat(),
                "record": rn.record_id,
                "health": health_text(data.account),
                "risks": risks_text(risks),
                "roi": r.summary(),
                "roi_days": self.cfg.roi_days,
                "roi_to": (rn.opened - timedelta(days=1)).isoformat(),
            }
            out.append(
                task(
                    f"{TASK_PREFIX}{data.store_id}:{rn.record_id}:{rn.window}",
                    data.account,
                    self.cfg.task,
                    values,
                    data.today,
                    priority=priority,
                    store_id=data.store_id,
                    reason=f"renewal on {rn.end} inside the {rn.window}-day window",
                    keep_current=("Description",),
                )
            )
        return out

    def explain(self, data: AccountData) -> dict[str, Any]:
        r = roi(data, data.today - timedelta(days=self.cfg.roi_days), data.today)  # the latest, for context
        return {
            "job": self.name,
            "store": data.store_id,
            "source": self.cfg.source,
            "candidates": list(data.attrs.get("renewals") or ()),
            "in_window": [
                {
                    "record": x.record_id,
                    "end": x.end.isoformat(),
                    "days_left": x.days_left,
                    "window": x.window,
                }
                for x in renewals(self.cfg, data)
            ],
            "health": health_text(data.account),
            "open_risks": risks_text(data.attrs.get("open_risks") or ()),
            "priority": self.priority(data),
            "roi": r.summary(),
        }
