"""Full-cycle benchmark: every job once over N stores (pull, evaluate, plan, apply), one replica vs three.

The sandbox (Salesforce org and source APIs over HTTPS, seeded from one portfolio) runs in its own
process with latency added to every call: 50 ms per source call, 100 ms per Salesforce call. Each
replica is a process running the jobs in order as `csm-sync run` does on PostgreSQL: one firing per
job, its stores split into shards the replicas claim under leases. Every scenario starts from a fresh
sandbox and a fresh PostgreSQL schema, so both do the same work. Prints wall time per job and in
total, and each replica's peak RSS after every job (so the job that raised it shows). Three cycles: the
first firing, the next a minute later, and one an hour later on unchanged sources, whose Salesforce
writes must be zero (nothing written may depend on the wall clock). Each cycle is read against its
floor (`bench/floor.py`): every source's calls / concurrency x latency, the minimum Salesforce calls the
work needs x latency, the wall as a multiple of that floor and the calls made as a multiple of the
minimum; the warm cycle's calls also as a share of the org's daily API allocation on an hourly schedule.

Run: `.venv/bin/python bench/bench_cycle.py [--stores 10000] [--replicas 1,3] [--days 14]
[--image-max-age-hours 24]` (at 1, the +1 h cycle rechecks every image link conditionally: 304s)
(needs PostgreSQL at CSM_SYNC_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests
import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.floor import api_calls, cycle_floor, daily_share, image_checks, salesforce_minimum  # noqa: E402
from jobs.registry import job_names  # noqa: E402
from state.engine import make_engine  # noqa: E402

PG_URL = os.environ.get("CSM_SYNC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IMAGE_CHECKS = 32  # menu health's image checks in flight (the platform's default image_check_concurrency)
# The first firing of every job, then the next a minute later (incremental pull, warm caches), then one
# an hour later on the same source data: the clock moves, nothing else, so its writes must be zero.
CYCLES = ("cold", "warm", "hour")
CLOCK = {"cold": timedelta(0), "warm": timedelta(minutes=1), "hour": timedelta(hours=1)}
WRITE_KINDS = ("collections", "composite", "sobject", "bulk_create", "bulk_upload", "bulk_close")


# -- the sandbox, in its own process -------------------------------------------------------------
def serve_sandbox(workdir: str, args: dict[str, Any], state_url: str, conn: Connection) -> None:
    from sandbox.environment import SandboxEnvironment  # noqa: PLC0415

    logging.disable(logging.WARNING)
    env = SandboxEnvironment.start(
        Path(workdir),
        stores=args["stores"],
        days=args["days"],
        sf_latency=args["sf_latency"],
        source_latency_ms=args["source_latency_ms"],
        state_url=state_url,
        orders_per_day=args["orders_per_day"],
    )
    conn.send(
        {
            "config": str(env.config_path),
            "now": env.portfolio.now.isoformat(),
            "org": env.org_server.url,
            "sources": env.sources_server.url,
            "ca": str(env.tls.ca_path),
            "accounts": len(env.account_ids),
        }
    )
    conn.recv()
    env.stop()


def cpu_seconds(pid: int | str = "self", children: bool = False) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc (0.0 where there is none);
    with `children`, also those of its children that ended (PostgreSQL's backends, once reaped)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process on this machine (the state store's share of a cycle)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text_ = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text_:
            total += cpu_seconds(stat.parent.name, children=True)
    return total


def peak_mb() -> float:
    """This process's peak RSS so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- one replica ----------------------------------------------------------------------------------
