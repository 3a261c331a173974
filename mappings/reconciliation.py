"""POS-reported sales against Metrc sales receipts per store and day: the pure arithmetic of the check.

Metrc is the regulator's record of every sale. When a store's POS totals and its Metrc receipts part
for a day, sales were not reported to the state (or were reported wrong): a compliance-reporting risk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from pydantic import Field, model_validator

from mappings.lifecycle import Model, Severity


class ReconciliationRule(Model):
    """`[metrc_reconciliation]` of compliance.toml: which series to compare, over which days, how closely."""

    enabled: bool = True
    pos_metric: str = "revenue"  # POS sales, pre-tax after discounts (docs/architecture.md vocabulary)
    metrc_metric: str = "metrc_sales"  # the receipts' TotalPrice: also pre-tax after discounts
    pos_source: str = "pos"  # freshness names: while either is stale, the finding is held as it is
    metrc_source: str = "metrc"
    license_attr: str = "license_number"  # a store without a Metrc license is not reconciled
    days: int = Field(default=7, ge=1, le=60)  # how many settled days are compared
    settle_days: int = Field(default=1, ge=1, le=7)  # today is partial; Metrc may trail a sale by 24 h
    tolerance_percent: float = Field(default=2.0, ge=0, le=100)  # of the larger of the two amounts
    tolerance_amount: float = Field(default=25.0, ge=0)  # dollars; a day within either is not a gap
    min_days: int = Field(default=1, ge=1)  # days beyond tolerance before the flag is raised
    stale_after_hours: float = Field(default=48.0, gt=0)
    severity: Severity = "High"
    title: str = "POS sales not matching Metrc sales receipts"
    source: str = Field(default="state track-and-trace: every retail sale is reported to Metrc", min_length=3)
    action: str = (
        "Ask the store to compare its POS sales with Metrc for these days and report the missing or "
        "corrected sales receipts."
    )

    @model_validator(mode="after")
    def _check(self) -> ReconciliationRule:
        if self.min_days > self.days:
            raise ValueError(f"min_days ({self.min_days}) cannot exceed days ({self.days})")
        return self


@dataclass(frozen=True)
class DayGap:
    """One day whose POS and Metrc totals part by more than the tolerance."""

    day: date
    pos: float
    metrc: float
    allowed: float

    @property
    def difference(self) -> float:
        return self.pos - self.metrc

    def line(self) -> str:
        way = "more" if self.difference > 0 else "less"
        return (
            f"{self.day.isoformat()}: POS ${self.pos:,.2f}, Metrc ${self.metrc:,.2f} — POS "
            f"${abs(self.difference):,.2f} {way} (tolerance ${self.allowed:,.2f})"
        )


@dataclass(frozen=True)
class Reconciliation:
    checked: tuple[date, ...]  # days compared
    gaps: tuple[DayGap, ...]  # the days beyond tolerance, oldest first
    unreadable: tuple[date, ...] = ()  # days with a non-finite or negative total: not compared

    def fires(self, rule: ReconciliationRule) -> bool:
        return len(self.gaps) >= rule.min_days


def allowed_gap(pos: float, metrc: float, rule: ReconciliationRule) -> float:
    """The difference a day may show: the larger of the fixed amount and the share of the larger total."""
    return max(rule.tolerance_amount, rule.tolerance_percent / 100.0 * max(abs(pos), abs(metrc)))


def _first_day(series: Mapping[date, float]) -> date | None:
    start = getattr(series, "start", None)  # a DaySeries knows it; a plain mapping is scanned
    if isinstance(start, date) and len(series):
        return start
    return min(series) if series else None


def reconcile(
    pos: Mapping[date, float], metrc: Mapping[date, float], today: date, rule: ReconciliationRule
) -> Reconciliation:
    """Compare the settled days both sources cover in full.

    The first day of each series is skipped: a first pull starts mid-day, so that day is partial for
    one source and would read as a gap. A day inside a series with no facts is a true zero.
    """
    first_pos, first_metrc = _first_day(pos), _first_day(metrc)
    if first_pos is None or first_metrc is None:
        return Reconciliation((), ())
    start = max(first_pos, first_metrc) + timedelta(days=1)
    last = today - timedelta(days=rule.settle_days)
    first = max(start, last - timedelta(days=rule.days - 1))
    checked: list[date] = []
    gaps: list[DayGap] = []
    unreadable: list[date] = []
    day = first
    while day <= last:
        p, m = pos.get(day, 0.0), metrc.get(day, 0.0)
        if not (_readable(p) and _readable(m)):
            unreadable.append(day)
        else:
            checked.append(day)
            allowed = allowed_gap(p, m, rule)
            if abs(p - m) > allowed:
                gaps.append(DayGap(day, round(p, 2), round(m, 2), round(allowed, 2)))
        day += timedelta(days=1)
    return Reconciliation(tuple(checked), tuple(gaps), tuple(unreadable))


def _readable(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


def finding(result: Reconciliation) -> str:
    """One sentence for the flag's reason and the Task: how many days, how much in all."""
    n = len(result.gaps)
    total = sum(g.difference for g in result.gaps)
    way = "above" if total >= 0 else "below"
    over = "that day" if n == 1 else "those days"
    return (
        f"POS sales differ from Metrc sales receipts on {n} of the last {len(result.checked)} days; "
        f"over {over} POS is ${abs(total):,.2f} {way} Metrc"
    )
