"""Mutation benchmark: ~1,000 mutated payloads across every connector, served by the source sandbox.

Record mutations (sizes, types, ranges, encodings: `sandbox/sources/faults.py` MUTATIONS) are spread
over every system's records (platform directory, analytics, orders, menus; Dutchie; Treez; Metrc;
billing; support; NPS), then whole bodies are damaged (truncated JSON, an HTML page, a body over the
response cap). It prints crashes (must be 0), silent losses (0), peak RSS (< 300 MB) and how much the
state database grew over a clean pull of the same data, and exits 1 when a bar is missed.

  crash         the pull raised, or a store failed with anything but a source's own error
  silent loss   a record a connector received that was neither stored, quarantined nor reported
                failed with its stream; or a record a system served that its connector never received
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import re
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import requests
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.base import Runtime
from connectors.catalog import build_sources, parse_sources
from jobs.pull import PullReport, pull
from sandbox.portfolio import Portfolio
from sandbox.server import RunningServer, serve
from sandbox.sources import SourcesApp, build_app
from sandbox.tls import TLSMaterial
from state.engine import make_engine
from state.migrations import init_schema

TODAY = date(2026, 6, 17)
SYSTEM_SOURCE = {s: s for s in ("platform", "dutchie", "treez", "metrc", "billing", "support", "nps")}
# A store error that is a source's own account of bad data (not a bug): these are expected.
_EXPECTED = re.compile(
    r"truncated or invalid JSON|not JSON|over the limit|passed the limit|declares .* bytes|HTTP \d{3}"
)


@dataclass(frozen=True)
class Sandbox:
    """Where the sandbox listens and the credentials the sources need (all plain, to cross processes)."""

    root: str
    ca: str
    urls: dict[str, str]
    env: dict[str, str]
    dutchie: dict[str, dict[str, str]]
    treez: dict[str, dict[str, str]]
    platform_client_id: str
    now: str


def describe(app: SourcesApp, server: RunningServer) -> Sandbox:
    creds = app.credentials
    return Sandbox(
        root=server.url,
        ca=str(server.ca_path),
        urls={s: app.url(server.url, s) for s in SYSTEM_SOURCE},
        env={
            "PLATFORM_SECRET": creds.platform_client_secret,
            "METRC_VENDOR": creds.metrc_vendor_key,
            "METRC_USER": creds.metrc_user_key,
            "BILLING_KEY": creds.billing_api_key,
            "SUPPORT_TOKEN": creds.support_token,
            "NPS_KEY": creds.nps_api_key,
        },
        dutchie={
            s: {"username": k.location_key, "password": k.integrator_key} for s, k in creds.dutchie.items()
        },
        treez={s: {"key": k.api_key, "client_id": k.client_id} for s, k in creds.treez.items()},
        platform_client_id=creds.platform_client_id,
        now=app.portfolio.now.isoformat(),
    )


def sources_config(box: Sandbox, tmp: Path, days: int) -> list[dict[str, Any]]:
    """Every connector kind against the sandbox: platform (with its portfolio feeds), two POS, Metrc, REST."""
    (tmp / "dutchie.json").write_text(json.dumps(box.dutchie))
    (tmp / "treez.json").write_text(json.dumps(box.treez))
    common = {"ca_bundle": box.ca, "retry_max_seconds": 5, "history_days": days, "concurrency": 4}
    raw: list[dict[str, Any]] = [
        {
            "name": "platform",
            "kind": "platform",
            "auth": {
                "kind": "oauth2_client_credentials",
                "client_id": box.platform_client_id,
                "client_secret_env": "PLATFORM_SECRET",
            },
            "options": {"portfolio_feeds": True},
        },
        {
            "name": "dutchie",
            "kind": "dutchie_pos",
            "auth": {"kind": "basic", "per_store_file": f"{tmp}/dutchie.json"},
        },
        {
            "name": "treez",
            "kind": "treez_pos",
            "auth": {"kind": "treez_token", "per_store_file": f"{tmp}/treez.json"},
        },
        {
            "name": "metrc",
            "kind": "metrc",
            "auth": {"kind": "basic", "username_env": "METRC_VENDOR", "password_env": "METRC_USER"},
        },
        {
            "name": "billing",
            "kind": "rest",
            "auth": {"key_env": "BILLING_KEY"},
            "options": {"spec": "billing", "scope": "all"},
        },
        {
            "name": "support",
            "kind": "rest",
            "auth": {"token_env": "SUPPORT_TOKEN"},
            "options": {"spec": "support", "scope": "all"},
        },
        {
            "name": "nps",
            "kind": "rest",
            "auth": {"key_env": "NPS_KEY"},
            "options": {"spec": "nps", "scope": "all"},
        },
    ]
    return [{**common, "base_url": box.urls[r["name"]], **r} for r in raw]


def control(box: Sandbox, method: str, path: str, body: Any = None) -> Any:
    resp = requests.request(method, f"{box.root}/__sandbox/{path}", json=body, verify=box.ca, timeout=30)
    resp.raise_for_status()
    return resp.json()


@dataclass
class PullRun:
    report: PullReport | None
    crash: str
    seconds: float
    db_bytes: int
    stats: dict[str, Any] = field(default_factory=dict)


def pull_into(box: Sandbox, raw: list[dict[str, Any]], db: Path, stores: set[str] | None = None) -> PullRun:
    """One pull of every source into `db`; what the sandbox served during it comes back in `stats`."""
    now = datetime.fromisoformat(box.now)
    engine = make_engine(f"sqlite:///{db}")
    init_schema(engine)
    control(box, "POST", "stats/reset")
    runtime = Runtime(env=box.env, now=lambda: now)
    sources = build_sources(parse_sources(raw, "bench", box.env), runtime)
    started = time.perf_counter()
    report: PullReport | None = None
    crash = ""
    try:
        report = pull(engine, sources, now, stores=stores)
    except Exception as exc:  # exactly what this benchmark is here to count
        crash = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        for source in sources:
            source.close()
    seconds = time.perf_counter() - started
    engine.dispose()
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return PullRun(report, crash, seconds, size, control(box, "GET", "stats"))


# Served once, received by every store carrying it: the platform's MSRP lists are cached per source.
SHARED = {"platform.msrp": "platform/brand_msrp"}


def received_raw(report: PullReport, source: str) -> int:
    """What a source's connectors received, one per raw item (a split record's parts counted once)."""
    return sum(
        t["received"] - t.get("parts", 0)
        for name, t in report.tally.items()
        if name.split("/")[0] == source and name not in SHARED.values()
    )


def served_raw(stats: dict[str, Any], system: str) -> int:
    by_endpoint: dict[str, int] = stats.get("served_by_endpoint", {})
    return sum(n for name, n in by_endpoint.items() if name.split(".")[0] == system and name not in SHARED)


def crashes(run: PullRun) -> list[str]:
    if run.crash:
        return [run.crash]
    assert run.report is not None
    bad = [f"{o.source} {o.store_id}: {o.error}" for o in run.report.failed if not _EXPECTED.search(o.error)]
    bad += [f"source {n}: {e}" for n, e in run.report.source_errors.items() if not _EXPECTED.search(e)]
    return [b[:300] for b in bad]


def losses(label: str, run: PullRun, exact: bool) -> dict[str, int]:
    """Silent losses per stream (the pull's own tally) and, with `exact`, per system served vs received."""
    if run.report is None:
        return {}
    out = {f"{label}: unaccounted {k}": v for k, v in run.report.unaccounted.items()}
    if exact:
        for system, source in SYSTEM_SOURCE.items():
            missing = served_raw(run.stats, system) - received_raw(run.report, source)
            if missing:
                out[f"{label}: served but not received: {system}"] = missing
    return out


def trial(
    box: Sandbox,
    tmp: Path,
    *,
    payloads: int,
    days: int,
    mutate_bytes: int = 1_000_000,
    stores: set[str] | None = None,
) -> dict[str, Any]:
    """A clean pull, a pull with ~`payloads` mutated records, then whole-body damage and its recovery.

    `stores` limits the per-store pulls (the portfolio feeds and the directory still list every store).
    """
    tmp.mkdir(parents=True, exist_ok=True)
    raw = sources_config(box, tmp, days)
    control(box, "POST", "faults", {"reset": True})
    clean = pull_into(box, raw, tmp / "clean.db", stores)
    served = sum(clean.stats.get("served_records", {}).values())
    # Mutated directory entries drop their stores' data from the pull, so a little more is asked for.
    rate = min(1.0, 1.1 * payloads / max(1, served))
    control(box, "POST", "faults", {"reset": True, "*": {"mutate_rate": rate, "mutate_bytes": mutate_bytes}})
    mutated = pull_into(box, raw, tmp / "mutated.db", stores)
    kinds: dict[str, int] = {}
    for per_kind in mutated.stats.get("mutated_records", {}).values():
        for kind, n in per_kind.items():
            kinds[kind] = kinds.get(kind, 0) + n
    # Whole bodies: a truncated body, an HTML page, a body over the response cap, for two stores each;
    # then the same pull with the damage gone must store everything.
    hit = sorted(stores or box.dutchie)[:2] + sorted(stores or box.treez)[-2:]
    damage = {"truncated_stores": hit[:2], "html_stores": hit[2:]}
    control(box, "POST", "faults", {"reset": True, "*": damage})
    raw_capped = [{**r, "limits": {"response_bytes": 200_000}} if r["name"] == "metrc" else r for r in raw]
    control(box, "POST", "faults", {"metrc": {"mutate_rate": 0.02, "mutate_kinds": ["huge_string"]}})
    damaged = pull_into(box, raw_capped, tmp / "damaged.db", stores)
    reported = len(damaged.report.failed) if damaged.report else 0
    control(box, "POST", "faults", {"reset": True})
    recovered = pull_into(box, raw, tmp / "damaged.db", stores)
    bodies = sum(damaged.stats.get("mutated_records", {}).get("metrc", {}).values()) + len(hit)
    all_crashes = crashes(clean) + crashes(mutated) + crashes(damaged) + crashes(recovered)
    # The recovery re-reads into the damaged pull's database: its unchanged snapshots are rightly not
    # parsed again, so only its tally is checked, not served against received.
    lost = {
        **losses("clean", clean, exact=True),
        **losses("mutated", mutated, exact=True),
        **losses("damaged", damaged, exact=False),
        **losses("recovered", recovered, exact=False),
    }
    quarantined = mutated.report.rejected if mutated.report else 0
    return {
        "served": served,
        "mutated": sum(kinds.values()),
        "kinds": dict(sorted(kinds.items())),
        "damaged_bodies": bodies,
        "damaged_reported_failed": reported,
        "recovered_ok": bool(recovered.report and recovered.report.ok),
        "quarantined": quarantined,
        "stored_clean": clean.report.records if clean.report else 0,
        "stored_mutated": mutated.report.records if mutated.report else 0,
        "crashes": all_crashes,
        "silent_losses": lost,
        "db_clean_bytes": clean.db_bytes,
        "db_mutated_bytes": mutated.db_bytes,
        "seconds": round(clean.seconds + mutated.seconds + damaged.seconds + recovered.seconds, 1),
    }


def _serve(ready: Any, tmp: str, stores: int, days: int, orders_per_day: float) -> None:
    """The sandbox in its own process: the pull process's peak RSS is the pull's own."""
    logging.disable(logging.WARNING)
    app = build_app(Portfolio(7, TODAY, stores=stores, days=days, orders_per_day=orders_per_day))
    server = serve(app, TLSMaterial.create(Path(tmp) / "tls"))
    ready.put(describe(app, server))
    while True:
        time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payloads", type=int, default=1000, help="mutated records to serve")
    parser.add_argument("--stores", type=int, default=40, help="the portfolio (40 hold every scenario)")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--orders-per-day", type=float, default=10.0)
    parser.add_argument("--mutate-bytes", type=int, default=1_000_000, help="size of a huge string")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-mutations-") as tmp:
        ready = ctx.Queue()
        server = ctx.Process(
            target=_serve, args=(ready, tmp, args.stores, args.days + 1, args.orders_per_day), daemon=True
        )
        server.start()
        try:
            box = ready.get(timeout=180)
            result = trial(
                box, Path(tmp) / "run", payloads=args.payloads, days=args.days, mutate_bytes=args.mutate_bytes
            )
        finally:
            server.terminate()
            server.join(timeout=10)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    growth = result["db_mutated_bytes"] - result["db_clean_bytes"]
    print(
        f"bench_mutations: {args.stores} stores, {args.days} days, every connector against the source "
        f"sandbox over HTTPS, SQLite state store"
    )
    print(
        f"records served {result['served']:,}; mutated {result['mutated']:,} "
        f"({', '.join(f'{k} {v}' for k, v in result['kinds'].items())}); "
        f"damaged bodies {result['damaged_bodies']} (truncated, HTML, over the response cap)"
    )
    print(
        f"stored {result['stored_mutated']:,} of {result['stored_clean']:,} clean; quarantined "
        f"{result['quarantined']:,}; damaged pulls reported failed for {result['damaged_reported_failed']} "
        f"store pulls; recovered clean: {result['recovered_ok']}"
    )
    print(f"crashes: {len(result['crashes'])}")
    for line in result["crashes"][:10]:
        print(f"  {line}")
    print(f"silent losses: {sum(result['silent_losses'].values())}")
    for name, n in result["silent_losses"].items():
        print(f"  {name}: {n}")
    print(f"peak RSS: {peak_mb:.0f} MB")
    print(
        f"state DB: clean {result['db_clean_bytes'] / 1e6:.1f} MB, "
        f"mutated {result['db_mutated_bytes'] / 1e6:.1f} MB "
        f"(growth {growth / 1e6:+.2f} MB, {growth / max(1, result['quarantined']):,.0f} bytes a quarantined "
        f"record); {result['seconds']} s"
    )
    ok = (
        not result["crashes"]
        and not result["silent_losses"]
        and peak_mb < 300
        and result["recovered_ok"]
        and growth < 20_000 * max(1, result["quarantined"])
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
