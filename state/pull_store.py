"""What the pull reads of the state (the store directory, cursors) and the directory and quarantine
it writes; records, facts, cursors and freshness are written by `state.pull_writer`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine, func, select, text
from sqlmodel import Session

from connectors.base import Rejected, StoreRef
from connectors.values import json_safe
from state import stores as store_directory
from state.engine import chunks, table, upsert
from state.pull_writer import quarantine_rows
from state.tables import StoreRow


class PullStore:
    """The pull's reads and its directory writes; on SQLite one writer at a time (threads would only
    trade SQLITE_BUSY). Records, facts, cursors and freshness go through the `PullWriter`."""

    def __init__(self, engine: Engine, run_id: str, now: datetime) -> None:
        self.engine = engine
        self.run_id = run_id
        self.now = now
        self._lock: threading.Lock | None = threading.Lock() if engine.dialect.name == "sqlite" else None

    @contextmanager
    def session(self) -> Iterator[Session]:
        if self._lock is not None:
            self._lock.acquire()
        try:
            with Session(self.engine) as session, session.begin():
                yield session
        finally:
            if self._lock is not None:
                self._lock.release()

    def directory(self) -> dict[str, StoreRef]:
        return store_directory.refs(self.engine)

    def listed(self, source: str, directory: Mapping[str, StoreRef]) -> list[StoreRef]:
        """The stores of `source`'s latest stored listing (a store it no longer lists is left out)."""
        st = table("store")
        latest = select(func.max(st.c.seen_at)).where(st.c.source == source).scalar_subquery()
        query = select(st.c.store_id).where(st.c.source == source, st.c.seen_at == latest)
        with Session(self.engine) as session:
            ids = sorted(row[0] for row in session.connection().execute(query))
        return [directory[i] for i in ids if i in directory]

    def upsert_stores(self, source: str, refs: Sequence[StoreRef]) -> None:
        rows = [
            {
                "store_id": r.store_id,
                "name": r.name,
                "state": r.state,
                "timezone": r.timezone,
                "source": source,
                "attrs": json_safe(dict(r.attrs)),
                "seen_at": self.now,
            }
            for r in refs
        ]
        with self.session() as session:
            upsert(session, StoreRow, rows)

    def analyzer(self) -> Callable[[], None] | None:
        """On PostgreSQL, a function refreshing the statistics of the tables the pull grows."""
        if self.engine.dialect.name != "postgresql":
            return None

        def analyze() -> None:
            with self.engine.connect() as conn:
                conn.execute(text("ANALYZE source_record, metric_fact"))
                conn.commit()

        return analyze

    def records_estimate(self) -> int:
        """PostgreSQL's estimate of stored records as of the last ANALYZE (0 when never analyzed)."""
        if self.engine.dialect.name != "postgresql":
            return 0
        with self.engine.connect() as conn:
            query = text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('source_record')")
            found = conn.execute(query).scalar()
        return max(0, int(found or 0))

    def cursors(self, source: str, store_ids: Sequence[str]) -> dict[tuple[str, str], str]:
        """The stored cursors of a source's stores, (stream, store) → value, read once per pull."""
        cur = table("cursor")
        out: dict[tuple[str, str], str] = {}
        with Session(self.engine) as session:
            conn = session.connection()
            for chunk in chunks(sorted(store_ids), 500):
                query = select(cur.c.stream, cur.c.store_id, cur.c.value).where(
                    cur.c.source == source, cur.c.store_id.in_(chunk)
                )
                out.update(
                    {(stream, store): str(value or "") for stream, store, value in conn.execute(query)}
                )
        return out

    def quarantine(self, source: str, rejected: Sequence[Rejected]) -> None:
        if rejected:
            with self.session() as session:
                rows = quarantine_rows(self.run_id, source, rejected, self.now)
                session.connection().execute(table("quarantine").insert(), rows)
