"""The figures of a QBR pack (pure): channels, weekly orders, funnel, mix, states and the ROI estimate.

Everything the pack draws or prints comes from `PackFigures`, and its digest decides whether a new
version is uploaded: the PDF's bytes never do. The channel figures are the qbr job's own (`roi()`), so
the pack and the account's Quarterly_Review__c record always agree.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field

from jobs.qbr import Roi, category_shares, first_data_day, roi
from mappings.context import AccountData
from mappings.functions import CATEGORIES
from mappings.lifecycle import Model, Quarter, label_of, load_model

FILE = "qbr_pack.toml"
WEEKS = 13
# Bumped when the pack shows something new, so existing packs are rendered again once.
PACK_FORMAT = 1


class PackLayout(Model):
    title: str = Field(default="Quarterly business review", min_length=1, max_length=80)
    prepared_by: str = Field(default="Customer Success", max_length=80)
    top_products: int = Field(default=10, ge=1, le=25)
    mix_categories: int = Field(default=6, ge=2, le=len(CATEGORIES))
    min_channel_orders: int = Field(default=30, ge=1, le=100_000)


class RoiAssumptions(Model):
    aov_lift_attribution: float = Field(default=0.5, ge=0.0, le=1.0, allow_inf_nan=False)
    phone_order_share: float = Field(default=0.35, ge=0.0, le=1.0, allow_inf_nan=False)
    phone_minutes_per_order: float = Field(default=6.0, gt=0.0, le=120.0, allow_inf_nan=False)
    budtender_hourly_cost: float = Field(default=21.5, ge=0.0, le=1_000.0, allow_inf_nan=False)


# How the pack explains each assumption (printed next to its value and the file it comes from).
ASSUMPTION_TEXT = {
    "aov_lift_attribution": "share of the online AOV lift credited to the platform",
    "phone_order_share": "share of online orders that would otherwise have been phoned in",
    "phone_minutes_per_order": "budtender minutes one phone order takes",
    "budtender_hourly_cost": "cost of a budtender hour (USD, wages and burden)",
}


class QbrPackFile(Model):
    enabled: bool = True
    current_quarter: bool = False
    pack: PackLayout = PackLayout()
    roi: RoiAssumptions = RoiAssumptions()


def load(path: Path) -> QbrPackFile:
    """The pack file, validated like every mapping file (file, key and fix on error)."""
    return load_model(QbrPackFile, path, label_of(path))


def parse_quarter(text: str) -> Quarter:
    """`2026Q4`, `2026-Q4` or `2026-q4` → Quarter; ValueError naming the expected form otherwise."""
    t = text.strip().upper().replace("-", "")
    if len(t) == 6 and t[:4].isdigit() and t[4] == "Q" and t[5] in "1234":
        return Quarter(int(t[:4]), int(t[5]))
    raise ValueError(f"quarter {text!r} is not of the form 2026Q4 (or 2026-Q4)")


# -- figures --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Week:
    start: date
    end: date
    online_orders: float
    in_store_orders: float
    carts: float
    placed: float  # online orders the platform counted (abandonment's numerator)
    days: int = 7  # days of the week that have data (0 before the data starts)

    def per_day(self, orders: float) -> float | None:
        """Orders per day over the week's days with data: partial and 8-day weeks compare fairly."""
        return orders / self.days if self.days else None

    @property
    def abandonment(self) -> float | None:
        return max(0.0, 1.0 - self.placed / self.carts) if self.carts else None


@dataclass(frozen=True)
class TopProduct:
    name: str
    category: str
    revenue: float
    units: float
    online_share: float | None = None


@dataclass(frozen=True)
class StateMix:
    state: str
    stores: int
    revenue: float
    shares: Mapping[str, float]


@dataclass(frozen=True)
class RoiEstimate:
    aov_gap: float | None  # online AOV - in-store AOV (USD)
    incremental_revenue: float | None
    phone_orders_avoided: float
    minutes_saved: float
    hours_saved: float
    time_value: float


