"""Fault injection: the failures a real org produces, made deterministic by a seed."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Faults:
    """What to break. Rates are shares in [0, 1]; each kind of fault draws from its own seeded stream,
    so turning one knob does not reshuffle the others and a rerun with the same calls fails the same way.
    """

    latency: float = 0.0
    """Seconds added to every call (login and API alike)."""
    unavailable_rate: float = 0.0
    """Share of API calls answered `503 SERVER_UNAVAILABLE` (login is spared)."""
    session_expiry_after: int | None = None
    """A session token stops working after this many API calls: `401 INVALID_SESSION_ID`."""
    lock_rate: float = 0.0
    """Share of records in Collections and Bulk writes refused with `UNABLE_TO_LOCK_ROW`."""
    bulk_failure_rate: float = 0.0
    """Share of Bulk ingest jobs that end `Failed` with nothing processed."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("unavailable_rate", "lock_rate", "bulk_failure_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.latency < 0:
            raise ValueError("latency must not be negative")
        if self.session_expiry_after is not None and self.session_expiry_after < 1:
            raise ValueError("session_expiry_after must be at least 1")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Faults:
        """Builds from the JSON the control endpoint receives; unknown keys are an error, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown fault setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Dice:
    """The seeded random streams behind the rates in `Faults`."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._streams = {name: random.Random(f"{faults.seed}:{name}") for name in ("503", "lock", "bulk")}

    def _roll(self, stream: str, rate: float) -> bool:
        # A zero rate draws nothing, so enabling one fault never shifts another's sequence.
        return rate > 0 and self._streams[stream].random() < rate

    def unavailable(self) -> bool:
        return self._roll("503", self.faults.unavailable_rate)

    def locked(self) -> bool:
        return self._roll("lock", self.faults.lock_rate)

    def bulk_fails(self) -> bool:
        return self._roll("bulk", self.faults.bulk_failure_rate)
