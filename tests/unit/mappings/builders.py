"""Hand-built AccountData for mapping tests: a steady store with weekly seasonality, then one thing changed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mappings.context import AccountData

TODAY = date(2026, 10, 15)  # a Thursday: yesterday (Wed 14 Oct) and its prior 8 Wednesdays are no holidays
NOW = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)
WEEKDAY = (0.8, 0.85, 0.9, 1.0, 1.3, 1.25, 0.9)  # Mon..Sun
CATEGORY_SHARE = {"flower": 0.45, "edibles": 0.2, "vapes": 0.2, "pre_rolls": 0.15}
ONLINE_AOV = 70.0
IN_STORE_AOV = 54.0


def wobble(day: date, salt: int = 0) -> float:
    """Deterministic ±6% day-to-day noise, so medians and MADs are not degenerate."""
    x = (day.toordinal() * 2654435761 + salt * 40503) % 1000
    return 1.0 + (x / 1000.0 - 0.5) * 0.12


Series = dict[tuple[str, str], dict[date, float]]


def history(
    today: date = TODAY,
    days: int = 120,
    online_orders: float = 40.0,
    in_store_orders: float = 60.0,
) -> Series:
    """120 days of a healthy store: orders, revenue by channel and category, funnel, usage, support, NPS."""
    s: Series = {}

    def put(metric: str, dim: str, day: date, value: float) -> None:
        s.setdefault((metric, dim), {})[day] = value

    for i in range(1, days + 1):
        d = today - timedelta(days=i)
        f = WEEKDAY[d.weekday()]
        on = round(online_orders * f * wobble(d, 1))
        ins = round(in_store_orders * f * wobble(d, 2))
        put("orders", "channel=online", d, on)
        put("orders", "channel=in_store", d, ins)
        put("orders", "", d, on + ins)
        on_rev, in_rev = on * ONLINE_AOV, ins * IN_STORE_AOV
        put("revenue", "channel=online", d, on_rev)
        put("revenue", "channel=in_store", d, in_rev)
        put("revenue", "", d, on_rev + in_rev)
        for cat, share in CATEGORY_SHARE.items():
            put("revenue", f"channel=online,category={cat}", d, on_rev * share)
            put("revenue", f"category={cat}", d, (on_rev + in_rev) * share)
            put("menu_items_hidden", f"category={cat}", d, 0.0)
            put("menu_items_out_of_stock", f"category={cat}", d, 0.0)
            put("menu_broken_images", f"category={cat}", d, 0.0)
            put("menu_items", f"category={cat}", d, 12.0)
        put("online_orders", "", d, on)
        put("sessions", "", d, on / 0.035)
        put("carts", "", d, on / 0.3)
        put("logins", "", d, 10.0 if d.weekday() < 5 else 4.0)  # an active store: ~230 a month
        put("tickets_opened", "", d, 1.0 if i % 20 == 0 else 0.0)
        put("nps_responses", "", d, 1.0 if i % 10 == 0 else 0.0)
        put("nps_promoters", "", d, 1.0 if i % 20 == 0 else 0.0)
        put("menu_top_sellers_unavailable", "", d, 0.0)
    return s


def scale_days(s: Series, metric: str, dim: str, days: range, factor: float, today: date = TODAY) -> None:
    """Multiply a series on the given day offsets (1 = yesterday)."""
    series = s[(metric, dim)]
    for i in days:
        d = today - timedelta(days=i)
        if d in series:
            series[d] = series[d] * factor


def set_days(s: Series, metric: str, dim: str, days: range, value: float, today: date = TODAY) -> None:
    series = s.setdefault((metric, dim), {})
    for i in days:
        series[today - timedelta(days=i)] = value


def fresh(now: datetime = NOW, hours: float = 1.0) -> dict[str, datetime | None]:
    t = now - timedelta(hours=hours)
    return {
        "pos": t,
        "platform": t,
        "billing": t,
        "support": t,
        "nps": t,
        "menu_sync": now - timedelta(minutes=5),
    }


def account(store_id: str = "NV-001", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Id": "001000000000001AAA",
        "Name": "Green Leaf Las Vegas",
        "Store_Id__c": store_id,
        "CSM__c": "005000000000CSMAAA",
        "OwnerId": "005000000000OWNAAA",
        "Health_Override__c": None,
    }
    base.update(fields)
    return base


def store_data(
    *,
    store_id: str = "NV-001",
    state: str = "NV",
    today: date = TODAY,
    now: datetime = NOW,
    series: Series | None = None,
    freshness: Mapping[str, datetime | None] | None = None,
    attrs: Mapping[str, Any] | None = None,
    records: Mapping[str, Any] | None = None,
    account_fields: Mapping[str, Any] | None = None,
    change: Callable[[Series], None] | None = None,
) -> AccountData:
    s = series if series is not None else history(today)
    if change is not None:
        change(s)
    return AccountData(
        store_id=store_id,
        today=today,
        now=now,
        account=account(store_id, **(account_fields or {})),
        series=s,
        freshness=dict(freshness if freshness is not None else fresh(now)),
        last_success=dict(freshness if freshness is not None else fresh(now)),
        attrs=dict(attrs or {}),
        records=dict(records or {}),
        store={"state": state, "timezone": "America/Los_Angeles"},
    )


def menu_sync_failure(s: Series) -> None:
    """Online orders collapse over the last two days, in-store flat, top sellers unavailable on the menu."""
    for metric in ("orders", "revenue"):
        scale_days(s, metric, "channel=online", range(1, 3), 0.25)
    for cat in CATEGORY_SHARE:
        scale_days(s, "revenue", f"channel=online,category={cat}", range(1, 3), 0.25)
    set_days(s, "menu_top_sellers_unavailable", "", range(0, 3), 4.0)


def category_drop(s: Series, category: str = "edibles") -> None:
    """One category's online revenue down ~25% over the last week, with hidden items and broken images."""
    scale_days(s, "revenue", f"channel=online,category={category}", range(1, 8), 0.75)
    set_days(s, "menu_items_hidden", f"category={category}", range(0, 3), 3.0)
    set_days(s, "menu_broken_images", f"category={category}", range(0, 3), 5.0)


def sales_drop(s: Series) -> None:
    """Online and in-store orders both fall yesterday: no menu problem, so only the generic rule explains it."""
    scale_days(s, "orders", "channel=online", range(1, 2), 0.4)
    scale_days(s, "orders", "channel=in_store", range(1, 2), 0.5)
