"""The pull's writer on a real PostgreSQL: set-based groups, statistics refreshed as the tables grow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from connectors.base import Record
from connectors.memory import MemorySource
from jobs.pull import pull
from state import pull_writer
from tests.integration.jobs.test_pull import DIRECTORY, NOW, facts, rows, sales

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def analyzed(engine: Engine) -> bool:
    query = "SELECT last_analyze FROM pg_stat_user_tables WHERE relid = to_regclass('source_record')"
    with engine.connect() as conn:
        return conn.execute(text(query)).scalar() is not None


def test_a_growing_pull_refreshes_the_planner_statistics_and_a_repull_writes_nothing(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = pg_engine
    monkeypatch.setattr(pull_writer, "ANALYZE_MIN_ROWS", 10)
    data = {s.store_id: {"transactions": sales(s.store_id, 12, step_hours=5)} for s in DIRECTORY.directory}
    pos = MemorySource("pos", data)
    first = pull(engine, [DIRECTORY, pos], NOW)
    assert first.status == "ok" and first.records == 24
    assert first.writer["written"] == 24 and first.writer["analyzed"] >= 1 and analyzed(engine)
    before = facts(engine, "pos")
    again = pull(engine, [DIRECTORY, pos], NOW + timedelta(hours=1), full_refresh=True)
    assert again.writer["written"] == 0 and again.writer["unchanged"] == 24
    assert facts(engine, "pos") == before and len(rows(engine, "source_record")) == 24


def test_a_small_pull_leaves_statistics_to_autovacuum(pg_engine: Engine) -> None:
    engine = pg_engine
    pos = MemorySource("pos", {"NV-001": {"transactions": sales("NV-001", 3)}})
    report = pull(engine, [DIRECTORY, pos], NOW)
    assert report.writer["analyzed"] == 0 and report.writer["written"] == 3


def test_invalid_unicode_in_one_record_costs_that_record_only_on_postgresql(pg_engine: Engine) -> None:
    good = sales("NV-001", 4)
    bad = [
        Record("transactions", "NV-001:s", "NV-001", NOW, good[0].cursor, (), {"name": "Blue \ud800 Dream"}),
        Record("transactions", "NV-001:\x00", "NV-001", NOW, good[0].cursor, (), {}),
        Record("transactions", "NV-001:n", "NV-001", NOW, good[0].cursor, (), {"note": "a\x00b"}),
    ]
    pos = MemorySource("pos", {"NV-001": {"transactions": [*good[:2], *bad, *good[2:]]}})
    report = pull(pg_engine, [DIRECTORY, pos], NOW)
    assert report.status == "ok", report.summary()
    assert report.tally["pos/transactions"] == {"received": 7, "stored": 4, "quarantined": 3, "failed": 0}
    assert len(rows(pg_engine, "source_record", "WHERE source = 'pos'")) == 4
    reasons = sorted(r["reason"] for r in rows(pg_engine, "quarantine"))
    assert all("invalid Unicode" in r for r in reasons), reasons
