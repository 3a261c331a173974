"""QBR / ROI: a Quarterly_Review__c per account and quarter, with the region's mix, and a prep Task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field

from jobs.current import Reader
from jobs.job import JobBase
from mappings.context import AccountData
from mappings.desired import Desired
from mappings.functions import CATEGORIES
from mappings.lifecycle import (
    Model,
    Quarter,
    TaskTemplate,
    as_date,
    load_templated,
    mapping_dir,
    money,
    pct,
    task,
)

FILE = "qbr.toml"
OBJECT = "Quarterly_Review__c"
KEY_FIELD = "Review_Key__c"
TASK_PREFIX = "qbr:"
TASK_PLACEHOLDERS = ("account", "store", "quarter", "review_date", "summary", "category_mix")


class QbrFile(Model):
    review_offset_days: int = Field(default=15, ge=0, le=90)  # the review is held this long after quarter end
    review_date_field: str = ""  # an Account Date field with the scheduled review, when the org has one
    prep_days_before: int = Field(default=14, ge=1, le=60)  # the prep Task appears this long before
    current_quarter: bool = True  # also keep a to-date record of the running quarter
    region_min_stores: int = Field(default=2, ge=1)  # fewer stores in the state: no region comparison
    mix_categories: int = Field(default=5, ge=1, le=9)  # categories listed in Category_Mix__c
    task: TaskTemplate


def load(path: Path) -> QbrFile:
    return load_templated(QbrFile, path, {"task": TASK_PLACEHOLDERS})


# -- the maths ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Roi:
    """Online vs in-store over a span of days: what the CSM presents as the platform's return."""

    start: date
    end: date
    days: int  # days in the span that have data
    online_orders: float
    in_store_orders: float
    online_revenue: float
    in_store_revenue: float
    sessions: float
    carts: float
    platform_orders: float  # orders the e-commerce platform counted (conversion's numerator)

    @property
    def orders(self) -> float:
        return self.online_orders + self.in_store_orders

    @property
    def aov_online(self) -> float | None:
        return self.online_revenue / self.online_orders if self.online_orders else None

    @property
    def aov_in_store(self) -> float | None:
        return self.in_store_revenue / self.in_store_orders if self.in_store_orders else None

    @property
    def aov_lift(self) -> float | None:
        on, off = self.aov_online, self.aov_in_store
        return on / off - 1.0 if on is not None and off else None

    @property
    def online_share(self) -> float | None:
        return self.online_orders / self.orders if self.orders else None

    @property
    def conversion(self) -> float | None:
        placed = self.platform_orders or self.online_orders
        return placed / self.sessions if self.sessions else None

    @property
    def abandonment(self) -> float | None:
        placed = self.platform_orders or self.online_orders
        return max(0.0, 1.0 - placed / self.carts) if self.carts else None

    @property
    def orders_per_day(self) -> float | None:
        return self.orders / self.days if self.days else None

    def summary(self) -> str:
        """One line for Task descriptions."""
        parts = []
        if self.aov_online is not None and self.aov_in_store is not None:
            lift = self.aov_lift
            parts.append(
                f"AOV online {money(self.aov_online)} vs in-store {money(self.aov_in_store)}"
                + (f" ({lift:+.0%})" if lift is not None else "")
            )
        if self.online_share is not None:
            parts.append(f"online share {self.online_share:.0%} of {self.orders:,.0f} orders")
        if self.conversion is not None:
            parts.append(f"conversion {self.conversion:.1%}")
        if self.abandonment is not None:
            parts.append(f"cart abandonment {self.abandonment:.0%}")
        return "; ".join(parts) if parts else "no order data for the period"


def _sum(data: AccountData, metric: str, dim: str, start: date, end: date) -> float:
    s = data.series.get((metric, dim)) or {}
    return float(sum(v for d, v in s.items() if start <= d <= end))


def first_data_day(data: AccountData) -> date | None:
    days = [d for k in (("orders", ""), ("orders", "channel=online"), ("orders", "channel=in_store"))
            for d in (data.series.get(k) or {})]  # fmt: skip
    return min(days) if days else None


