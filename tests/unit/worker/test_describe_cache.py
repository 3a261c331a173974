"""Sync jobs' describes come from the process's cache for a while, not one call per shard-job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import worker.app
from worker.app import DESCRIBE_TTL_SECONDS, App


class CountingOrg:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def describe(self, sobject: str) -> dict[str, Any]:
        self.calls.append(sobject)
        return {"name": sobject, "fields": [{"name": f"F{len(self.calls)}"}]}


def test_each_object_is_described_once_while_fresh_then_again(
    make_app: Callable[..., App], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    org = CountingOrg()
    moment = [1000.0]
    monkeypatch.setattr(worker.app.time, "monotonic", lambda: moment[0])
    shard_one, shard_two = app.describer(org), app.describer(org)  # type: ignore[arg-type]
    first = shard_one("Account")
    assert shard_two("Account") == first and shard_one("Task") != first
    assert org.calls == ["Account", "Task"]
    moment[0] += DESCRIBE_TTL_SECONDS + 1  # an admin's new field is seen once the describe is old
    assert shard_two("Account") != first
    assert org.calls == ["Account", "Task", "Account"]
