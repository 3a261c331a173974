"""One brief per CSM per day when several processes run the digest at once: the claim is the database's."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine

from jobs import digest_sent

pytestmark = pytest.mark.integration

DAY = date(2026, 6, 17)
NOW = datetime(2026, 6, 17, 7, 30, tzinfo=UTC)


def race(engine: Engine, n: int = 8) -> list[bool]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: digest_sent.claim(engine, "005A", DAY, f"run-{i}", NOW), range(n)))


def check_claims(engine: Engine) -> None:
    assert sum(race(engine)) == 1
    digest_sent.settle(engine, "005A", DAY, sent_at=None, channel="email", subject="s", seen={}, error="503")
    assert sum(race(engine)) == 1  # a failed send is claimed again, once
    digest_sent.settle(engine, "005A", DAY, sent_at=NOW, channel="email", subject="s", seen={"001": [40, "Red"]})
    assert sum(race(engine)) == 0
    (row,) = digest_sent.sent_on(engine, DAY)
    assert row.state == "sent" and row.seen == {"001": [40, "Red"]}
    last = digest_sent.last_sent(engine, "005A")
    assert last is not None and last.day == DAY


def test_claims_on_sqlite(engine: Engine) -> None:
    check_claims(engine)


@pytest.mark.postgres
def test_claims_on_postgresql(pg_engine: Engine) -> None:
    check_claims(pg_engine)
