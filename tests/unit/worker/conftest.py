"""Fixtures for running tests: an App on a throwaway SQLite state store, with a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from worker.app import App
from worker.settings import Settings

MARCH = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the clock's start in these tests


def settings(url: str, **sections: Any) -> Settings:
    raw: dict[str, Any] = {
        "state": {"url": url},
        "salesforce": {
            "auth": "client_credentials",
            "client_id": "app",
            "client_secret": "test-secret-value",
        },
        "metrics": {"port": 0},
        **sections,
    }
    return Settings.model_validate(raw)


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., App]:
    def make(clock: Callable[[], datetime] | None = None, **sections: Any) -> App:
        url = f"sqlite:///{tmp_path / 'state.db'}"
        return App(settings(url, **sections), environ={}, clock=clock or (lambda: datetime.now(UTC)))

    return make
