"""Menu health's image link cache (`image_check`): a URL's status is reused until it is older than a set age.

A changed link is a new URL and so is checked at once; an unchanged one is rechecked only after the age,
conditionally on the validators its last check kept.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime

from sqlalchemy import Engine, select
from sqlmodel import Session

from connectors.images import LinkCheck
from state.engine import upsert
from state.tables import ImageCheck

TABLE = ImageCheck.__table__  # type: ignore[attr-defined]


def ensure_table(engine: Engine) -> None:
    """Create the cache table if the database predates it."""
    TABLE.create(engine, checkfirst=True)


def latest(engine: Engine, urls: Collection[str], since: datetime) -> dict[str, tuple[datetime, LinkCheck]]:
    """The latest check of each of `urls` kept on `since`'s UTC day or later, with when it was made."""
    wanted = sorted(urls)
    found: dict[str, tuple[datetime, LinkCheck]] = {}
    columns = (TABLE.c.url, TABLE.c.status, TABLE.c.checked_at, TABLE.c.etag, TABLE.c.last_modified)
    with engine.connect() as conn:
        for i in range(0, len(wanted), 500):
            rows = conn.execute(
                select(*columns).where(
                    TABLE.c.day >= since.astimezone(UTC).date(), TABLE.c.url.in_(wanted[i : i + 500])
                )
            )
            for url, status, checked_at, etag, last_modified in rows:
                at = _aware(checked_at)
                if url not in found or at > found[url][0]:
                    found[url] = (at, LinkCheck(int(status), etag, last_modified))
    return found


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def record(engine: Engine, checks: Mapping[str, LinkCheck], day: date, now: datetime) -> None:
    """Keep the checks made on `day` (a 304's under the status it confirmed)."""
    if not checks:
        return
    rows = [
        {
            "url": u,
            "day": day,
            "status": c.status,
            "checked_at": now,
            "etag": c.etag,
            "last_modified": c.last_modified,
        }
        for u, c in checks.items()
    ]
    with Session(engine) as session, session.begin():
        upsert(session, ImageCheck, rows)
