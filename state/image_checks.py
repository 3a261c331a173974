"""Menu health's image link cache (`image_check`): each URL's status, checked at most once a day."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime

from sqlalchemy import Engine, select
from sqlmodel import Session

from state.engine import upsert
from state.tables import ImageCheck

TABLE = ImageCheck.__table__  # type: ignore[attr-defined]


def ensure_table(engine: Engine) -> None:
    """Create the cache table if the database predates it."""
    TABLE.create(engine, checkfirst=True)


def known(engine: Engine, urls: Collection[str], day: date) -> dict[str, int]:
    """The statuses already checked on `day` among `urls`."""
    wanted = sorted(urls)
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for i in range(0, len(wanted), 500):
            rows = conn.execute(
                select(TABLE.c.url, TABLE.c.status).where(
                    TABLE.c.day == day, TABLE.c.url.in_(wanted[i : i + 500])
                )
            )
            out.update({r[0]: int(r[1]) for r in rows})
    return out


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
