"""The shared test doubles: a clock the test moves, and an org that answers SOQL with canned rows.

One place for each, so a unit test, an integration test and a bench all mean the same thing by them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import Runtime

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


class FakeClock:
    """Wall and monotonic time that move only when something sleeps or the test advances them.

    Calling it gives the wall time (a `now` callable); `clock` is the monotonic time (from `monotonic`,
    for code that keeps deadlines); `sleeps` records every sleep.
    """

    def __init__(self, start: datetime = NOW, monotonic: float = 0.0) -> None:
        self.start = start
        self.monotonic = monotonic
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def clock(self) -> float:
        return self.monotonic + self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds

    def advance(self, seconds: float) -> None:
        """Time passes without anyone sleeping (another process, the world)."""
        self.elapsed += seconds

    def runtime(self, env: dict[str, str] | None = None) -> Runtime:
        return Runtime(env=env or {}, clock=self.clock, sleep=self.sleep, now=self.now, rng=random.Random(7))


class FakeOrg:
    """Answers SOQL by object name with canned rows, and records every query."""

    def __init__(self, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        self.rows = rows
        self.queries: list[str] = []

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        self.queries.append(soql)
        sobject = soql.split(" FROM ")[1].split(maxsplit=1)[0]
        yield from (dict(r) for r in self.rows.get(sobject, ()))
