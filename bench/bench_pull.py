"""Pull benchmark: 1,000 stores' POS data from the source sandbox (50 ms per call) at concurrency 1 vs 16."""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.base import Runtime, StoreRef
from connectors.catalog import build_sources, parse_sources
from connectors.memory import MemorySource
from jobs.pull import pull
from sandbox.portfolio import Portfolio
from sandbox.server import serve
from sandbox.sources import build_app
from sandbox.tls import TLSMaterial
from state.engine import make_engine
from state.migrations import init_schema

TODAY = date(2026, 6, 17)


def _serve(ready: Any, tmp: str, stores: int, days: int, orders_per_day: float, latency_ms: float) -> None:
    """The sandbox in its own process, so its work does not share the client's interpreter lock."""
    logging.disable(logging.WARNING)
    app = build_app(Portfolio(7, TODAY, stores=stores, days=days, orders_per_day=orders_per_day))
    app.set_faults("*", latency_ms=latency_ms)
    creds = app.credentials
    secrets = Path(tmp)
    dutchie = {
        sid: {"username": k.location_key, "password": k.integrator_key} for sid, k in creds.dutchie.items()
    }
    (secrets / "dutchie.json").write_text(json.dumps(dutchie))
    (secrets / "treez.json").write_text(
        json.dumps({s: {"key": k.api_key, "client_id": k.client_id} for s, k in creds.treez.items()})
    )
    server = serve(app, TLSMaterial.create(secrets))
    ready.put(
        {
            "url": server.url,
            "ca": str(server.ca_path),
            "dutchie": app.url(server.url, "dutchie"),
            "treez": app.url(server.url, "treez"),
            "platform": app.url(server.url, "platform"),
            "platform_id": creds.platform_client_id,
            "platform_secret": creds.platform_client_secret,
            "now": app.portfolio.now.isoformat(),
        }
    )
    while True:
        time.sleep(3600)


def _phase(info: dict[str, Any], tmp: str, concurrency: int, limit: int, days: int) -> dict[str, Any]:
    """One timed pull in a fresh process (so peak memory is this phase's own)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    now = datetime.fromisoformat(info["now"])
    env = {"PLATFORM_SECRET": info["platform_secret"]}
    common = {"ca_bundle": info["ca"], "concurrency": concurrency, "history_days": days}
    raw = [
        {
            "name": "platform",
            "kind": "platform",
            "base_url": info["platform"],
            "auth": {
                "kind": "oauth2_client_credentials",
                "client_id": info["platform_id"],
                "client_secret_env": "PLATFORM_SECRET",
            },
        },
        {
            "name": "dutchie",
            "kind": "dutchie_pos",
            "base_url": info["dutchie"],
            "auth": {"kind": "basic", "per_store_file": f"{tmp}/dutchie.json"},
        },
        {
            "name": "treez",
            "kind": "treez_pos",
            "base_url": info["treez"],
            "auth": {"kind": "treez_token", "per_store_file": f"{tmp}/treez.json"},
        },
    ]
    runtime = Runtime(env=env, now=lambda: now)
    platform, *pos = build_sources(parse_sources([{**common, **r} for r in raw], "bench", env), runtime)
    db = Path(tmp) / f"bench-{concurrency}.db"
    engine = make_engine(f"sqlite:///{db}")
    init_schema(engine)
    # The directory from the platform API; the timed part is the POS pull of every store.
    listed = [s for s in platform.stores([]) if isinstance(s, StoreRef)]
    chosen = listed[:limit]
    pull(engine, [MemorySource("platform", {}, directory=chosen)], now)
    started = time.perf_counter()
    report = pull(engine, pos, now)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "concurrency": concurrency,
        "stores": len(chosen),
        "records": report.records,
        "rejected": report.rejected,
        "failed": len(report.failed),
        "wall": wall,
        "peak_mb": peak_mb,
        "db_mb": db.stat().st_size / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=100, help="stores at concurrency 1 (then extrapolated)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--days", type=int, default=3, help="history pulled per store")
    parser.add_argument("--orders-per-day", type=float, default=30.0)
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-pull-") as tmp:
        ready = ctx.Queue()
        server = ctx.Process(
            target=_serve,
            args=(ready, tmp, args.stores, args.days + 1, args.orders_per_day, args.latency_ms),
            daemon=True,
        )
        server.start()
        try:
            info = ready.get(timeout=120)
            results = []
            for concurrency, limit in ((1, args.sample), (args.concurrency, args.stores)):
                with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
                    results.append(pool.submit(_phase, info, tmp, concurrency, limit, args.days).result())
        finally:
            server.terminate()
            server.join(timeout=10)

    print(
        f"bench_pull: POS pull (Dutchie + Treez shapes) from the source sandbox over HTTPS, "
        f"{args.latency_ms:g} ms added per call, {args.days} days of history, SQLite state store"
    )
    print(
        f"{'concurrency':>11} {'stores':>6} {'records':>8} {'failed':>6} {'wall s':>8} {'records/s':>9} "
        f"{'stores/s':>8} {'peak MB':>8}"
    )
    for r in results:
        print(
            f"{r['concurrency']:>11} {r['stores']:>6} {r['records']:>8} {r['failed']:>6} {r['wall']:>8.1f} "
            f"{r['records'] / r['wall']:>9.0f} {r['stores'] / r['wall']:>8.2f} {r['peak_mb']:>8.0f}"
        )
    serial, parallel = results
    per_store = serial["wall"] / max(1, serial["stores"])
    estimate = per_store * parallel["stores"]
    print(
        f"concurrency 1 was measured on {serial['stores']} stores and extrapolated: "
        f"{estimate:.0f} s for {parallel['stores']} stores; concurrency {parallel['concurrency']} took "
        f"{parallel['wall']:.0f} s ({estimate / parallel['wall']:.1f}x faster)"
    )
    if serial["failed"] or parallel["failed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
