"""Source records and metric facts as the jobs read them, and the derived records jobs write back.

Reads stream columns, not ORM entities (an entity costs many times its row and a session keeps them
all), a chunk of stores to an IN list, on one connection per `reading` block.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlmodel import Session

from state.engine import table, upsert
from state.pull_writer import rederive
from state.tables import SourceRecord

STREAM_ROWS = 5_000  # rows fetched at a time


class Reads:
    """The reads of one connection: facts, freshness and source records of a set of stores."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def facts(self, stores: Sequence[str], since: date) -> Iterator[tuple[str, str, str, date, float]]:
        """(store, metric, dimension, day, value) of the stores' daily facts from `since`."""
        mf = table("metric_fact")
        q = select(mf.c.store_id, mf.c.metric, mf.c.dimension, mf.c.day, mf.c.value).where(
            mf.c.store_id.in_(list(stores)), mf.c.day >= since
        )
        for row in self.conn.execute(q):
            yield row[0], row[1], row[2], row[3], row[4]

    def freshness(
        self, stores: Sequence[str], source: str | None = None
    ) -> Iterator[tuple[str, str, datetime | None, datetime | None, datetime | None]]:
        """(store, source, newest data, last success, implausible since), of every source or one."""
        fr = table("freshness")
        q = select(
            fr.c.store_id, fr.c.source, fr.c.newest_data_at, fr.c.last_success_at, fr.c.implausible_at
        ).where(fr.c.store_id.in_(list(stores)))
        if source is not None:
            q = q.where(fr.c.source == source)
        for row in self.conn.execute(q):
            yield row[0], row[1], row[2], row[3], row[4]

    def records(
        self,
        stores: Sequence[str],
        streams: Collection[str],
        *,
        sources: Collection[str] | None = None,
        not_sources: Collection[str] = (),
        since: date | None = None,
        until: date | None = None,
        by_store_and_day: bool = False,
    ) -> Iterator[tuple[str, str, str, date, dict[str, Any]]]:
        """(store, stream, key, day, attrs) of the stores' records of `streams`, optionally of some
        sources (or not of others) and days; ordered by store then day if asked (a store's adjacent)."""
        sr = table("source_record")
        q = select(sr.c.store_id, sr.c.stream, sr.c.key, sr.c.day, sr.c.attrs).where(
            sr.c.store_id.in_(list(stores)), sr.c.stream.in_(sorted(streams))
        )
        if sources is not None:
            q = q.where(sr.c.source.in_(sorted(sources)))
        for source in not_sources:
            q = q.where(sr.c.source != source)
        if since is not None:
            q = q.where(sr.c.day >= since)
        if until is not None:
            q = q.where(sr.c.day <= until)
        if by_store_and_day:
            q = q.order_by(sr.c.store_id, sr.c.day)
        for row in self.conn.execute(q):
            yield row[0], row[1], row[2], row[3], row[4] or {}


@contextmanager
def reading(engine: Engine, yield_per: int = STREAM_ROWS) -> Iterator[Reads]:
    """Reads on one connection, streamed `yield_per` rows at a time."""
    with Session(engine) as s:
        yield Reads(s.connection().execution_options(yield_per=yield_per))


def replace_derived(
    engine: Engine, source: str, stream: str, records: Mapping[str, Mapping[str, Any]]
) -> None:
    """Upsert a job's derived records (key -> store_id, day, occurred_at, facts, attrs, pulled_at) and
    rebuild the source's facts of every (store, day) they touch, before or after, in one transaction."""
    sr = table("source_record")
    touched = {(r["store_id"], r["day"]) for r in records.values()}
    keys = sorted(records)
    with Session(engine) as session, session.begin():
        conn = session.connection()
        for i in range(0, len(keys), 500):
            touched.update(
                (r[0], r[1])
                for r in conn.execute(
                    select(sr.c.store_id, sr.c.day).where(
                        sr.c.source == source, sr.c.stream == stream, sr.c.key.in_(keys[i : i + 500])
                    )
                )
            )
        upsert(
            session,
            SourceRecord,
            [{"source": source, "stream": stream, "key": key, **row} for key, row in records.items()],
        )
        rederive(conn, source, touched)
