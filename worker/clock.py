"""The clock every command runs on: the real one, or one anchored with `--as-of` / CSM_SYNC_AS_OF.

Kept free of heavy imports: the command line parses the option before it loads anything else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

AS_OF_ENV = "CSM_SYNC_AS_OF"


class AsOfError(ValueError):
    """`--as-of` / CSM_SYNC_AS_OF is not an ISO 8601 time with a UTC offset."""


def parse_as_of(text: str, where: str = f"--as-of / {AS_OF_ENV}") -> datetime:
    """The anchor of an anchored clock; a time without an offset is refused rather than guessed."""
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise AsOfError(f"{where}: {text!r} is not a time; use ISO 8601, e.g. 2026-12-04T12:00:00Z") from None
    if at.tzinfo is None:
        raise AsOfError(f"{where}: {text!r} has no UTC offset; add Z or +HH:MM, e.g. 2026-12-04T12:00:00Z")
    return at.astimezone(UTC)


def anchored_clock(as_of: datetime) -> Callable[[], datetime]:
    """A clock that reads `as_of` when made and then advances in real time (monotonic).

    For reproducing a run on another day (the demo's data ends the day before its `as_of`): every
    command then sees the same calendar the run saw, while locks, leases and schedules still see time
    pass. Never for production: the scheduler's firings and data freshness follow this clock.
    """
    start = time.monotonic()
    return lambda: as_of + timedelta(seconds=time.monotonic() - start)


def as_of_text(at: datetime) -> str:
    """`at` as `--as-of` takes it: UTC, to the second, with a Z."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
