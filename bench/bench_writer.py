"""Writer benchmark: API calls and wall time for 100 / 2,000 / 20,000 changed Accounts vs a naive writer.

The sandbox org runs in its own process, served over HTTPS with 100 ms of latency per call, so the
figures include TLS, JSON/CSV and the network stack, and this process's peak memory is the writer's.
Ours: `jobs.sync.run_job` (outbox, Collections ≤ 2,000 changed records, Bulk API 2.0 above) logging in
with JWT. Naive: simple-salesforce `sf.Account.upsert(...)` one record per call.

Run: `.venv/bin/python bench/bench_writer.py [--sizes 100,2000,20000] [--naive-max 2000] [--latency 0.1]`
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import resource
import sys
import tempfile
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.salesforce.auth import JwtBearer  # noqa: E402
from connectors.salesforce.client import SalesforceClient  # noqa: E402
from jobs.apply import ApplyOptions  # noqa: E402
from jobs.current import Reader  # noqa: E402
from jobs.sync import JobOptions, run_job  # noqa: E402
from mappings.context import AccountData  # noqa: E402
from mappings.desired import Desired, Managed  # noqa: E402
from state.engine import make_engine  # noqa: E402
from state.migrations import init_schema  # noqa: E402
from state.tables import StoreRow  # noqa: E402

NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)
PAGE = 2000  # SOQL page size
BATCH = 200  # Collections records per call
BULK_THRESHOLD = 2000
WRITE_KINDS = ("collections", "composite", "sobject", "bulk_create", "bulk_upload", "bulk_close")


# -- the org, in its own process -----------------------------------------------------------------
def serve_org(n: int, latency: float, certificate: str, workdir: str, conn: Connection) -> None:
    """Build an org with `n` store Accounts, serve it over HTTPS, report the URL, wait to be stopped."""
    from sandbox.salesforce import ConnectedApp, Faults, Org  # noqa: PLC0415
    from sandbox.server import serve  # noqa: PLC0415
    from sandbox.tls import TLSMaterial  # noqa: PLC0415

    org = Org.from_metadata(connected_app=ConnectedApp(certificate=certificate), page_size=PAGE)
    org.load("Account", [{"Name": f"Store {s}", "Store_Id__c": s, "BillingState": "NV"} for s in stores(n)])
    org.faults = Faults(latency=latency)
    server = serve(org, TLSMaterial.create(Path(workdir) / "tls"))
    conn.send((server.url, str(server.ca_path)))
    conn.recv()
    server.stop()


@dataclass
class OrgProcess:
    url: str
    ca: str
    proc: Any
    conn: Connection

    def stats(self) -> dict[str, int]:
        resp = requests.get(f"{self.url}/__sandbox/stats", verify=self.ca, timeout=60)
        calls: dict[str, int] = resp.json()["calls"]
        return calls

    def reset(self) -> None:
        requests.post(f"{self.url}/__sandbox/stats/reset", verify=self.ca, timeout=60)

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(timeout=30)


def start_org(n: int, latency: float, certificate: str, workdir: str) -> OrgProcess:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve_org, args=(n, latency, certificate, workdir, child), daemon=True)
    proc.start()
    url, ca = parent.recv()
    return OrgProcess(url, ca, proc, parent)


def stores(n: int) -> list[str]:
    return [f"NV-{i:05d}" for i in range(1, n + 1)]


# -- the job: every Account's health fields change between versions ------------------------------
@dataclass
class AccountsJob:
    version: int
    name: str = "bench_accounts"
    warnings: tuple[str, ...] = ()  # actions not carried out (jobs/job.py's MappingJob): none here

    @property
    def account_fields(self) -> frozenset[str]:
        return frozenset({"Health_Score__c", "Health_Band__c", "Health_Updated_At__c"})

    @property
    def streams(self) -> tuple[str, ...]:
        return ()

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> Mapping[str, Any]:
        return {}

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        return [
            Desired(
                "Account",
                "Store_Id__c",
                data.store_id,
                fields=values(data.store_id, self.version),
                touch={"Health_Updated_At__c": data.now},
                account_key=data.store_id,
            )
        ]

    def managed(self, now: datetime) -> Sequence[Managed]:
        return ()

    def finalize(
        self, accounts: Mapping[str, Any], desired: Sequence[Desired], now: datetime
    ) -> Sequence[Desired]:
        return ()


def values(store: str, version: int) -> dict[str, Any]:
    score = (zlib.crc32(store.encode()) + 7 * version) % 101
    return {
        "Health_Score__c": score,
        "Health_Band__c": "Green" if score >= 70 else "Yellow" if score >= 40 else "Red",
    }


# -- measurements --------------------------------------------------------------------------------
@dataclass
class Measure:
    label: str
    n: int
    calls: dict[str, int]
    seconds: float
    minimum: int | None = None
    extrapolated: bool = False

    @property
    def api_calls(self) -> int:
        return sum(v for k, v in self.calls.items() if k != "login")

    @property
    def writes(self) -> int:
        return sum(self.calls.get(k, 0) for k in WRITE_KINDS)


def theoretical_minimum(n: int, polls: int = 2) -> int:
    """Reads of every Account page plus the fewest writes: ceil(n/200) Collections calls, or one Bulk
    job (create + upload + close + the polls the org needs + successful results)."""
    reads = math.ceil(n / PAGE)
    writes = math.ceil(n / BATCH) if n <= BULK_THRESHOLD else 3 + polls + 1
    return reads + writes


def ours(
    org: OrgProcess, n: int, private_key: str, workdir: Path, version: int
) -> tuple[Measure, SalesforceClient]:
    engine = make_engine(f"sqlite:///{workdir / f'state-{n}.db'}")
    init_schema(engine)
    from sqlmodel import Session  # noqa: PLC0415

    with Session(engine) as s:
        for sid in stores(n):
            s.add(StoreRow(store_id=sid, name=sid, state="NV", source="bench"))
        s.commit()
    return run_ours(org, n, private_key, engine, version)


def run_ours(
    org: OrgProcess, n: int, private_key: str, engine: Any, version: int, label: str = "csm-sync"
) -> tuple[Measure, SalesforceClient]:
    client = SalesforceClient(
        JwtBearer(org.url, "csm-sync-sandbox", "integration@sandbox.local", SecretStr(private_key)),
        ca_bundle=org.ca,
        timeout=120.0,
    )
    opts = JobOptions(force=True, history_days=14, apply=ApplyOptions(bulk_threshold=BULK_THRESHOLD))
    org.reset()
    t = time.perf_counter()
    result = run_job(engine, client, AccountsJob(version), f"bench-{n}-{version}-{label}", NOW, opts)
    seconds = time.perf_counter() - t
    assert result.applied is not None and not result.partial, result.data
    return Measure(
        label, n, org.stats(), seconds, theoretical_minimum(n) if label == "csm-sync" else None
    ), client


def naive(org: OrgProcess, n: int, private_key: str, version: int) -> Measure:
    """One `sf.Account.upsert` per record: what a first integration usually does."""
    from simple_salesforce import Salesforce  # noqa: PLC0415

    session = requests.Session()
    session.verify = org.ca
    session.trust_env = False
    auth = JwtBearer(org.url, "csm-sync-sandbox", "integration@sandbox.local", SecretStr(private_key))
    token = auth.login(session, 60.0)
    sf = Salesforce(
        instance_url=token.instance_url, session_id=token.access_token.get_secret_value(), session=session
    )
    org.reset()
    t = time.perf_counter()
    for sid in stores(n):
        sf.Account.upsert(
            f"Store_Id__c/{sid}", {**values(sid, version), "Health_Updated_At__c": NOW.isoformat()}
        )
    return Measure("naive", n, org.stats(), time.perf_counter() - t)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,2000,20000")
    parser.add_argument(
        "--naive-max", type=int, default=2000, help="largest size measured naively; above it, extrapolated"
    )
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every call by the org")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    console = Console(width=160)  # the table is wide; keep it readable in logs and CI output

    import structlog  # noqa: PLC0415

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # warnings and errors only
    from sandbox.salesforce.jwt_keys import make_jwt_keys  # noqa: PLC0415

    keys = make_jwt_keys()
    rows: list[tuple[Measure, Measure | None, Measure, float]] = []
    per_call = None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in sizes:
            console.print(
                f"[bold]{n:,} changed Accounts[/bold] (org latency {args.latency * 1000:.0f} ms per call)"
            )
            org = start_org(n, args.latency, keys.certificate_pem, tmp)
            try:
                mine, _ = ours(org, n, keys.private_key_pem, work, version=1)
                console.print(
                    f"  csm-sync: {mine.api_calls} API calls ({mine.writes} writes) in {mine.seconds:.1f}s"
                )
                engine = make_engine(f"sqlite:///{work / f'state-{n}.db'}")
                noop, _ = run_ours(org, n, keys.private_key_pem, engine, version=1, label="no-op rerun")
                console.print(f"  no-op rerun: {noop.writes} write calls, {noop.api_calls} API calls")
                mem = peak_mb()
                if n <= args.naive_max:
                    base = naive(org, n, keys.private_key_pem, version=2)
                    per_call = base.seconds / max(1, base.api_calls)
                    console.print(f"  naive: {base.api_calls} API calls in {base.seconds:.1f}s")
                else:
                    assert per_call is not None, "measure the naive writer at a smaller size first"
                    base = Measure("naive", n, {"sobject": n}, n * per_call, extrapolated=True)
                    console.print(
                        f"  naive: extrapolated from the measured per-call time ({per_call * 1000:.0f} ms)"
                    )
                rows.append((mine, noop, base, mem))
            finally:
                org.stop()

    t = Table(
        title=f"Writer: API calls and wall time (HTTPS sandbox, {args.latency * 1000:.0f} ms latency a call)"
    )
    for col in (
        "changed",
        "path",
        "API calls",
        "minimum",
        "x min",
        "write calls",
        "wall s",
        "no-op writes",
        "naive calls",
        "naive s",
        "fewer calls",
        "faster",
        "peak RSS MB",
    ):
        t.add_column(col, justify="right")
    for mine, noop, base, mem in rows:
        assert mine.minimum is not None and noop is not None
        path = "Bulk 2.0" if mine.calls.get("bulk_create") else "Collections"
        star = "*" if base.extrapolated else ""
        t.add_row(
            f"{mine.n:,}",
            path,
            str(mine.api_calls),
            str(mine.minimum),
            f"{mine.api_calls / mine.minimum:.2f}",
            str(mine.writes),
            f"{mine.seconds:.1f}",
            str(noop.writes),
            f"{base.api_calls:,}{star}",
            f"{base.seconds:.0f}{star}",
            f"{base.api_calls / mine.api_calls:.0f}x",
            f"{base.seconds / mine.seconds:.0f}x{star}",
            f"{mem:.0f}",
        )
    console.print(t)
    if any(b.extrapolated for _, _, b, _ in rows):
        console.print(
            "* extrapolated: the naive writer was measured up to "
            f"{args.naive_max:,} records; larger sizes are n x its measured per-call time."
        )
    console.print(
        "API calls exclude the OAuth token request (not metered by Salesforce). Minimum: "
        "ceil(n/2000) query pages + ceil(n/200) Collections calls, or + one Bulk job "
        "(create, upload, close, 2 polls, results). Write calls: Collections calls, or a "
        "Bulk job's create, upload and close (its polls and result downloads are reads)."
    )
    for mine, _noop, _base, _ in rows:
        by_kind = ", ".join(f"{k} {v}" for k, v in mine.calls.items() if v and k != "login")
        console.print(f"  {mine.n:,}: {by_kind}")


if __name__ == "__main__":
    main()
