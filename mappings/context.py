"""AccountData: everything a mapping may read about one store, as plain immutable values (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

SeriesKey = tuple[str, str]  # (metric, dimension); dimension "" is the store total


@dataclass(frozen=True)
class AccountData:
    """One store's inputs to evaluation, built by the jobs from the state store and Salesforce.

    Mapping evaluation is a pure function of this value, the loaded mapping set and `now`, which is
    what makes `plan` reproducible and `explain` truthful.
    """

    store_id: str
    today: date  # the evaluation day in the store's time zone (the last complete day is today - 1)
    now: datetime  # tz-aware
    account: Mapping[str, Any] = field(default_factory=dict)  # current Salesforce Account fields
    series: Mapping[SeriesKey, Mapping[date, float]] = field(default_factory=dict)
    freshness: Mapping[str, datetime | None] = field(default_factory=dict)  # source -> newest data
    last_success: Mapping[str, datetime | None] = field(default_factory=dict)  # source -> last good pull
    attrs: Mapping[str, Any] = field(default_factory=dict)  # derived checks (menu health, ...)
    records: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)  # stream -> attrs
    store: Mapping[str, Any] = field(default_factory=dict)  # the store directory entry (state, tz, ...)