@dataclass(frozen=True)
class PackFigures:
    """One account's quarter as the pack shows it; `digest` is what decides a new version."""

    store_id: str
    account: str
    quarter: str
    quarter_start: date
    quarter_end: date
    quarter_days: int
    covered_from: date | None
    covered_to: date | None
    days_covered: int
    locations: int
    current: Roi
    previous: Roi
    weeks: tuple[Week, ...]
    checkouts: float
    mix: Mapping[str, float]
    mix_previous: Mapping[str, float]
    top_products: tuple[TopProduct, ...]
    states: tuple[StateMix, ...]
    estimate: RoiEstimate
    assumptions: RoiAssumptions
    layout: PackLayout
    notes: tuple[str, ...] = field(default=())

    @property
    def coverage(self) -> str:
        if self.days_covered == 0:
            return f"no order data in {self.quarter} (0 of {self.quarter_days} days)"
        span = f"{self.covered_from:%b %-d} to {self.covered_to:%b %-d, %Y}"
        if self.days_covered == self.quarter_days:
            return f"covers all {self.quarter_days} days of {self.quarter} ({span})"
        return f"covers {self.days_covered} of {self.quarter_days} days ({span})"

    @property
    def aov_comparable(self) -> bool:
        n = self.layout.min_channel_orders
        return self.current.online_orders >= n and self.current.in_store_orders >= n

    def as_dict(self) -> dict[str, Any]:
        """Plain, rounded values: the same figures always give the same dict, whatever float noise."""
        raw = asdict(self)
        raw["current"] = _roi_dict(self.current)
        raw["previous"] = _roi_dict(self.previous)
        raw["assumptions"] = self.assumptions.model_dump()
        raw["layout"] = self.layout.model_dump()
        raw["format"] = PACK_FORMAT
        out: dict[str, Any] = _rounded(raw)
        return out

    @property
    def digest(self) -> str:
        body = json.dumps(self.as_dict(), sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


def _roi_dict(r: Roi) -> dict[str, Any]:
    return {
        **asdict(r),
        "aov_online": r.aov_online,
        "aov_in_store": r.aov_in_store,
        "aov_lift": r.aov_lift,
        "conversion": r.conversion,
        "abandonment": r.abandonment,
        "online_share": r.online_share,
    }


def _rounded(x: Any) -> Any:
    if isinstance(x, float):
        return round(x, 4) if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): _rounded(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_rounded(v) for v in x]
    return x


def merge(datas: Sequence[AccountData], store_id: str, account: Mapping[str, Any]) -> AccountData:
    """An MSO's locations as one store: every series summed day by day."""
    series: dict[tuple[str, str], dict[date, float]] = {}
    for d in datas:
        for key, days in d.series.items():
            into = series.setdefault(key, {})
            for day, v in days.items():
                into[day] = into.get(day, 0.0) + v
    today = max((d.today for d in datas), default=date.min)
    now = max(d.now for d in datas)
    return AccountData(store_id=store_id, today=today, now=now, account=dict(account), series=series)


def _sum(data: AccountData, metric: str, dim: str, start: date, end: date) -> float:
    s = data.series.get((metric, dim)) or {}
    return float(sum(v for d, v in s.items() if start <= d <= end))


def weeks(data: AccountData, quarter: Quarter, last: date, first: date | None = None) -> tuple[Week, ...]:
    """The quarter in 13 weeks from its first day (the 13th takes the last day or two), up to `last`;
    each knows how many of its days have data (from `first`)."""
    out = []
    for i in range(WEEKS):
        start = quarter.start + timedelta(days=7 * i)
        end = quarter.end if i == WEEKS - 1 else start + timedelta(days=6)
        if start > last:
            break
        end = min(end, last)
        online = _sum(data, "orders", "channel=online", start, end)
        placed = _sum(data, "online_orders", "", start, end) or online
        covered = max(0, (end - max(start, first or start)).days + 1)
        out.append(
            Week(
                start,
                end,
                online,
                _sum(data, "orders", "channel=in_store", start, end),
                _sum(data, "carts", "", start, end),
                placed,
                covered,
            )
        )
    return tuple(out)


def estimate(r: Roi, a: RoiAssumptions, comparable: bool) -> RoiEstimate:
    """Incremental revenue from the AOV lift, and budtender phone-order time saved, from the assumptions."""
    gap = (r.aov_online - r.aov_in_store) if comparable and r.aov_online and r.aov_in_store else None
    incremental = gap * r.online_orders * a.aov_lift_attribution if gap is not None else None
    avoided = r.online_orders * a.phone_order_share
    minutes = avoided * a.phone_minutes_per_order
    return RoiEstimate(
        aov_gap=gap,
        incremental_revenue=incremental,
        phone_orders_avoided=avoided,
        minutes_saved=minutes,
        hours_saved=minutes / 60.0,
        time_value=minutes / 60.0 * a.budtender_hourly_cost,
    )


