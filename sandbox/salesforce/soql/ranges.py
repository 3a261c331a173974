"""Relative date literals resolved to half-open day ranges in the org's time zone (UTC)."""

from __future__ import annotations

from datetime import date, timedelta

from sandbox.salesforce.soql.nodes import DateRange


def _month_start(d: date, shift: int = 0) -> date:
    month = d.month - 1 + shift
    return date(d.year + month // 12, month % 12 + 1, 1)


def _quarter_start(d: date, shift: int = 0) -> date:
    first = date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    return _month_start(first, 3 * shift)


def resolve(literal: DateRange, today: date) -> tuple[date, date]:
    """[start, end) in days. Weeks start on Sunday, as in the en_US locale Salesforce defaults to."""
    name, n = literal.name, literal.n or 0
    day = timedelta(days=1)
    if name == "TODAY":
        return today, today + day
    if name == "YESTERDAY":
        return today - day, today
    if name == "TOMORROW":
        return today + day, today + 2 * day
    if name == "LAST_N_DAYS":
        # Includes today: LAST_N_DAYS:1 is yesterday and today.
        return today - n * day, today + day
    if name == "NEXT_N_DAYS":
        # Starts tomorrow: NEXT_N_DAYS:1 is tomorrow only.
        return today + day, today + (n + 1) * day
    if name == "N_DAYS_AGO":
        return today - n * day, today - (n - 1) * day
    if name == "LAST_90_DAYS":
        return today - 90 * day, today + day
    if name == "NEXT_90_DAYS":
        return today + day, today + 91 * day
    period, _, unit = name.partition("_")
    shift = {"LAST": -1, "THIS": 0, "NEXT": 1}[period]
    if unit == "WEEK":
        sunday = today - timedelta(days=(today.weekday() + 1) % 7)
        start = sunday + timedelta(weeks=shift)
        return start, start + timedelta(weeks=1)
    if unit == "MONTH":
        start = _month_start(today, shift)
        return start, _month_start(start, 1)
    if unit == "QUARTER":
        start = _quarter_start(today, shift)
        return start, _month_start(start, 3)
    start = date(today.year + shift, 1, 1)
    return start, date(start.year + 1, 1, 1)
