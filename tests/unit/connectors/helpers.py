"""Test helpers for connectors: fixture loading and source configs (the fake clock is tests/doubles.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from connectors.config import SourceConfig
from tests.doubles import NOW, FakeClock

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def config(**kwargs: Any) -> SourceConfig:
    base: dict[str, Any] = {"name": "src", "kind": "rest", "base_url": "https://api.example.com"}
    base.update(kwargs)
    return SourceConfig.model_validate(base)


__all__ = ["FIXTURES", "NOW", "FakeClock", "config", "fixture"]
