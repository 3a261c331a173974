"""CSV folder and SQL sources: column mapping, per-file ledger, `:since` binding, row validation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connectors.base import Checkpoint, Fact, Record, Rejected, SourceError
from connectors.catalog import SourceConfigError, build_source, parse_sources
from tests.unit.connectors.helpers import FakeClock, config

WIDE = {
    "folder": "",
    "store_column": "store",
    "day_column": "date",
    "facts": [
        {"metric": "orders", "column": "orders", "dimension": "channel=in_store"},
        {"metric": "revenue", "column": "net_sales", "dimension": "channel=in_store"},
    ],
    "attrs": ["register"],
}


def csv_source(folder: Path, **options: object) -> object:
    opts = {**WIDE, "folder": str(folder), **options}
    src = build_source(config(name="legacy_pos", kind="csv_folder", options=opts), FakeClock().runtime())
    [store] = src.stores([])
    return src.connector(store)  # type: ignore[arg-type]


def test_csv_rows_become_daily_records_and_files_are_read_once(tmp_path: Path) -> None:
    (tmp_path / "NV-001_2026-11-19.csv").write_text(
        "store,date,orders,net_sales,register\nNV-001,2026-11-19,10,500.5,R1\nNV-001,2026-11-19,2,80,R2\n"
    )
    (tmp_path / "NV-002_2026-11-19.csv").write_text(
        "store,date,orders,net_sales,register\nNV-002,2026-11-19,x,1,R1\n"
    )
    conn = csv_source(tmp_path)
    out = list(conn.iter_records("daily", None))  # type: ignore[attr-defined]
    records = [r for r in out if isinstance(r, Record)]
    assert len(records) == 1
    rec = records[0]
    assert rec.key == "NV-001:2026-11-19" and rec.store_id == "NV-001"
    assert rec.facts == (Fact("orders", 12.0, "channel=in_store"), Fact("revenue", 580.5, "channel=in_store"))
    assert rec.attrs == {"register": "R1", "file": "NV-001_2026-11-19.csv"}
    [bad] = [r for r in out if isinstance(r, Rejected)]
    assert bad.reason == "NV-002_2026-11-19.csv line 2: orders: expected a number, got 'x'"
    ledger = [c.cursor for c in out if isinstance(c, Checkpoint)][-1]
    assert set(json.loads(ledger)) == {"NV-001_2026-11-19.csv", "NV-002_2026-11-19.csv"}
    # Unchanged files are skipped; a rewritten file (new mtime) is read again.
    assert [r for r in conn.iter_records("daily", ledger) if isinstance(r, Record)] == []  # type: ignore[attr-defined]
    path = tmp_path / "NV-001_2026-11-19.csv"
    path.write_text("store,date,orders,net_sales,register\nNV-001,2026-11-19,11,550,R1\n")
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    again = [r for r in conn.iter_records("daily", ledger) if isinstance(r, Record)]  # type: ignore[attr-defined]
    assert [r.facts[0].value for r in again] == [11.0]


def test_csv_long_layout(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        "store_id;day;metric;dim;value\nAZ-001;2026-11-20;revenue;category=edibles;100\nAZ-001;2026-11-20;revenue;;250\n"
    )
    conn = csv_source(
        tmp_path,
        facts=[],
        store_column="store_id",
        day_column="day",
        metric_column="metric",
        dimension_column="dim",
        value_column="value",
        delimiter=";",
        attrs=[],
    )
    [rec] = [r for r in conn.iter_records("daily", None) if isinstance(r, Record)]  # type: ignore[attr-defined]
    assert rec.facts == (Fact("revenue", 100.0, "category=edibles"), Fact("revenue", 250.0, ""))


def test_csv_options_must_pick_one_layout(tmp_path: Path) -> None:
    raw = [{"name": "files", "kind": "csv_folder", "options": {"folder": str(tmp_path)}}]
    with pytest.raises(SourceConfigError, match="declare either facts"):
        parse_sources(raw, env={})


def test_csv_missing_folder_is_a_source_error(tmp_path: Path) -> None:
    conn = csv_source(tmp_path / "gone")
    with pytest.raises(SourceError, match="does not exist"):
        list(conn.iter_records("daily", None))  # type: ignore[attr-defined]


def sql_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE daily (store TEXT, d TEXT, m TEXT, dim TEXT, v REAL)"))
        conn.execute(
            text("INSERT INTO daily VALUES (:s, :d, :m, :dim, :v)"),
            [
                {"s": "NV-001", "d": "2026-11-18", "m": "orders", "dim": "", "v": 5},
                {"s": "NV-001", "d": "2026-11-19", "m": "orders", "dim": "", "v": 7},
                {"s": "NV-001", "d": "2026-11-19", "m": "revenue", "dim": "channel=online", "v": 120.5},
                {"s": "NV-001", "d": "2026-11-19", "m": "revenue", "dim": "channel=online", "v": None},
            ],
        )
    engine.dispose()
    return url


def test_sql_binds_since_and_groups_rows_by_store_and_day(tmp_path: Path) -> None:
    url = sql_db(tmp_path)
    query = "SELECT store AS store_id, d AS day, m AS metric, dim AS dimension, v AS value FROM daily WHERE d >= :since"
    src = build_source(
        config(name="warehouse", kind="sql", options={"url": url, "query": query}), FakeClock().runtime()
    )
    [store] = src.stores([])
    out = list(src.connector(store).iter_records("daily", "2026-11-19T00:00:00Z"))  # type: ignore[arg-type]
    [rec] = [r for r in out if isinstance(r, Record)]
    assert rec.key == "NV-001:2026-11-19" and rec.cursor == "2026-11-19T00:00:00Z"
    assert rec.facts == (Fact("orders", 7.0), Fact("revenue", 120.5, "channel=online"))
    [bad] = [r for r in out if isinstance(r, Rejected)]
    assert bad.reason == "value: expected a number, got None"
    src.close()


def test_sql_query_must_return_the_columns(tmp_path: Path) -> None:
    url = sql_db(tmp_path)
    src = build_source(
        config(
            name="warehouse",
            kind="sql",
            options={"url": url, "query": "SELECT store FROM daily WHERE d >= :since"},
        ),
        FakeClock().runtime(),
    )
    [store] = src.stores([])
    with pytest.raises(SourceError, match="missing store_id, day, metric, dimension, value"):
        list(src.connector(store).iter_records("daily", None))  # type: ignore[arg-type]


def test_sql_url_with_a_password_must_be_a_secret() -> None:
    raw = [
        {"name": "w", "kind": "sql", "options": {"url": "postgresql://u:pw@db/x", "query": "select :since"}}
    ]
    with pytest.raises(SourceConfigError, match="url: holds a password"):
        parse_sources(raw, env={})
    raw = [{"name": "w", "kind": "sql", "options": {"url_env": "WAREHOUSE_URL", "query": "select 1"}}]
    with pytest.raises(SourceConfigError, match="must use the :since bound parameter"):
        parse_sources(raw, env={})
