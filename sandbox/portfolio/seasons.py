"""Calendar shape of dispensary demand: weekday seasonality, retail events, and seeded randomness."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime, time, timedelta

# Friday carries ~19% of a week's sales (Headset); Monday and Tuesday are the quietest.
WEEKDAY_FACTOR: tuple[float, ...] = (0.86, 0.88, 0.93, 1.00, 1.36, 1.24, 0.90)

# Share of a day's orders by local opening hour (9:00 to 21:59), peaking after work.
HOUR_WEIGHTS: tuple[tuple[int, float], ...] = (
    (9, 0.5),
    (10, 0.7),
    (11, 0.9),
    (12, 1.1),
    (13, 1.0),
    (14, 1.0),
    (15, 1.1),
    (16, 1.3),
    (17, 1.5),
    (18, 1.4),
    (19, 1.1),
    (20, 0.8),
    (21, 0.5),
)


def rng(*parts: object) -> random.Random:
    """A generator seeded from its purpose, so each piece of data is stable however it is reached."""
    return random.Random("|".join(str(p) for p in parts))


def stable_unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from its parts, cheaper than a generator for one draw."""
    digest = hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def thanksgiving(year: int) -> date:
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(weeks=3)


def event_factor(day: date) -> float:
    """Demand multiplier of retail events: 4/20, Green Wednesday, Black Friday, the holidays."""
    md = (day.month, day.day)
    if md == (4, 20):
        return 2.0
    if md in ((4, 21), (4, 22)):
        return 0.88  # the post-4/20 dip
    if md == (12, 23):
        return 1.4
    if md == (12, 25):
        return 0.35
    if md == (1, 1):
        return 0.7
    if day.month == 11:
        tg = thanksgiving(day.year)
        if day == tg - timedelta(days=1):
            return 1.9  # Green Wednesday
        if day == tg:
            return 0.6
        if day == tg + timedelta(days=1):
            return 1.4
    return 1.0


def demand_factor(day: date) -> float:
    return WEEKDAY_FACTOR[day.weekday()] * event_factor(day)


# The demo tells the same story on every date it runs. Demand, noise and the monthly billing cycle are
# drawn on a reference calendar ending on REFERENCE_TODAY and dated back from the run's `today`: the
# Nth day before today has the same orders whatever the date. Its weeks therefore follow the reference
# weekdays, and the 120 days before REFERENCE_TODAY hold no retail event (events stay modelled for
# longer histories). Weekday, holiday, month or quarter start and DST weekends change nothing.
REFERENCE_TODAY = date(2026, 10, 15)


def reference_day(day: date, today: date) -> date:
    """The reference calendar's day for `day` of a portfolio whose last day is `today - 1`."""
    return REFERENCE_TODAY - (today - day)


def add_months(day: date, months: int) -> date:
    """Calendar month arithmetic with Salesforce's clamping (Jan 31 + 1 month = Feb 28/29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - every month has a 28th


def contract_end(start: date, term_months: int) -> date:
    """The EndDate Salesforce derives for a Contract: start + term months - 1 day."""
    return add_months(start, term_months) - timedelta(days=1)


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), UTC)
