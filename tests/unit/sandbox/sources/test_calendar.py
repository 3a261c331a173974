"""The demo portfolio tells the same story on every date: the Nth day before `today` is the same day.

What the jobs read is a function of days before today, not of the calendar date: a run on a Monday, on
Black Friday, at a quarter start or on a DST weekend sees the same orders, funnel, usage, tickets, NPS,
invoices and payments, only dated differently.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sandbox.portfolio import Portfolio

# A Monday, the day after Thanksgiving (Black Friday), the first day of a quarter and of a year, the
# Monday after DST ends (US), the day after DST starts, and a month end.
DATES = (
    date(2026, 10, 15), date(2026, 11, 27), date(2026, 10, 1), date(2027, 1, 1), date(2026, 11, 2),
    date(2027, 3, 15), date(2027, 4, 21), date(2026, 12, 4),
)  # fmt: skip
# The menu sync, the category drop, receivables, a red renewal, an expansion and a new MSO location.
STORES = ("NV-001", "AZ-001", "IL-002", "MI-003", "MI-002", "MA-005")
DAYS = 42  # six weeks: the story is told by days before today, so a shorter history shows it as well


def _days(today: date, at: Any, tz: str = "") -> Any:
    """A date or time as days (and the time of day) before `today`, so two dates can be compared; for
    what the jobs count per local day (tickets, NPS, orders), the store's local days before today (a DST
    change moves their hour in UTC or in local time, never their day)."""
    if isinstance(at, datetime) and tz:
        return (today - at.astimezone(ZoneInfo(tz)).date()).days
    if isinstance(at, datetime):
        return ((today - at.date()).days, at.time().replace(microsecond=0).isoformat())
    if isinstance(at, date):
        return (today - at).days
    return at


def _story(today: date) -> dict[str, Any]:
    p = Portfolio(7, today, days=DAYS, orders_per_day=25.0)
    out: dict[str, Any] = {}
    for sid in STORES:
        tz = p.store(sid).timezone
        summaries = [p.day_summary(sid, today - timedelta(days=k)) for k in range(1, DAYS + 1)]
        out[sid] = {
            "sales": [
                (
                    s.online_orders,
                    s.in_store_orders,
                    s.canceled_online,
                    round(s.online_revenue, 2),
                    round(s.in_store_revenue, 2),
                )
                for s in summaries
            ],
            "funnel": [
                (a.sessions, a.carts_created, a.checkouts_started, a.orders) for a in p.analytics(sid)
            ],
            "usage": [(u.logins, u.active_users, _days(today, u.day)) for u in p.usage(sid)],
            "tickets": [
                (t.subject, t.priority, t.status, _days(today, t.opened_at, tz)) for t in p.tickets(sid)
            ],
            "nps": [(n.score, _days(today, n.responded_at, tz)) for n in p.nps(sid)],
            "invoices": [
                (_days(today, i.issued_on), _days(today, i.due_on), i.amount, i.amount_paid, i.status)
                for i in p.invoices(sid)
            ],
            "payments": [
                (_days(today, x.created_at.date()), x.amount, x.method, x.status, x.return_code)
                for x in p.payments(sid)
            ],
            "contract": _days(today, p.contract(sid).end_date),
            "menu": [(i.name, i.visible, i.stock) for i in p.menu(sid).items],
            "menu_sync": _days(today, p.menu(sid).last_menu_sync_at),
            "orders": [
                (o.channel, o.status, len(o.lines), _days(today, o.placed_at, tz))
                for o in p.orders(sid, today - timedelta(days=1))
            ],
        }
    return out


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return _story(DATES[0])


@pytest.mark.parametrize("today", DATES[1:], ids=str)
def test_the_portfolio_is_the_same_story_on_every_date(reference: dict[str, Any], today: date) -> None:
    story = _story(today)
    for sid in STORES:
        for part, value in reference[sid].items():
            assert story[sid][part] == value, f"{sid} {part} differs on {today}"
