"""`state.engine.upsert` and `insert` bind rows straight to the driver: what they store must be what
SQLAlchemy's own statements store, on SQLite and PostgreSQL, and an upsert must stay an upsert."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from state.engine import insert, make_engine, table, upsert
from state.migrations import init_schema
from state.tables import MetricFact, SourceRecord

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=UTC)


def record(key: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "source": "pos",
        "stream": "transactions",
        "key": key,
        "store_id": "NV-001",
        "day": date(2026, 11, 19),
        "occurred_at": NOW - timedelta(hours=3),
        "facts": [["revenue", "", 12.5], ["revenue", "channel=online", 12.5]],
        "attrs": {"sku": "A-1", "lines": [{"qty": 2, "price": 6.25, "note": None}], "ok": True},
        "pulled_at": NOW,
        "digest": "d-" + key,
    }
    return {**row, **changes}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
        init_schema(eng)
        yield eng
        eng.dispose()
    else:
        yield request.getfixturevalue("pg_engine")


def stored(engine: Engine, name: str) -> list[tuple[Any, ...]]:
    """The rows as the database holds them (SQLite: the text SQLAlchemy wrote; PostgreSQL: as read)."""
    t = table(name)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            cols = ", ".join(f'"{c.name}"' for c in t.columns)
            return list(conn.execute(text(f"SELECT {cols} FROM {name} ORDER BY 1, 2, 3, 4")).all())
        return list(conn.execute(select(t).order_by(*t.primary_key.columns)).all())


def test_upserted_rows_are_stored_as_sqlalchemy_stores_them(engine: Engine) -> None:
    rows = [record(f"k{i}", facts=[["orders", "", float(i)]]) for i in range(1200)]  # three batches
    with Session(engine) as s, s.begin():
        upsert(s, SourceRecord, rows)
    ours = stored(engine, "source_record")
    with Session(engine) as s, s.begin():
        s.connection().execute(table("source_record").delete())
        s.connection().execute(table("source_record").insert(), rows)
    assert ours == stored(engine, "source_record") and len(ours) == 1200


def test_an_upsert_replaces_existing_rows_and_adds_new_ones(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        upsert(s, SourceRecord, [record("a"), record("b")])
    with Session(engine) as s, s.begin():
        upsert(s, SourceRecord, [record("b", attrs={"sku": "B-2"}, digest="new"), record("c")])
    with engine.connect() as conn:
        sr = table("source_record")
        got = {k: (a, d) for k, a, d in conn.execute(select(sr.c.key, sr.c.attrs, sr.c.digest))}
    assert sorted(got) == ["a", "b", "c"]
    assert got["b"] == ({"sku": "B-2"}, "new") and got["a"][1] == "d-a"


def test_a_row_leaving_out_a_column_gets_its_default(engine: Engine) -> None:
    row = record("x")
    del row["digest"]
    with Session(engine) as s, s.begin():
        upsert(s, SourceRecord, [row])
    with engine.connect() as conn:
        assert conn.execute(select(table("source_record").c.digest)).scalar() == ""


def test_insert_refuses_a_duplicate_and_the_transaction_writes_nothing(engine: Engine) -> None:
    fact = {
        "source": "pos",
        "store_id": "NV-001",
        "metric": "orders",
        "dimension": "",
        "day": date(2026, 11, 19),
    }
    with Session(engine) as s, s.begin():
        insert(s.connection(), table("metric_fact"), [{**fact, "value": 3.0}])
    with pytest.raises(IntegrityError), Session(engine) as s, s.begin():
        insert(
            s.connection(),
            MetricFact.__table__,
            [{**fact, "day": date(2026, 11, 18), "value": 1.0}, {**fact, "value": 4.0}],
        )  # type: ignore[attr-defined]
    with engine.connect() as conn:
        assert conn.execute(select(table("metric_fact").c.value)).scalars().all() == [3.0]