def replica(info: dict[str, Any], args: dict[str, Any], name: str, gos: list[Any], conn: Connection) -> None:
    """Every job's firing in order, as each `csm-sync run` replica would, once per cycle; report each."""
    from worker.app import App  # noqa: PLC0415
    from worker.scheduler import default_body  # noqa: PLC0415
    from worker.settings import load_settings  # noqa: PLC0415
    from worker.shards import Firing, shard_options  # noqa: PLC0415

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    settings = load_settings(Path(info["config"]), {})
    sources = tuple(
        {**s, "concurrency": args["concurrency"]}
        | ({"options": {**s.get("options", {}), "image_max_age_hours": args["image_max_age"]}}
           if s.get("kind") == "platform" else {})
        for s in settings.sources
    )  # fmt: skip
    salesforce = settings.salesforce.model_copy(update={"reuse_reads_seconds": args["reuse_reads"]})
    scheduler = settings.scheduler.model_copy(
        update={"shards": args["shards"], "poll_seconds": 0.2, "shards_side_by_side": args["side_by_side"]}
    )
    settings = settings.model_copy(
        update={"sources": sources, "scheduler": scheduler, "salesforce": salesforce}
    )
    now = datetime.fromisoformat(info["now"])
    offset = [timedelta(0)]  # each cycle's clock: CLOCK[cycle] after the sandbox's now
    app = App(settings, environ={}, clock=lambda: now + offset[0])
    assert app.engine  # the schema, before the clock starts
    body_for = default_body(app)
    for cycle, go in zip(CYCLES, gos, strict=True):
        times: dict[str, float] = {}
        roles: dict[str, str] = {}
        peaks: dict[str, float] = {}
        sf_calls: dict[str, int] = {}
        go.wait()
        offset[0] = CLOCK[cycle]
        began, cpu_began = time.time(), cpu_seconds()
        profiler = cProfile.Profile() if args.get("profile") else None
        if profiler:
            profiler.enable()
        calls_before = org_calls(info)
        for job in args["jobs"]:
            traced = job == args.get("trace_memory")
            if traced:
                tracemalloc.start()
            started = time.perf_counter()
            firing = Firing(app, job, f"{cycle}-{job}", body_for(job), options=shard_options(app), owner=name)
            result = firing.run()
            if traced:
                print_allocations(f"{name} {cycle} {job}")
            times[job] = time.perf_counter() - started
            roles[job] = result.role
            peaks[job] = peak_mb()
            calls_after = org_calls(info)
            sf_calls[job], calls_before = calls_after - calls_before, calls_after
        if profiler:
            profiler.disable()
            profiler.dump_stats(Path(args["profile"]) / f"{name}-{cycle}.prof")
        conn.send(
            {
                "name": name,
                "cycle": cycle,
                "began": began,
                "ended": time.time(),
                "times": times,
                "roles": roles,
                "peaks": peaks,
                "sf_calls": sf_calls,
                "peak_mb": peak_mb(),
                "cpu": cpu_seconds() - cpu_began,
            }
        )


def org_calls(info: dict[str, Any]) -> int:
    """Salesforce calls the sandbox org has answered this cycle (every replica's: exact for one)."""
    stats = requests.get(f"{info['org']}/__sandbox/stats", verify=info["ca"], timeout=60).json()
    return sum(int(n) for n in stats["calls"].values())


def print_allocations(what: str, top: int = 12) -> None:
    """What the traced job still holds at its end, by source line, and its traced peak (`--trace-memory`)."""
    _, peak = tracemalloc.get_traced_memory()
    held = tracemalloc.take_snapshot().statistics("lineno")
    tracemalloc.stop()
    total = sum(st.size for st in held)
    mb = 2**20
    print(f"\n{what}: traced peak {peak / mb:.1f} MB, held at its end {total / mb:.1f} MB", file=sys.stderr)
    for st in held[:top]:
        print(f"  {st.size / mb:8.1f} MB {st.count:>9} blocks  {st.traceback[0]}", file=sys.stderr)


# -- one scenario ---------------------------------------------------------------------------------
def fresh_schema() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = make_engine(PG_URL)
    with engine.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return schema, url.render_as_string(hide_password=False)


