"""Benchmark: QBR packs for 1,000 accounts — figures, PDF, upload and the review update, then the rerun.

Seeds a SQLite state store with a quarter and the one before it of daily facts per store, and the
quarter's POS transactions (the top products are read from them), Accounts and their Quarterly
Review records in an in-process sandbox org; then runs the qbr_pack job twice in this one process
(one core): first every pack is rendered and uploaded, then nothing has changed and nothing is.
Prints seconds per account and peak memory against the targets (0.5 s, 300 MB).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr
from sqlmodel import SQLModel

from connectors.salesforce.auth import ClientCredentials
from connectors.salesforce.client import SalesforceClient, make_session
from jobs import qbr_pack
from jobs.apply import ApplyOptions
from mappings.lifecycle import Quarter
from sandbox.salesforce import ConnectedApp, Org, OrgAdapter
from state.engine import make_engine
from state.migrations import init_schema
from worker.logging import configure

TARGET_SECONDS = 0.5
TARGET_MB = 300.0
NOW = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
QUARTER = Quarter(2026, 3)
STATES = ("NV", "AZ", "IL", "CA", "MI", "CO")
CATEGORIES = {"flower": 0.38, "vapes": 0.2, "edibles": 0.16, "pre_rolls": 0.12, "concentrates": 0.08,
              "beverages": 0.04, "tinctures": 0.02}  # fmt: skip
BASE = "https://sandbox.local"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(engine: Any, org: Org, n: int, orders_per_day: int, rnd: random.Random) -> None:
    """n stores (every 20th trio an MSO across two states), their facts, transactions and Accounts."""
    tables = SQLModel.metadata.tables
    stores, facts, records = [], [], []
    start = QUARTER.previous().start
    for i in range(n):
        sid = f"{STATES[i % len(STATES)]}-{i:05d}"
        parent = f"MSO-{i // 3:04d}" if i % 60 < 3 else None
        stores.append({"store_id": sid, "name": f"Store {sid}", "state": sid[:2], "timezone": "UTC",
                       "source": "bench", "attrs": {"parent_id": parent}, "seen_at": NOW})  # fmt: skip
        day = start
        while day <= QUARTER.end:
            on = max(0, round(orders_per_day * 0.3 * rnd.uniform(0.7, 1.3)))
            off = max(0, round(orders_per_day * 0.7 * rnd.uniform(0.8, 1.2)))
            on_rev, off_rev = on * rnd.uniform(66, 76), off * rnd.uniform(50, 58)
            row = {"source": "bench", "store_id": sid, "day": day}
            values = {
                ("orders", ""): on + off, ("orders", "channel=online"): on,
                ("orders", "channel=in_store"): off,
                ("revenue", "channel=online"): on_rev, ("revenue", "channel=in_store"): off_rev,
                ("sessions", ""): on * 25, ("carts", ""): round(on * 1.7), ("checkouts", ""): round(on * 1.2),
                ("online_orders", ""): on,
            }  # fmt: skip
            for c, share in CATEGORIES.items():
                values[("revenue", f"category={c}")] = (on_rev + off_rev) * share
            facts += [{**row, "metric": m, "dimension": d, "value": float(v)} for (m, d), v in values.items()]
            if day >= QUARTER.start:
                for t in range(on + off):
                    pid = f"p{rnd.randrange(40):02d}"
                    records.append({
                        "source": "bench", "stream": "transactions", "key": f"{sid}:{day}:{t}",
                        "store_id": sid,
                        "day": day, "occurred_at": datetime.combine(day, datetime.min.time(), UTC),
                        "facts": [], "digest": "", "pulled_at": NOW,
                        "attrs": {"channel": "online" if t < on else "in_store",
                                  "items": [{"product_id": pid, "category": "flower", "quantity": 1,
                                             "amount": round(rnd.uniform(20, 60), 2)}]},
                    })  # fmt: skip
            day += timedelta(days=1)
        if len(facts) > 50_000 or len(records) > 20_000:
            _flush(engine, tables, stores, facts, records)
            stores, facts, records = [], [], []
    _flush(engine, tables, stores, facts, records)
    ids = org.load("Account", [{"Name": f"Store {r}", "Store_Id__c": r} for r in _store_ids(n)])
    parents = sorted({f"MSO-{i // 3:04d}" for i in range(n) if i % 60 < 3})
    org.load("Account", [{"Name": f"Group {p}", "Store_Id__c": p} for p in parents])
    org.load(
        "Quarterly_Review__c",
        [{"Name": f"{s} {QUARTER}", "Review_Key__c": f"{s}:{QUARTER}", "Account__c": a,
          "Quarter__c": str(QUARTER)}
         for s, a in zip(_store_ids(n), ids, strict=True)],
    )  # fmt: skip


def _store_ids(n: int) -> list[str]:
    return [f"{STATES[i % len(STATES)]}-{i:05d}" for i in range(n)]


def _flush(engine: Any, tables: Any, stores: list[Any], facts: list[Any], records: list[Any]) -> None:
    """Rows straight to SQLite (JSON already text): seeding a million transactions should not take long."""
    with engine.begin() as conn:
        for table, rows in (("store", stores), ("metric_fact", facts), ("source_record", records)):
            if not rows:
                continue
            cols = list(rows[0])
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            conn.exec_driver_sql(sql, [tuple(_cell(r[c]) for c in cols) for r in rows])


def _cell(v: Any) -> Any:
    if isinstance(v, dict | list):
        return json.dumps(v)
    if isinstance(v, datetime):
        return v.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    return v


def main() -> None:
    configure("warning", "console", sys.stderr)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument(
        "--orders-per-day", type=int, default=12, help="orders a store takes a day (transactions)"
    )
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'state.db'}")
        init_schema(engine)
        org = Org.from_metadata(sleep=lambda _s: None, api_limit=10_000_000)
        t0 = time.perf_counter()
        seed(engine, org, a.accounts, a.orders_per_day, random.Random(a.seed))
        seeded = time.perf_counter() - t0
        session = make_session(60.0)
        session.mount(BASE, OrgAdapter(org))
        auth = ClientCredentials(BASE, ConnectedApp.consumer_key, SecretStr(ConnectedApp.consumer_secret))
        client = SalesforceClient(auth, session=session, sleep=lambda _s: None)
        cfg = qbr_pack.load(Path(__file__).resolve().parents[1] / "mappings")
        base_mb = peak_mb()
        print(f"seeded {a.accounts} stores in {seeded:.1f} s (state store and org: {base_mb:.0f} MB)")
        for label in ("first run (every pack rendered and uploaded)", "rerun (nothing changed)"):
            wall, cpu = time.perf_counter(), time.process_time()
            report = qbr_pack.run_packs(engine, client, cfg, NOW, f"bench-{label[:5]}", ApplyOptions())
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            packs = len(report.packs)
            print(
                f"{label}: {packs} packs ({report.count('uploaded')} uploaded, {report.count('unchanged')} "
                f"unchanged) in {wall:.1f} s wall, {cpu:.1f} s CPU: {cpu / packs:.3f} s CPU per account "
                f"(rendering {report.render_seconds / max(1, report.count('uploaded')):.3f} s a pack); "
                f"peak {peak_mb():.0f} MB"
            )
        size = sum(int(v.get("ContentSize") or 0) for v in org.records("ContentVersion")) / max(1, packs)
        ok = cpu / packs <= TARGET_SECONDS and peak_mb() < TARGET_MB
        print(f"PDF size {size / 1024:.0f} KB a pack; targets ≤ {TARGET_SECONDS} s an account, "
              f"< {TARGET_MB:.0f} MB: "
              + ("met" if ok else "NOT met"))  # fmt: skip


if __name__ == "__main__":
    main()
