"""POS facts shared by the POS sources: one sale → orders/revenue by channel, revenue/units by category."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.base import Fact, Record
from connectors.values import dimension, iso_utc

ONLINE = "online"
IN_STORE = "in_store"


@dataclass(frozen=True, slots=True)
class Line:
    product_id: str
    category: str
    quantity: float
    amount: float  # the line's price before order-level discounts


def sale_facts(
    channel: str, revenue: float, lines: Sequence[Line], *, is_return: bool = False
) -> tuple[Fact, ...]:
    """Facts of one completed sale (or return, which subtracts and is not an order).

    Order-level discounts are spread over the lines in proportion to their amounts, so the category
    revenues add up to the order's revenue and a category's share is not inflated by discounts.
    """
    sign = -1.0 if is_return else 1.0
    facts: dict[tuple[str, str], float] = {}

    def add(metric: str, dim: str, value: float) -> None:
        facts[(metric, dim)] = facts.get((metric, dim), 0.0) + value

    if not is_return:
        add("orders", "", 1.0)
        add("orders", dimension(channel), 1.0)
    add("revenue", "", sign * revenue)
    add("revenue", dimension(channel), sign * revenue)
    gross = sum(line.amount for line in lines)
    for line in lines:
        share = revenue * line.amount / gross if gross > 0 else 0.0
        for dim in (dimension(category=line.category), dimension(channel, line.category)):
            add("revenue", dim, sign * share)
            add("units", dim, sign * line.quantity)
    return tuple(Fact(metric, round(value, 6), dim) for (metric, dim), value in facts.items())


def transaction_record(
    store_id: str,
    tid: str,
    when: datetime,
    modified: datetime,
    channel: str,
    total: float,
    revenue: float,
    lines: Sequence[Line],
    facts: tuple[Fact, ...],
    vendor: Mapping[str, Any],
) -> Record:
    """The `transactions` record every POS yields: the same attrs, plus the vendor's own fields."""
    attrs = {
        "transaction_id": tid,
        "channel": channel,
        **vendor,
        "total": total,
        "revenue": round(max(revenue, 0.0), 2),
        "items": [
            {
                "product_id": ln.product_id,
                "category": ln.category,
                "quantity": ln.quantity,
                "amount": ln.amount,
            }
            for ln in lines
        ],
    }
    return Record("transactions", f"{store_id}:{tid}", store_id, when, iso_utc(modified), facts, attrs)