def drop_schema(schema: str) -> None:
    engine = make_engine(PG_URL)
    with engine.begin() as c:
        c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def scenario(replicas: int, args: dict[str, Any]) -> dict[str, Any]:
    """A fresh sandbox and schema; the cold cycle (first pull, empty Salesforce), the warm one, an hour on."""
    ctx = mp.get_context("spawn")
    schema, url = fresh_schema()
    cycles: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cycle-") as tmp:
        parent, child = ctx.Pipe()
        sandbox = ctx.Process(target=serve_sandbox, args=(tmp, args, url, child), daemon=True)
        sandbox.start()
        try:
            info = parent.recv()
            gos = [ctx.Event() for _ in CYCLES]
            pipes, procs = [], []
            for i in range(replicas):
                p_conn, c_conn = ctx.Pipe()
                proc = ctx.Process(target=replica, args=(info, args, f"replica-{i + 1}", gos, c_conn))
                proc.start()
                pipes.append(p_conn)
                procs.append(proc)
            time.sleep(5)  # let every replica import and open the state store
            for cycle, go in zip(CYCLES, gos, strict=True):
                for server in (info["org"], info["sources"]):
                    requests.post(f"{server}/__sandbox/stats/reset", verify=info["ca"], timeout=60)
                cpu_began = cpu_seconds(sandbox.pid or 0), postgres_cpu_seconds()
                go.set()
                reports = [receive(p, proc) for p, proc in zip(pipes, procs, strict=True)]
                wall = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
                sf = requests.get(f"{info['org']}/__sandbox/stats", verify=info["ca"], timeout=60).json()
                src = requests.get(f"{info['sources']}/__sandbox/stats", verify=info["ca"], timeout=60).json()
                cpu = {
                    "sandbox": cpu_seconds(sandbox.pid or 0) - cpu_began[0],
                    "postgres": postgres_cpu_seconds() - cpu_began[1],
                }
                cycles[cycle] = {
                    "wall": wall, "reports": reports, "calls": sf["calls"], "volume": sf.get("volume", {}),
                    "source_calls": src, "cpu": cpu,
                }  # fmt: skip
                # Each cycle's raw figures as soon as it ends: a long run cut short still tells something.
                raw = {"replicas": replicas, "cycle": cycle, **cycles[cycle]}
                print(json.dumps(raw, default=str), flush=True)
            for proc in procs:
                proc.join(timeout=60)
            ledger = run_ledger(url)
        finally:
            parent.send("stop")
            sandbox.join(timeout=60)
            drop_schema(schema)
    for cycle in CYCLES:
        cycles[cycle]["ledger"] = {job: ledger.get(f"{cycle}-{job}", {}) for job in args["jobs"]}
    return {"replicas": replicas, "cycles": cycles, "accounts": info["accounts"]}


def receive(conn: Connection, proc: Any) -> Any:
    """A replica's report; a replica that died instead stops the benchmark rather than hanging it."""
    while not conn.poll(1.0):
        if not proc.is_alive():
            raise SystemExit(f"bench_cycle: {proc.name} exited with code {proc.exitcode} before reporting")
    return conn.recv()