def roi(data: AccountData, start: date, end: date) -> Roi:
    """ROI figures over [start, end], cut to complete days (before today) that have data."""
    end = min(end, data.today - timedelta(days=1))
    first = first_data_day(data)
    lo = max(start, first) if first else start
    days = max(0, (end - lo).days + 1) if first else 0
    return Roi(
        start=start,
        end=end,
        days=days,
        online_orders=_sum(data, "orders", "channel=online", start, end),
        in_store_orders=_sum(data, "orders", "channel=in_store", start, end),
        online_revenue=_sum(data, "revenue", "channel=online", start, end),
        in_store_revenue=_sum(data, "revenue", "channel=in_store", start, end),
        sessions=_sum(data, "sessions", "", start, end),
        carts=_sum(data, "carts", "", start, end),
        platform_orders=_sum(data, "online_orders", "", start, end),
    )


def category_shares(data: AccountData, start: date, end: date) -> dict[str, float]:
    """Revenue share per product category over [start, end] (all channels)."""
    end = min(end, data.today - timedelta(days=1))
    revenue = {c: _sum(data, "revenue", f"category={c}", start, end) for c in CATEGORIES}
    total = sum(revenue.values())
    return {c: v / total for c, v in revenue.items() if v > 0} if total else {}


def mix_text(mine: Mapping[str, float], region: Mapping[str, float] | None, state: str, top: int) -> str:
    """`edibles 22% (NV 18%, +4 pts)` per category, largest first; the region when there is one."""
    if not mine:
        return "No category sales in this quarter."
    rows = sorted(mine.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    out = []
    for c, share in rows:
        line = f"{c.replace('_', ' ')} {share:.0%}"
        if region is not None:
            r = region.get(c, 0.0)
            line += f" ({state} stores {r:.0%}, {100 * (share - r):+.0f} pts)"
        out.append(line)
    head = "Revenue by category" + (f" vs {state} stores:" if region is not None else ":")
    return head + "\n" + "\n".join(f"- {x}" for x in out)


def region_mix(shares: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The mean share per category over a region's stores (each store weighs the same)."""
    cats = sorted({c for s in shares for c in s})
    return {c: sum(s.get(c, 0.0) for s in shares) / len(shares) for c in cats} if shares else {}


def review_date(cfg: QbrFile, account: Mapping[str, Any], quarter: Quarter) -> date:
    """When the review of `quarter` is held: the Account's scheduled date if it falls after the quarter."""
    default = quarter.end + timedelta(days=cfg.review_offset_days)
    if cfg.review_date_field:
        scheduled = as_date(account.get(cfg.review_date_field))
        if scheduled is not None and quarter.end < scheduled <= quarter.next().end + timedelta(days=90):
            return scheduled
    return default


@dataclass(frozen=True)
class Review:
    """One store's figures for one quarter, waiting for the region's mix in finalize."""

    store_id: str
    account_id: str
    state: str
    quarter: Quarter
    review_on: date
    roi: Roi
    previous: Roi
    shares: Mapping[str, float]

    @property
    def trend(self) -> float | None:
        now, before = self.roi.orders_per_day, self.previous.orders_per_day
        return now / before - 1.0 if now is not None and before else None


class QbrJob(JobBase):
    """Reviews of the last complete quarter (and the running one to date), and the prep Task."""

    name = "qbr"
    history_days = 280  # a quarter, the one before it for the trend, and the running one

    def __init__(self, cfg: QbrFile) -> None:
        self.cfg = cfg
        self.reviews: dict[tuple[str, Quarter], Review] = {}  # this run's, for finalize's region mix

    @classmethod
    def build(cls, source: Any) -> QbrJob:
        return cls(load(mapping_dir(source) / FILE))

    @property
    def account_fields(self) -> frozenset[str]:
        return frozenset({"CSM__c", "OwnerId", "BillingState"} | ({self.cfg.review_date_field} - {""}))

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> dict[str, Any]:
        self.reviews = {}
        return {}

    def quarters(self, today: date) -> list[Quarter]:
        last = Quarter.of(today).previous()
        return [last, Quarter.of(today)] if self.cfg.current_quarter else [last]

    def assess(self, data: AccountData) -> list[Review]:
        state = str(data.store.get("state") or data.account.get("BillingState") or "").upper()
        out = []
        for q in self.quarters(data.today):
            r = roi(data, q.start, q.end)
            if r.days == 0:
                continue
            p = q.previous()
            out.append(
                Review(
                    data.store_id,
                    str(data.account.get("Id") or ""),
                    state,
                    q,
                    review_date(self.cfg, data.account, q),
                    r,
                    roi(data, p.start, p.end),
                    category_shares(data, q.start, q.end),
                )
            )
        return out

    @property
    def read_by(self) -> Mapping[str, str]:
        return {OBJECT: "Quarter__c"}  # the quarters' reviews of every store, kept

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        if not data.account.get("Id"):
            return []
        out: list[Desired] = []
        for rv in self.assess(data):
            self.reviews[(data.store_id, rv.quarter)] = rv
            opens = rv.review_on - timedelta(days=self.cfg.prep_days_before)
            if rv.quarter.end < data.today and opens <= data.today <= rv.review_on:
                values = {
                    "account": data.account.get("Name") or data.store_id,
                    "store": data.store_id,
                    "quarter": str(rv.quarter),
                    "review_date": rv.review_on.isoformat(),
                    "summary": rv.roi.summary()
                    + (
                        f"; orders per day {rv.trend:+.0%} vs the quarter before"
                        if rv.trend is not None
                        else ""
                    ),
                    "category_mix": mix_text(rv.shares, None, rv.state, self.cfg.mix_categories),
                }
                out.append(
                    task(
                        f"{TASK_PREFIX}{data.store_id}:{rv.quarter}",
                        data.account,
                        self.cfg.task,
                        values,
                        data.today,
                        store_id=data.store_id,
                        reason=f"QBR {rv.quarter} on {rv.review_on}",
                    )
                )
        return out

    def finalize(
        self, accounts: Mapping[str, Mapping[str, Any]], desired: Sequence[Desired], now: datetime
    ) -> Sequence[Desired]:
        return review_records(list(self.reviews.values()), self.cfg)

    def explain(self, data: AccountData) -> dict[str, Any]:
        out = []
        for rv in self.assess(data):
            r = rv.roi
            out.append(
                {
                    "quarter": str(rv.quarter),
                    "days_with_data": r.days,
                    "review_date": rv.review_on.isoformat(),
                    "online_orders": r.online_orders,
                    "in_store_orders": r.in_store_orders,
                    "aov_online": r.aov_online,
                    "aov_in_store": r.aov_in_store,
                    "aov_lift": r.aov_lift,
                    "conversion": r.conversion,
                    "cart_abandonment": r.abandonment,
                    "online_share": r.online_share,
                    "order_trend": rv.trend,
                    "category_shares": dict(rv.shares),
                }
            )
        return {"job": self.name, "store": data.store_id, "quarters": out}


def review_records(reviews: Sequence[Review], cfg: QbrFile) -> list[Desired]:
    """Quarterly_Review__c records, each with its category mix against its state's stores that quarter."""
    by_region: dict[tuple[str, Quarter], list[Mapping[str, float]]] = {}
    for rv in reviews:
        if rv.shares:
            by_region.setdefault((rv.state, rv.quarter), []).append(rv.shares)
    out = []
    for rv in sorted(reviews, key=lambda r: (r.store_id, r.quarter)):
        peers = by_region.get((rv.state, rv.quarter), [])
        region = region_mix(peers) if rv.state and len(peers) >= cfg.region_min_stores else None
        r = rv.roi
        fields: dict[str, Any] = {
            "Name": f"{rv.store_id} {rv.quarter}",
            "Quarter__c": str(rv.quarter),
            "Review_Date__c": rv.review_on.isoformat(),
            "Online_Orders__c": round(r.online_orders),
            "In_Store_Orders__c": round(r.in_store_orders),
            "AOV_Online__c": round(r.aov_online, 2) if r.aov_online is not None else None,
            "AOV_In_Store__c": round(r.aov_in_store, 2) if r.aov_in_store is not None else None,
            "AOV_Lift__c": pct(r.aov_lift),
            "Conversion__c": pct(r.conversion),
            "Cart_Abandonment__c": pct(r.abandonment),
            "Online_Share__c": pct(r.online_share),
            "Order_Trend__c": pct(rv.trend),
            "Category_Mix__c": mix_text(rv.shares, region, rv.state, cfg.mix_categories),
        }
        out.append(
            Desired(
                OBJECT,
                KEY_FIELD,
                f"{rv.store_id}:{rv.quarter}",
                fields,
                {"Account__c": rv.account_id},
                account_key=rv.store_id,
                reason=f"quarterly review {rv.quarter}",
            )
        )
    return out
