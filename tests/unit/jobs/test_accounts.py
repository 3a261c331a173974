"""Account data as the jobs read it from the state store: series built dense, equal to the facts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from jobs.accounts import build_account_data, record_windows
from mappings.series import DaySeries
from state.engine import make_engine
from state.migrations import init_schema
from state.tables import MetricFact, SourceRecord

NOW = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)
TODAY = NOW.date()


def test_series_are_dense_from_the_first_fact_summed_over_sources(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    init_schema(engine)
    rows = [
        # two sources on the same day add up; days between facts are 0; order does not matter
        ("pos", "orders", "channel=online", TODAY - timedelta(days=3), 4.0),
        ("pos", "orders", "channel=online", TODAY - timedelta(days=10), 2.0),
        ("platform", "orders", "channel=online", TODAY - timedelta(days=10), 1.5),
        ("pos", "orders", "channel=online", TODAY + timedelta(days=1), 1.0),  # a store ahead of UTC
        ("pos", "revenue", "", TODAY - timedelta(days=1), 99.5),
        ("pos", "revenue", "", TODAY - timedelta(days=400), 7.0),  # outside the history: not read
    ]
    with Session(engine) as s:
        for source, metric, dim, day, value in rows:
            s.add(
                MetricFact(
                    source=source, store_id="NV-001", metric=metric, dimension=dim, day=day, value=value
                )
            )
        s.add(
            MetricFact(source="pos", store_id="AZ-001", metric="orders", dimension="", day=TODAY, value=3.0)
        )
        s.commit()

    (data,) = build_account_data(engine, ["NV-001"], {}, {}, NOW, history_days=120)

    orders = data.series[("orders", "channel=online")]
    assert isinstance(orders, DaySeries)
    assert orders.start == TODAY - timedelta(days=10)  # before the first fact: no history, not zeros
    assert dict(orders) == {TODAY - timedelta(days=10 - i): 0.0 for i in range(12)} | {
        TODAY - timedelta(days=10): 3.5,
        TODAY - timedelta(days=3): 4.0,
        TODAY + timedelta(days=1): 1.0,
    }
    assert dict(data.series[("revenue", "")]) == {TODAY - timedelta(days=1): 99.5}
    assert set(data.series) == {("orders", "channel=online"), ("revenue", "")}  # AZ-001's facts stay its own


def test_a_store_without_facts_has_no_series(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    init_schema(engine)
    (data,) = build_account_data(engine, ["MA-005"], {}, {}, NOW, history_days=120)
    assert data.series == {}
    assert data.today == date(2026, 10, 15)


class _Reads:
    def __init__(self, streams: tuple[str, ...], record_days: dict[str, int]) -> None:
        self.streams = streams
        self.record_days = record_days


def test_event_streams_are_read_only_for_the_days_their_jobs_declare(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    init_schema(engine)
    with Session(engine) as s:
        for stream, key, days_ago in (
            ("orders", "o-new", 2),
            ("orders", "o-old", 30),
            ("menu_items", "m-old", 90),
        ):
            day = TODAY - timedelta(days=days_ago)
            s.add(SourceRecord(source="platform", stream=stream, key=key, store_id="NV-001", day=day,
                               occurred_at=datetime.combine(day, NOW.timetz()), attrs={"id": key}))  # fmt: skip
        s.commit()
    compliance = _Reads(("menu_items", "orders"), {"orders": 8})
    windows = record_windows([compliance])
    assert windows == {"orders": 8}
    (data,) = build_account_data(
        engine, ["NV-001"], {}, {}, NOW, 120, ("menu_items", "orders"), record_days=windows
    )
    assert {k: [r["id"] for r in v] for k, v in data.records.items()} == {
        "orders": ["o-new"],
        "menu_items": ["m-old"],
    }
    # a job that reads the stream whole wins: nothing it needs is cut off
    assert record_windows([compliance, _Reads(("orders",), {})]) == {}
