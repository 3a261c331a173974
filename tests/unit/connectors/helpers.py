"""Test helpers for connectors: a fake clock whose sleep advances time, fixture loading, source configs."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.base import Runtime
from connectors.config import SourceConfig

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class FakeClock:
    """Monotonic and wall time that only move when something sleeps; records every sleep."""

    def __init__(self, start: datetime = NOW) -> None:
        self.start = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def runtime(self, env: dict[str, str] | None = None) -> Runtime:
        return Runtime(env=env or {}, clock=self.clock, sleep=self.sleep, now=self.now, rng=random.Random(7))


def config(**kwargs: Any) -> SourceConfig:
    base: dict[str, Any] = {"name": "src", "kind": "rest", "base_url": "https://api.example.com"}
    base.update(kwargs)
    return SourceConfig.model_validate(base)
