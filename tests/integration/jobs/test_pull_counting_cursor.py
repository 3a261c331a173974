"""A REST stream whose cursor is an incrementing number (an id, a sequence), pulled over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses

from connectors.base import Runtime, SourceError
from connectors.catalog import build_sources, parse_sources
from connectors.rest import load_spec
from jobs.pull import pull
from tests.integration.jobs.test_pull import DIRECTORY, cursor, facts, rows, state

pytestmark = pytest.mark.integration

API = "https://api.visits.example"
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
SPEC = """
description = "Door counts listed after a sequence number"
scope = "all"

[auth]
kind = "bearer"

[[streams]]
name = "visits"
path = "/visits"
params = { after_seq = "{since}" }
records = "data"
key = "id"
store = "store"
time = "at"
cursor = "seq"

[streams.fields]
id = { type = "text", required = true }
store = { path = "loc.id", type = "text", required = true }
at = { type = "time", format = "epoch_s", required = true }
seq = { type = "number", required = true }

[[streams.facts]]
metric = "door_visits"
"""


def visit(n: int, seq: Any) -> dict[str, Any]:
    return {"id": f"v{n}", "loc": {"id": "NV-001"}, "at": int(NOW.timestamp()) - 3600 * n, "seq": seq}


@responses.activate
def test_a_counting_cursor_resumes_after_the_greatest_number_seen(tmp_path: Path) -> None:
    spec = tmp_path / "visits.toml"
    spec.write_text(SPEC)
    # Out of order, and 10 after 9 (text order would keep "9"); one sequence is not a whole number.
    first = [visit(1, 9), visit(2, 10), visit(3, "8"), visit(4, 7.5)]
    responses.get(f"{API}/visits", json={"data": first})
    responses.get(f"{API}/visits", json={"data": [visit(5, 11)]})
    responses.get(f"{API}/visits", json={"data": []})
    cfg = {
        "name": "visits",
        "kind": "rest",
        "base_url": API,
        "retry_max_attempts": 1,
        "auth": {"token_env": "VISITS_TOKEN"},
        "options": {"spec": str(spec)},
    }
    env = {"VISITS_TOKEN": "t"}
    sources = build_sources(parse_sources([cfg], "config.toml", env), Runtime(env=env, now=lambda: NOW))
    engine = state(tmp_path)
    report = pull(engine, [DIRECTORY, *sources], NOW)
    assert report.ok, report.summary()
    assert [r["reason"] for r in rows(engine, "quarantine")] == [
        "seq: expected a whole number for the cursor, got 7.5"
    ]
    assert cursor(engine, "visits", "visits", "*") == "10"
    assert pull(engine, [DIRECTORY, *sources], NOW).ok
    assert cursor(engine, "visits", "visits", "*") == "11"
    third = pull(engine, [DIRECTORY, *sources], NOW)  # nothing new: the cursor stays
    assert third.ok and cursor(engine, "visits", "visits", "*") == "11"
    # {since} went out as the stored number, with no lookback: 0 before the first pull.
    sent = [c.request.params["after_seq"] for c in responses.calls]
    assert sent == ["0", "10", "11"]
    assert sum(v for k, v in facts(engine, "visits").items() if k[2] == "door_visits") == 4


def test_a_cursor_field_of_another_type_is_reported_with_the_fix(tmp_path: Path) -> None:
    spec = tmp_path / "visits.toml"
    spec.write_text(SPEC.replace('seq = { type = "number"', 'seq = { type = "text"'))
    with pytest.raises(SourceError) as caught:
        load_spec(str(spec))
    assert "cursor: field 'seq' is of type 'text'; declare type = \"time\"" in str(caught.value)
    assert 'type = "number" (an incrementing id or sequence)' in str(caught.value)