def run_ledger(url: str) -> dict[str, dict[str, Any]]:
    """Each firing's recorded run, by fire key (`<cycle>-<job>`)."""
    engine = make_engine(url)
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT f.fire_key, r.status, r.exit_code, r.counts, r.started_at, r.finished_at "
                "FROM run r JOIN job_firing f ON f.run_id = r.id"
            )
        ).all()
    engine.dispose()
    out = {}
    for key, status, code, counts, started, finished in rows:
        out[key] = {"status": status, "exit": code, "counts": counts,
                    "seconds": (finished - started).total_seconds() if finished else None}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", type=int, default=10_000)
    parser.add_argument("--replicas", default="1,3")
    parser.add_argument("--days", type=int, default=14, help="history the sources hold and the pull reads")
    parser.add_argument("--orders-per-day", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16, help="pull concurrency per source")
    parser.add_argument("--source-latency-ms", type=int, default=50)
    parser.add_argument("--sf-latency", type=float, default=0.1, help="seconds added to each Salesforce call")
    parser.add_argument("--shards", type=int, default=0, help="shards per firing (0: one per 250 stores)")
    parser.add_argument("--side-by-side", type=int, default=1, help="sync shards run at once")
    parser.add_argument("--jobs", default=",".join(job_names()))
    parser.add_argument("--licences", type=int, default=50, help="Salesforce licences (API allocation)")
    parser.add_argument("--sf-parallel", type=int, default=1, help="Salesforce calls made at once")
    parser.add_argument(
        "--reuse-reads", type=float, default=600.0, help="[salesforce] reuse_reads_seconds (0: off)"
    )
    parser.add_argument(
        "--trace-memory", default="", metavar="JOB", help="print what JOB allocates and still holds (slow)"
    )
    parser.add_argument("--profile", default="", help="folder for each replica's cProfile stats per cycle")
    parser.add_argument(
        "--image-max-age-hours", type=float, default=24.0,
        help="the platform's image_max_age_hours; 1 makes the +1 h cycle recheck every link conditionally",
    )  # fmt: skip
    a = parser.parse_args()
    if a.profile:
        Path(a.profile).mkdir(parents=True, exist_ok=True)
    args = {
        "stores": a.stores, "days": a.days, "orders_per_day": a.orders_per_day, "concurrency": a.concurrency,
        "source_latency_ms": a.source_latency_ms, "sf_latency": a.sf_latency, "shards": a.shards,
        "jobs": a.jobs.split(","), "profile": a.profile, "side_by_side": a.side_by_side,
        "reuse_reads": a.reuse_reads, "trace_memory": a.trace_memory, "image_max_age": a.image_max_age_hours,
    }  # fmt: skip
    results = [scenario(int(n), args) for n in a.replicas.split(",")]

    print(
        f"bench_cycle: {a.stores} stores, {a.days} days of history, every job once per cycle "
        f"({', '.join(args['jobs'])}); sources +{a.source_latency_ms} ms/call, concurrency {a.concurrency} "
        f"per source, Salesforce +{a.sf_latency * 1000:.0f} ms/call, {a.side_by_side} shard(s) side by side, "
        f"image links rechecked after {a.image_max_age_hours:g} h; "
        f"PostgreSQL state; sandbox in its own process; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    for cycle in CYCLES:
        report_cycle(cycle, results, args, a)
    print(
        f"targets for one replica ({a.stores} stores): warm and cold wall <= 2x the cycle's floor, "
        "peak RSS < 300 MB, Salesforce calls <= 1.05x the minimum for the work"
    )


def report_cycle(cycle: str, results: list[dict[str, Any]], args: dict[str, Any], a: Any) -> None:
    """One cycle's table (seconds per job), totals, calls and the bound the sources' latency sets."""
    runs = [r["cycles"][cycle] for r in results]
    what = {"cold": "first pull, empty org", "warm": "next firing, clock +1 min",
            "hour": "clock +1 h, sources unchanged: writes must be 0"}[cycle]  # fmt: skip
    print(f"\n== {cycle} cycle ({what})")
    head = " replica(s) s, peak MB, SF calls"
    print(f"{'job':<16}" + "".join(f"{str(r['replicas']) + head:>42}" for r in results))
    for job in args["jobs"]:
        cells = []
        for run in runs:
            ledger = run["ledger"].get(job, {})
            status = f" {ledger.get('status', '?')}" if ledger.get("status") != "ok" else ""
            seconds = max(rep["times"].get(job, 0.0) for rep in run["reports"])
            peak = max(rep["peaks"].get(job, 0.0) for rep in run["reports"])  # the highest replica
            # Each replica counts every replica's calls during its job: summed only when there is one.
            calls = max(rep.get("sf_calls", {}).get(job, 0) for rep in run["reports"])
            cells.append(f"{seconds:>14.1f}{status:>6}{peak:>12.0f}{calls:>10}")
        print(f"{job:<16}" + "".join(cells))
    print(f"{'total wall':<16}" + "".join(f"{run['wall']:>20.1f}" for run in runs))
    print(f"{'peak RSS MB':<16}" + "".join(
        f"{max(rep['peak_mb'] for rep in run['reports']):>14.0f} (max)" for run in runs))  # fmt: skip
    for r, run in zip(results, runs, strict=True):
        calls = run["calls"]
        api = sum(v for k, v in calls.items() if k != "login")
        writes = sum(calls.get(k, 0) for k in WRITE_KINDS)
        pull_counts = run["ledger"].get("pull", {}).get("counts", {})
        pulled, writer = pull_counts.get("records"), pull_counts.get("writer", {})
        shards = {j: v.get("counts", {}).get("shards", {}).get("total") for j, v in run["ledger"].items()}
        by_source = run["source_calls"]["requests"]
        print(
            f"{r['replicas']} replica(s): {api} Salesforce API calls ({writes} writes), "
            f"{run['source_calls']['total']} source calls {json.dumps(by_source)}, "
            f"{pulled} source records (written {writer.get('written')}, unchanged {writer.get('unchanged')}, "
            f"{writer.get('groups')} transactions, {writer.get('seconds', 0):.1f} s writing), "
            f"{r['accounts']} Accounts; per-replica peak RSS "
            + ", ".join(f"{rep['peak_mb']:.0f} MB" for rep in run["reports"])
            + f"; shards per job {json.dumps(shards)}"
        )
        print(
            "   CPU seconds: replicas "
            + " + ".join(f"{rep['cpu']:.1f}" for rep in run["reports"])
            + f", sandbox (every source API and the org) {run['cpu']['sandbox']:.1f}, "
            f"PostgreSQL {run['cpu']['postgres']:.1f}; {os.cpu_count()} CPUs x {run['wall']:.1f} s wall = "
            f"{(os.cpu_count() or 1) * run['wall']:.1f} CPU seconds available"
        )

        print_floor(cycle, run, r["replicas"], a)
    if len(runs) > 1:
        base = runs[0]["wall"]
        print(", ".join(f"{r['replicas']} replicas: {base / run['wall']:.2f}x" for r, run in
                        zip(results[1:], runs[1:], strict=True)) + " vs 1")  # fmt: skip


def print_floor(cycle: str, run: dict[str, Any], replicas: int, a: Any) -> None:
    """Every source's floor, the Salesforce minimum for the work, the cycle's floor and the ratio to it."""
    by_source: dict[str, int] = run["source_calls"]["requests"]
    in_flight = {"*": a.concurrency, "images": IMAGE_CHECKS}
    minimum = salesforce_minimum(run["calls"], run["volume"], replicas)
    floor = cycle_floor(
        by_source, in_flight, a.source_latency_ms / 1000, minimum, a.sf_latency, a.sf_parallel, replicas
    )
    per_source = ", ".join(
        f"{name} {n} / {in_flight.get(name, a.concurrency)} = "
        f"{n / in_flight.get(name, a.concurrency) / replicas * a.source_latency_ms / 1000:.1f} s"
        for name, n in sorted(by_source.items(), key=lambda kv: -kv[1])
    )
    made = api_calls(run["calls"])
    m = minimum
    read, written = run["volume"].get("read", {}), run["volume"].get("written", {})
    ms = a.source_latency_ms
    print(f"   source floors (calls / in flight x {ms} ms / {replicas} replica(s)): {per_source}")
    images = image_checks(run["source_calls"].get("statuses", {}).get("images", {}))
    print(
        f"   image checks: {images.total} = {images.unchanged} answered 304 (conditional, unchanged, "
        f"no body) + {images.full} full; each is a round trip in the images floor"
    )
    print(
        f"   Salesforce: {made} calls made ({run['calls'].get('login', 0)} logins), minimum for the work "
        f"{m.total} ({m.logins} login(s), {m.queries} query pages for {sum(read.values())} records read, "
        f"{m.writes} write calls for {sum(written.values())} records written, {m.describes} describes, "
        f"{m.other} other) = {made / max(1, m.total):.2f}x the minimum; "
        f"read {json.dumps(read)}, written {json.dumps(written)}"
    )
    sf_ms = a.sf_latency * 1000
    print(
        f"   floor: pull {floor.pull:.1f} s ({floor.slowest}) + Salesforce {floor.salesforce:.1f} s "
        f"({m.total} calls x {sf_ms:.0f} ms / {a.sf_parallel} in flight) = {floor.total:.1f} s; "
        f"measured {run['wall']:.1f} s = {run['wall'] / max(floor.total, 1e-9):.2f}x the floor"
    )
    if cycle == "warm":
        billable = made - run["calls"].get("login", 0)
        print(
            f"   hourly schedule: {billable} API calls a cycle x 24 = {billable * 24} a day = "
            f"{daily_share(billable, 24, a.licences):.1%} of an Enterprise org's daily allocation "
            f"(100,000 + 1,000 x {a.licences} licences); at the minimum {m.total - m.logins} a cycle: "
            f"{daily_share(m.total - m.logins, 24, a.licences):.1%}"
        )


if __name__ == "__main__":
    main()
