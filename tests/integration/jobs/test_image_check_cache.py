"""The image link cache on a real database: validators kept per URL, stale links rechecked conditionally,
and schema version 4 adding the validator columns to a database that predates them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from connectors.images import LinkCheck
from jobs.menu_health import VALIDATORS_KEPT, _image_statuses
from state import image_checks
from state.engine import make_engine
from state.migrations import SCHEMA_VERSION, init_schema

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
OK = LinkCheck(200, '"a1"', "Wed, 27 May 2026 00:00:00 GMT")


def sqlite(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    init_schema(engine)
    return engine


class Checks:
    """A check function that answers 304 to any conditional request and records what it was asked."""

    def __init__(self) -> None:
        self.asked: dict[str, LinkCheck | None] = {}

    def __call__(self, url: str, cached: LinkCheck | None) -> LinkCheck:
        self.asked[url] = cached
        if cached is not None and cached.conditional_headers():
            return LinkCheck(cached.status, cached.etag, cached.last_modified, unchanged=True)
        return OK


def statuses(
    engine: Engine, urls: list[str], at: datetime, checks: Checks
) -> tuple[dict[str, int], int, int]:
    return _image_statuses(engine, urls, at.date(), at, checks, 4, DAY)


def test_a_stale_link_is_asked_with_its_validators_and_a_304_refreshes_it(tmp_path: Path) -> None:
    engine = sqlite(tmp_path)
    image_checks.record(
        engine, {"a": OK, "gone": LinkCheck(404)}, (NOW - DAY).date(), NOW - DAY - timedelta(hours=1)
    )
    checks = Checks()
    got, made, unchanged = statuses(engine, ["a", "gone", "new"], NOW, checks)
    assert got == {"a": 200, "gone": 200, "new": 200} and (made, unchanged) == (3, 1)
    assert checks.asked == {"a": OK, "gone": LinkCheck(404), "new": None}  # the 404 kept no validators
    assert image_checks.latest(engine, ["a"], NOW)["a"] == (NOW, OK)  # today's row, checked_at refreshed
    checks.asked.clear()
    assert statuses(engine, ["a", "gone", "new"], NOW + timedelta(hours=2), checks)[1:] == (0, 0)
    assert checks.asked == {}  # younger than the age: reused


def test_validators_are_used_for_a_week_past_the_age_then_the_link_is_checked_plainly(tmp_path: Path) -> None:
    engine = sqlite(tmp_path)
    last = NOW - DAY - VALIDATORS_KEPT + timedelta(days=1)
    image_checks.record(engine, {"week": OK}, last.date(), last)
    image_checks.record(engine, {"month": OK}, (NOW - timedelta(days=30)).date(), NOW - timedelta(days=30))
    checks = Checks()
    assert statuses(engine, ["week", "month"], NOW, checks)[1:] == (2, 1)
    assert checks.asked == {"week": OK, "month": None}


def old_image_check(engine: Engine) -> None:
    """The database as schema version 3 left it: no validator columns, a status cached."""
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE image_check DROP COLUMN etag"))
        conn.execute(text("ALTER TABLE image_check DROP COLUMN last_modified"))
        conn.execute(text("UPDATE schema_info SET version = 3"))
        conn.execute(
            text("INSERT INTO image_check (url, day, status, checked_at) VALUES ('u', :day, 200, :at)"),
            {"day": NOW.date(), "at": NOW.replace(tzinfo=None)},
        )


def assert_migrated(engine: Engine) -> None:
    assert init_schema(engine) == SCHEMA_VERSION == 4
    assert {"etag", "last_modified"} <= {c["name"] for c in inspect(engine).get_columns("image_check")}
    assert init_schema(engine) == SCHEMA_VERSION  # idempotent
    (at, check) = image_checks.latest(engine, ["u"], NOW)["u"]
    assert check == LinkCheck(200) and at == NOW  # an old row: its recheck is plain
    image_checks.record(engine, {"u": OK}, NOW.date(), NOW + DAY)
    assert image_checks.latest(engine, ["u"], NOW)["u"] == (NOW + DAY, OK)


def test_schema_version_4_adds_the_validators_to_an_older_sqlite_database(tmp_path: Path) -> None:
    engine = sqlite(tmp_path)
    old_image_check(engine)
    assert_migrated(engine)


def test_schema_version_4_adds_the_validators_to_an_older_postgresql_database(pg_engine: Engine) -> None:
    old_image_check(pg_engine)
    assert_migrated(pg_engine)
