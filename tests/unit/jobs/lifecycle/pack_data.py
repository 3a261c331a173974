"""A store's quarter of realistic daily figures for the QBR pack tests (seeded, so every run is alike)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from jobs.qbr_figures import TopProduct
from mappings.context import AccountData
from mappings.lifecycle import Quarter

from .builders import account_data

Q3 = Quarter(2026, 3)
TODAY = date(2026, 10, 20)  # Q3 closed; Q4 runs


def pack_store(
    store_id: str = "IL-006",
    *,
    today: date = TODAY,
    seed: int = 1,
    online: float = 14.0,
    in_store: float = 38.0,
    analytics: bool = True,
    categories: dict[str, float] | None = None,
    first_day: date | None = None,
    name: str = "Copper Leaf Wellness",
) -> AccountData:
    """Q2 and Q3 (and Q4 to date): weekday rhythm, a growing online channel, a category mix."""
    rnd = random.Random(seed)
    mix = categories or {"flower": 0.38, "vapes": 0.2, "edibles": 0.16, "pre_rolls": 0.12, "concentrates": 0.08,
                         "beverages": 0.04, "tinctures": 0.02}  # fmt: skip
    s: dict[Any, dict[date, float]] = {}

    def put(metric: str, dim: str, day: date, v: float) -> None:
        if v:
            s.setdefault((metric, dim), {})[day] = s.get((metric, dim), {}).get(day, 0.0) + v

    day = first_day or Quarter(2026, 2).start
    while day < today:
        week = 1.25 if day.weekday() >= 4 else 0.9
        growth = 1.0 + (day - date(2026, 4, 1)).days / 400
        on = round(online * week * growth * rnd.uniform(0.8, 1.2))
        off = round(in_store * week * rnd.uniform(0.85, 1.15))
        on_rev, off_rev = on * rnd.uniform(68, 76), off * rnd.uniform(52, 57)
        put("orders", "channel=online", day, on)
        put("orders", "channel=in_store", day, off)
        put("orders", "", day, on + off)
        put("revenue", "channel=online", day, on_rev)
        put("revenue", "channel=in_store", day, off_rev)
        if analytics and on:
            sessions = on * rnd.uniform(22, 28)
            carts = on * rnd.uniform(1.5, 1.9)
            put("sessions", "", day, round(sessions))
            put("carts", "", day, round(carts))
            put("checkouts", "", day, round(on * rnd.uniform(1.1, 1.25)))
            put("online_orders", "", day, on)
        drift = (day - date(2026, 4, 1)).days / 180
        for c, share in mix.items():
            shift = 0.04 * drift if c == "edibles" else -0.04 * drift * share if c == "flower" else 0.0
            put("revenue", f"category={c}", day, (on_rev + off_rev) * max(0.0, share + shift))
        day += timedelta(days=1)
    return account_data(store_id, today=today, series=s, account={"Name": name})


PRODUCTS = (
    TopProduct("Blue Dream 3.5g", "flower", 18_420.0, 512, 0.34),
    TopProduct("Midnight Berry Gummies 100mg", "edibles", 12_905.5, 641, 0.41),
    TopProduct("Sour Diesel Live Resin Cart 1g", "vapes", 11_230.0, 281, 0.29),
    TopProduct("Wedding Cake Pre-Roll 5-pack", "pre_rolls", 9_876.0, 329, 0.22),
    TopProduct("GMO Cookies 7g", "flower", 8_120.0, 140, 0.31),
    TopProduct("Lemon Fizz Seltzer 10mg", "beverages", 4_210.0, 421, 0.48),
)