def state_mixes(locations: Sequence[tuple[str, AccountData]], quarter: Quarter) -> tuple[StateMix, ...]:
    """Category share per state over an MSO's locations (revenue-weighted within the state)."""
    by_state: dict[str, list[AccountData]] = {}
    for state, d in locations:
        by_state.setdefault(state or "unknown", []).append(d)
    out = []
    for state, ds in sorted(by_state.items()):
        revenue = {
            c: sum(_sum(d, "revenue", f"category={c}", quarter.start, quarter.end) for d in ds)
            for c in CATEGORIES
        }
        total = sum(revenue.values())
        if total <= 0:
            continue
        shares = {c: v / total for c, v in revenue.items() if v > 0}
        out.append(StateMix(state, len(ds), total, shares))
    return tuple(out)


def state_differences(states: Sequence[StateMix], top: int = 3) -> list[str]:
    """What differs between an MSO's states: the categories whose share varies most, in words."""
    if len(states) < 2:
        return []
    cats = sorted({c for s in states for c in s.shares})
    spread = []
    for c in cats:
        vals = [(s.shares.get(c, 0.0), s.state) for s in states]
        hi, lo = max(vals), min(vals)
        spread.append((hi[0] - lo[0], c, hi, lo))
    spread.sort(key=lambda x: (-x[0], x[1]))
    lines = []
    for gap, c, hi, lo in spread[:top]:
        if gap < 0.02:
            break
        lines.append(
            f"{c.replace('_', ' ').capitalize()}: {hi[0]:.0%} of revenue in {hi[1]} vs {lo[0]:.0%} in "
            f"{lo[1]} ({100 * gap:.0f} pts apart)"
        )
    return lines or ["The states' category mixes are within 2 points of each other."]


def figures(
    data: AccountData,
    quarter: Quarter,
    cfg: QbrPackFile,
    top_products: Sequence[TopProduct] = (),
    locations: Sequence[tuple[str, AccountData]] = (),
) -> PackFigures:
    """The pack of `data` (one store, or an MSO merged with `merge`) for `quarter`.

    `locations` are an MSO's stores with their states, for the comparison across states.
    """
    current = roi(data, quarter.start, quarter.end)
    p = quarter.previous()
    previous = roi(data, p.start, p.end)
    first = first_data_day(data)
    covered_from = max(quarter.start, first) if first and current.days else None
    covered_to = current.end if current.days else None
    wk = weeks(data, quarter, current.end, covered_from) if current.days else ()
    states = state_mixes(locations, quarter) if locations else ()
    layout = cfg.pack
    comparable = (
        current.online_orders >= layout.min_channel_orders
        and current.in_store_orders >= layout.min_channel_orders
    )
    fig = PackFigures(
        store_id=data.store_id,
        account=str(data.account.get("Name") or data.store_id),
        quarter=str(quarter),
        quarter_start=quarter.start,
        quarter_end=quarter.end,
        quarter_days=quarter.days,
        covered_from=covered_from,
        covered_to=covered_to,
        days_covered=current.days,
        locations=max(1, len(locations)),
        current=current,
        previous=previous,
        weeks=wk,
        checkouts=_sum(data, "checkouts", "", quarter.start, current.end),
        mix=category_shares(data, quarter.start, quarter.end),
        mix_previous=category_shares(data, p.start, p.end),
        top_products=tuple(top_products[: layout.top_products]),
        states=states,
        estimate=estimate(current, cfg.roi, comparable),
        assumptions=cfg.roi,
        layout=layout,
    )
    return _with_notes(fig)


def _with_notes(f: PackFigures) -> PackFigures:
    """What the data cannot show, said in words where a chart would otherwise be empty or misleading."""
    notes = []
    r = f.current
    if f.days_covered == 0:
        notes.append(f"There is no order data for {f.quarter}: no charts of it can be drawn.")
    elif f.days_covered < f.quarter_days:
        notes.append(f"Partial quarter: the figures {f.coverage}.")
    if f.days_covered:
        if r.online_orders == 0:
            notes.append(
                "No online orders this quarter: the online vs in-store comparison, the funnel's "
                "orders and the ROI estimate need them."
            )
        if r.in_store_orders == 0:
            notes.append(
                "No in-store orders reached us this quarter (no POS channel data): AOV is not compared."
            )
        n = f.layout.min_channel_orders
        if 0 < r.online_orders < n or 0 < r.in_store_orders < n:
            notes.append(f"Fewer than {n} orders in a channel: too few to compare average order values.")
        if r.sessions == 0:
            notes.append("No e-commerce analytics (sessions, carts) this quarter: the funnel is not drawn.")
        if not f.mix:
            notes.append("No sales by product category this quarter: the category mix is not drawn.")
        elif not f.mix_previous:
            notes.append(
                f"No category sales in {Quarter.of(f.quarter_start).previous()}: "
                "the mix is shown without its change."
            )
    return PackFigures(**{**f.__dict__, "notes": tuple(notes)})
