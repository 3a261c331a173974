"""The state database's engine, the one dialect-aware upsert, the types callers hold (not SQLAlchemy's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Dialect, Engine, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session, SQLModel, create_engine

__all__ = [
    "Connection",
    "Engine",
    "Session",
    "chunks",
    "insert",
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
    """INSERT … ON CONFLICT DO UPDATE on the model's primary key, for SQLite and PostgreSQL alike.

    Rows go to the driver's executemany 500 at a time, each column's values bound by the dialect's
    own processors in one pass over the column: what SQLAlchemy binds, without its per-row work
    (a first pull upserts 340,000 records). Rows leaving out a column with a default go through
    SQLAlchemy, which fills it in.
    """
    if not rows:
        return
    _execute_many(session.connection(), model.__table__, rows, upsert=True)  # type: ignore[attr-defined]


def insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """A plain INSERT of many rows (a conflict is an error), bound as `upsert` binds them."""
    if rows:
        _execute_many(conn, table, rows, upsert=False)


def _execute_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, upsert: bool) -> None:
    columns = tuple(rows[0])
    prepared = _prepared(conn.dialect, table, columns, upsert)
    get = itemgetter(*columns)
    for chunk in chunks(rows, 500):
        if not prepared.direct:
            conn.execute(prepared.stmt, list(chunk))
            continue
        values = [get(row) for row in chunk] if len(columns) > 1 else [(get(row),) for row in chunk]
        conn.exec_driver_sql(prepared.sql, prepared.bind(values))


@dataclass(frozen=True)
class _Prepared:
    """An insert or upsert compiled for a dialect, with where each bound value comes from.

    `direct` when its parameters are exactly the rows' columns (no default to fill in).
    """

    stmt: Any
    direct: bool
    sql: str
    names: tuple[str, ...]  # the statement's parameters, in its order
    sources: tuple[int, ...]  # each parameter's column in the rows
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool

    def bind(self, rows: Sequence[tuple[Any, ...]]) -> Any:
        """Driver parameters for `rows` (tuples in the caller's column order)."""
        columns = list(zip(*rows, strict=True))
        values = [
            list(map(proc, columns[i])) if proc is not None else columns[i]
            for i, proc in zip(self.sources, self.processors, strict=True)
        ]
        if self.positional:
            return list(zip(*values, strict=True))
        return [dict(zip(self.names, row, strict=True)) for row in zip(*values, strict=True)]


@lru_cache(maxsize=64)
def _prepared(dialect: Dialect, table: Table, columns: tuple[str, ...], upsert: bool) -> _Prepared:
    pk = [c.name for c in table.primary_key.columns]
    insert_fn: Any = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    stmt = insert_fn(table)
    update_cols = {c: stmt.excluded[c] for c in columns if c not in pk}
    if upsert:
        stmt = (
            stmt.on_conflict_do_update(index_elements=pk, set_=update_cols)
            if update_cols
            else stmt.on_conflict_do_nothing(index_elements=pk)
        )
    compiled = stmt.compile(dialect=dialect, column_keys=list(columns))
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
    direct = sorted(names) == sorted(columns)
    return _Prepared(
        stmt=stmt,
        direct=direct,
        sql=compiled.string,
        names=names,
        sources=tuple(columns.index(n) for n in names) if direct else (),
        processors=tuple(table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
        if direct
        else (),
        positional=compiled.positional,
    )


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in slices of `size`: one IN list or executemany batch each."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def table(name: str) -> Any:
    """A table by name, for column-level statements (no ORM entity per row)."""
    return SQLModel.metadata.tables[name]
