"""The store directory (`store` table) as the jobs read it: every store a source has listed."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from connectors.base import StoreRef
from state.engine import chunks
from state.tables import StoreRow

_IN_CHUNK = 500


def rows(engine: Engine, stores: Collection[str] | None = None) -> dict[str, StoreRow]:
    """The directory's rows: all of them, or only `stores` (a shard need not hold the portfolio's)."""
    with Session(engine, expire_on_commit=False) as s:
        if stores is None:
            return {r.store_id: r for r in s.scalars(select(StoreRow))}
        out: dict[str, StoreRow] = {}
        for chunk in chunks(sorted(stores), _IN_CHUNK):
            out.update(
                (r.store_id, r) for r in s.scalars(select(StoreRow).where(col(StoreRow.store_id).in_(chunk)))
            )
        return out


def refs(engine: Engine) -> dict[str, StoreRef]:
    """The directory as the connectors' `StoreRef`s, by id."""
    table = StoreRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {
            r["store_id"]: StoreRef(
                r["store_id"], r["name"], r["state"], r["timezone"], dict(r["attrs"] or {})
            )
            for r in conn.execute(select(table)).mappings()
        }


def timezones(engine: Engine) -> dict[str, str]:
    """Store id -> its time zone."""
    with engine.connect() as conn:
        return {r[0]: r[1] for r in conn.execute(select(col(StoreRow.store_id), col(StoreRow.timezone)))}


def count(engine: Engine) -> int:
    """Stores in the directory: the portfolio a shard is part of."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(StoreRow)).scalar() or 0)
