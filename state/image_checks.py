"""Menu health's image link cache (`image_check`): a URL's status is reused until it is older than a set age.

A changed link is a new URL and so is checked at once; an unchanged one is rechecked only after the age.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime

from sqlalchemy import Engine, select
from sqlmodel import Session

from state.engine import upsert
from state.tables import ImageCheck

TABLE = ImageCheck.__table__  # type: ignore[attr-defined]


def ensure_table(engine: Engine) -> None:
    """Create the cache table if the database predates it."""
    TABLE.create(engine, checkfirst=True)


def known(engine: Engine, urls: Collection[str], since: datetime) -> dict[str, int]:
    """The latest status of each of `urls` checked after `since` (an aware datetime)."""
    wanted = sorted(urls)
    latest: dict[str, tuple[datetime, int]] = {}
    with engine.connect() as conn:
        for i in range(0, len(wanted), 500):
            rows = conn.execute(
                select(TABLE.c.url, TABLE.c.status, TABLE.c.checked_at).where(
                    TABLE.c.day >= since.astimezone(UTC).date(), TABLE.c.url.in_(wanted[i : i + 500])
                )
            )
            for url, status, checked_at in rows:
                at = _aware(checked_at)
                if at > since and (url not in latest or at > latest[url][0]):
                    latest[url] = (at, int(status))
    return {u: s for u, (_, s) in latest.items()}


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def record(engine: Engine, statuses: Mapping[str, int], day: date, now: datetime) -> None:
    """Keep the statuses checked on `day`."""
    if not statuses:
        return
    with Session(engine) as session, session.begin():
        upsert(
            session,
            ImageCheck,
            [{"url": u, "day": day, "status": s, "checked_at": now} for u, s in statuses.items()],
        )
