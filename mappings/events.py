"""Days left out of same-weekday baselines: public holidays per state and the trade's known sales events."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays


def _thanksgiving(year: int) -> date:
    nov1 = date(year, 11, 1)
    first_thursday = nov1 + timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thursday + timedelta(weeks=3)


def trade_events(year: int) -> dict[date, str]:
    """Days whose sales are not a normal weekday's: a baseline that included them would be skewed."""
    tg = _thanksgiving(year)
    return {
        date(year, 4, 20): "4/20",
        date(year, 4, 21): "day after 4/20",  # the post-4/20 dip
        tg - timedelta(days=1): "Green Wednesday",
        tg + timedelta(days=1): "Black Friday",
        date(year, 12, 23): "Dec 23",
        date(year, 12, 24): "Christmas Eve",
        date(year, 12, 31): "New Year's Eve",
    }


@lru_cache(maxsize=512)
def excluded_days(state: str, year: int) -> dict[date, str]:
    """Public holidays (federal + the state's) and trade events of one year, by day.

    Cached: building a holidays calendar costs milliseconds, and every account of a state shares it.
    """
    try:
        calendar = holidays.country_holidays("US", subdiv=state or None, years=year)
    except NotImplementedError:  # an unknown subdivision: federal holidays only
        calendar = holidays.country_holidays("US", years=year)
    out: dict[date, str] = {d: str(name) for d, name in calendar.items()}
    out.update(trade_events(year))
    return out


def is_excluded(state: str, day: date) -> str:
    """The holiday or event name when `day` is left out of baselines, else ""."""
    return excluded_days(state, day.year).get(day, "")


@lru_cache(maxsize=4096)
def excluded_ordinals(state: str, first: date, last: date) -> frozenset[int]:
    """Ordinals of excluded days between two dates (inclusive): the baseline's fast membership test."""
    out: set[int] = set()
    for year in range(first.year, last.year + 1):
        out.update(d.toordinal() for d in excluded_days(state, year) if first <= d <= last)
    return frozenset(out)
