"""The state database's engine, the one dialect-aware upsert, the types callers hold (not SQLAlchemy's)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session, SQLModel, create_engine

__all__ = [
    "Connection",
    "Engine",
    "Session",
    "chunks",
    "is_state_url",
    "make_engine",
    "safe_url",
    "table",
    "upsert",
]

T = TypeVar("T")

STATE_DRIVERS = ("sqlite", "postgresql", "postgresql+psycopg")


def is_state_url(url: str) -> bool:
    """Whether `url` names a database the state can live in (SQLite or PostgreSQL)."""
    try:
        return make_url(url).drivername in STATE_DRIVERS
    except ArgumentError:
        return False


def safe_url(url: str) -> str:
    """A URL fit for an error message: any password replaced."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url if "@" not in url else "***"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite gets WAL and a busy timeout so readers never block writers."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def upsert(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO UPDATE on the model's primary key, for SQLite and PostgreSQL alike."""
    if not rows:
        return
    table = model.__table__  # type: ignore[attr-defined]
    pk = [c.name for c in table.primary_key.columns]
    dialect = session.get_bind().dialect.name
    insert_fn: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_fn(table)
    update_cols = {c: stmt.excluded[c] for c in rows[0] if c not in pk}
    stmt = (
        stmt.on_conflict_do_update(index_elements=pk, set_=update_cols)
        if update_cols
        else (stmt.on_conflict_do_nothing(index_elements=pk))
    )
    for chunk in chunks(rows, 500):
        session.execute(stmt, list(chunk))


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in slices of `size`: one IN list or executemany batch each."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def table(name: str) -> Any:
    """A table by name, for column-level statements (no ORM entity per row)."""
    return SQLModel.metadata.tables[name]
