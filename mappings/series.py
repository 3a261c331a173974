"""DaySeries: a dense per-day metric series, the fast form of AccountData.series values."""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from functools import lru_cache


class DaySeries(Mapping[date, float]):
    """Values for consecutive days from `start`; a day inside the span with no facts holds 0.

    It is a `Mapping[date, float]`, so it fits `AccountData.series` as is, while the metric functions
    read the list underneath by day offset instead of hashing dates: that is what keeps evaluation of
    tens of thousands of accounts inside the benchmark budget. Days before `start` are "no history"
    (excluded from baselines), days after the end are "no activity" (0).
    """

    __slots__ = ("_end_ordinal", "dense", "start", "start_ordinal")

    def __init__(self, start: date, values: Sequence[float]) -> None:
        self.start = start
        self.start_ordinal = start.toordinal()
        self.dense: Sequence[float] = values if isinstance(values, array | list) else list(values)
        self._end_ordinal = self.start_ordinal + len(self.dense)  # exclusive

    @classmethod
    def from_mapping(cls, days: Mapping[date, float]) -> DaySeries:
        """Densify a {day: value} mapping (missing days inside the span become 0)."""
        if isinstance(days, DaySeries):
            return days
        if not days:
            return cls(date.min, array("d"))
        dense = _consecutive(days)
        if dense is not None:
            return cls(next(iter(days)), dense)
        first = min(days)
        values = array("d", bytes(8 * ((max(days) - first).days + 1)))
        base = first.toordinal()
        for d, v in days.items():
            values[d.toordinal() - base] += float(v)
        return cls(first, values)

    def __getitem__(self, day: date) -> float:
        i = day.toordinal() - self.start_ordinal
        if 0 <= i < len(self.dense):
            return float(self.dense[i])
        raise KeyError(day)

    def __iter__(self) -> Iterator[date]:
        return (self.start + timedelta(days=i) for i in range(len(self.dense)))

    def __len__(self) -> int:
        return len(self.dense)

    def __repr__(self) -> str:
        return f"DaySeries(start={self.start.isoformat()}, days={len(self.dense)})"


_NEGATIVE_ZERO = array("d", [-0.0]).tobytes()


def _consecutive(days: Mapping[date, float]) -> array[float] | None:
    """The values as they stand when the keys are consecutive days in order (how facts are read back).

    A few C-level passes instead of one Python step per day; None (take the general path) for anything
    else: gaps, another order, keys that are not plain dates, values array() cannot take, or a -0.0
    (the general path adds each value to 0.0, which turns it into 0.0).
    """
    first = next(iter(days))
    if first.__class__ is not date or tuple(days) != _run_of_days(first, len(days)):
        return None
    try:
        values = array("d", days.values())
    except (TypeError, ValueError, OverflowError):
        return None
    if _NEGATIVE_ZERO in values.tobytes():
        return None
    return values


@lru_cache(maxsize=256)
def _run_of_days(first: date, n: int) -> tuple[date, ...]:
    """`n` consecutive days from `first`: the stores of a run share a few history windows."""
    return tuple(first + timedelta(days=i) for i in range(n))
