"""Benchmark: the compliance job's inputs and evaluation for stores with 120 days of online orders.

The purchase-limit check reads a store's online orders only for its window (`record_days`); the
baseline, measured in the same run, reads the whole stream as state-like streams are read. Prints
both timings, the records read and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session

from jobs.accounts import build_account_data, record_windows
from jobs.compliance import ComplianceJob
from state.engine import make_engine
from state.migrations import init_schema
from state.tables import MetricFact, SourceRecord

NOW = datetime(2026, 10, 15, 14, 0, tzinfo=UTC)
MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"


def seed(url: str, stores: int, days: int, per_day: int) -> list[str]:
    engine = make_engine(url)
    init_schema(engine)
    ids = [f"IL-{i:03d}" for i in range(1, stores + 1)]
    with Session(engine) as s:
        for sid in ids:
            for d in range(1, days + 1):
                day = NOW.date() - timedelta(days=d)
                for n in range(per_day):
                    placed = datetime.combine(day, NOW.timetz()) - timedelta(minutes=n)
                    items = [{"product_id": "p1", "category": "flower", "quantity": 1 + n % 3, "price": 30.0,
                              "weight_grams": 3.5, "thc_mg": None}]  # fmt: skip
                    s.add(SourceRecord(source="platform", stream="orders", key=f"{sid}:{d}:{n}", store_id=sid,
                                       day=day, occurred_at=placed,
                                       attrs={"order_id": f"{sid}-{d}-{n}", "status": "completed",
                                              "placed_at": placed.isoformat(), "items": items}))  # fmt: skip
                for metric in ("revenue", "metrc_sales"):
                    s.add(
                        MetricFact(
                            source="x", store_id=sid, metric=metric, dimension="", day=day, value=900.0
                        )
                    )
            s.commit()
    return ids


def measure(url: str, ids: list[str], job: ComplianceJob, windows: dict[str, int]) -> tuple[float, int]:
    engine = make_engine(url)
    start = time.perf_counter()
    read = 0
    for i in range(0, len(ids), 500):
        for data in build_account_data(engine, ids[i : i + 500], {s: {"Id": s} for s in ids}, {}, NOW, 120,
                                       job.streams, None, None, windows):  # fmt: skip
            read += sum(len(v) for v in data.records.values())
            job.evaluate(data)
    return time.perf_counter() - start, read


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stores", type=int, default=50)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--orders-per-day", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/state.db"
        t0 = time.perf_counter()
        ids = seed(url, args.stores, args.days, args.orders_per_day)
        print(f"seeded {len(ids)} stores x {args.days} days x {args.orders_per_day} orders in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        job = ComplianceJob.build(MAPPINGS)
        windowed, n_windowed = measure(url, ids, job, record_windows([job]))
        whole, n_whole = measure(url, ids, job, {})
        print(f"baseline (whole orders stream): {whole:.2f} s, {n_whole:,} records read")
        print(f"window ({job.record_days}): {windowed:.2f} s, {n_windowed:,} records read")
        print(
            f"ratio window/baseline: time {windowed / whole:.3f}, records {n_windowed / max(n_whole, 1):.3f}"
        )


if __name__ == "__main__":
    main()
