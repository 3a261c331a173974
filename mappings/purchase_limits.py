"""Online orders against the state's purchase limits (`purchase_limit` rules of states/<ST>.toml): pure.

The e-commerce platform takes the order; the store's POS may not stop an order above the state's
limit before it is sold. Each order is measured per rule: grams of the counted categories for a
g/oz limit, mg THC for an mg limit. An order above a per-day limit is above it in one transaction too,
so both kinds are checked per order (orders carry no customer to sum a day across orders).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field, field_validator

from mappings.functions import CATEGORIES
from mappings.lifecycle import Model, Severity
from mappings.states import StateFile, StateRule, Violation, category

GRAMS_PER: dict[str, float] = {"g": 1.0, "oz": 28.349523125}  # avoirdupois ounce
EPSILON = 1e-9  # an order of exactly the limit (28.349523125 g as 8 x 3.5437 g) is within it
MAX_LISTED = 10  # orders named in the evidence; the rest are counted


class LimitCheck(Model):
    """`[purchase_limits]` of compliance.toml: which orders are read and what each rule item counts."""

    enabled: bool = True
    order_stream: str = "orders"
    order_source: str = "platform"  # freshness name: while stale, findings are held as they are
    window_days: int = Field(default=7, ge=1, le=90)  # orders placed this recently are checked
    statuses: tuple[str, ...] = ("completed",)  # a canceled order sold nothing
    counts: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "flower": ("flower", "pre_rolls"),
            "concentrate": ("concentrates", "vapes"),
            "infused": ("edibles", "beverages", "tinctures", "topicals"),
        }
    )  # a rule's `item` -> the menu categories whose lines count against it
    severity: Severity = "High"  # a sale above the limit is one the state forbids
    action: str = (
        "Ask the store to check these orders and to turn on purchase-limit enforcement for online orders."
    )

    @field_validator("counts")
    @classmethod
    def _check_counts(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for item, cats in v.items():
            for c in cats:
                if c not in CATEGORIES:
                    known = ", ".join(CATEGORIES)
                    raise ValueError(f'"{c}" (counted for {item}) is not a category ({known})')
        return v


@dataclass(frozen=True)
class OrderLine:
    category: str
    quantity: float
    grams: float | None  # net weight of one unit
    thc_mg: float | None  # THC in one unit


@dataclass(frozen=True)
class Order:
    id: str
    placed_at: datetime | None
    status: str
    lines: tuple[OrderLine, ...]

    @classmethod
    def of(cls, rec: Mapping[str, object]) -> Order:
        """Reads the platform's order attrs (`items[].category/quantity/weight_grams/thc_mg`)."""
        raw_lines = rec.get("items")
        lines = []
        for raw in raw_lines if isinstance(raw_lines, list | tuple) else ():
            if isinstance(raw, Mapping):
                lines.append(
                    OrderLine(
                        category=category(raw.get("category")),
                        quantity=_measure(raw.get("quantity")) or 0.0,
                        grams=_measure(raw.get("weight_grams")),
                        thc_mg=_measure(raw.get("thc_mg")),
                    )
                )
        placed = rec.get("placed_at")
        when: datetime | None = None
        if isinstance(placed, str):
            try:
                when = datetime.fromisoformat(placed.replace("Z", "+00:00"))
            except ValueError:
                when = None
        return cls(
            id=str(rec.get("order_id") or rec.get("id") or rec.get("_key") or "?"),
            placed_at=when if when is None or when.tzinfo else None,
            status=str(rec.get("status") or ""),
            lines=tuple(lines),
        )


def _measure(value: object) -> float | None:
    """A finite, non-negative number, or None: a malformed amount is never guessed at."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) and x >= 0 else None


@dataclass(frozen=True)
class Measured:
    amount: float  # in the rule's unit
    counted_lines: int
    unmeasured_lines: int  # counted categories without the weight or THC the rule needs


def measure(order: Order, rule: StateRule, counted: Iterable[str]) -> Measured | None:
    """The order's amount in the rule's unit; None when the rule's unit is not measurable (fl oz)."""
    cats = frozenset(counted)
    if rule.unit == "mg":
        per_gram = None
    elif rule.unit in GRAMS_PER:
        per_gram = GRAMS_PER[rule.unit]
    else:
        return None
    total, n, unmeasured = 0.0, 0, 0
    for line in order.lines:
        if line.category not in cats or line.quantity <= 0:
            continue
        n += 1
        unit_amount = line.thc_mg if per_gram is None else line.grams
        if unit_amount is None:
            unmeasured += 1
            continue
        total += line.quantity * unit_amount
    amount = total if per_gram is None else total / per_gram
    return Measured(amount, n, unmeasured)


def above(amount: float, limit: float) -> bool:
    return amount > limit * (1 + EPSILON)


@dataclass(frozen=True)
class Breach:
    order: Order
    rule: StateRule
    amount: float

    def line(self) -> str:
        when = self.order.placed_at.date().isoformat() if self.order.placed_at else "date unknown"
        return f"{self.order.id} ({when}): {_amount(self.amount, self.rule.unit)}"


def _amount(x: float, unit: str) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".") + f" {unit}"


def recent(orders: Sequence[Order], now: datetime, cfg: LimitCheck) -> list[Order]:
    """Orders of the counted statuses placed in the window (an order without a time is not dated: skipped)."""
    since = now - timedelta(days=cfg.window_days)
    return [
        o
        for o in orders
        if o.status in cfg.statuses and o.placed_at is not None and since <= o.placed_at <= now
    ]


def check_orders(
    state: StateFile, orders: Sequence[Order], now: datetime, cfg: LimitCheck
) -> list[Violation]:
    """One violation per rule in force that an order in the window broke, naming every such order."""
    out: list[Violation] = []
    window = recent(orders, now, cfg)
    for rule in state.in_force(now.date()):
        counted = rule.categories or cfg.counts.get(rule.item, ())
        if rule.kind != "purchase_limit" or rule.amount is None or not counted:
            continue
        breaches = []
        for order in window:
            m = measure(order, rule, counted)
            if m is not None and above(m.amount, rule.amount):
                breaches.append(Breach(order, rule, m.amount))
        if not breaches:
            continue
        breaches.sort(key=lambda b: (b.order.placed_at or now, b.order.id))
        limit = f"{_amount(rule.amount, rule.unit)} {rule.item} per {rule.per or 'transaction'}"
        n = len(breaches)
        listed = [b.line() for b in breaches[:MAX_LISTED]]
        if n > MAX_LISTED:
            listed.append(f"… and {n - MAX_LISTED} more")
        out.append(
            Violation(
                rule_id=rule.id,
                group=rule.group,
                title=rule.title,
                item_id="online-orders",
                item=f"online orders, last {cfg.window_days} days",
                finding=(
                    f"{n} online order{'s' if n != 1 else ''} above the {state.state} limit of {limit}: "
                    + ", ".join(b.order.id for b in breaches[:MAX_LISTED])
                    + (f" and {n - MAX_LISTED} more" if n > MAX_LISTED else "")
                ),
                citation=rule.citation,
                severity=cfg.severity,
                verified=rule.verified,
                details=("Orders:", *listed),
            )
        )
    return out
