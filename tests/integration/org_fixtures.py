"""Reusable sandbox-org fixtures: an in-process org and client, an HTTPS org with JWT login, a synthetic job.

Import the fixtures you need from a conftest (`from tests.integration.org_fixtures import sf_org, ...`).
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from connectors.salesforce.auth import ClientCredentials, JwtBearer
from connectors.salesforce.client import SalesforceClient, make_session
from jobs.apply import ApplyOptions
from jobs.current import Reader
from jobs.sync import JobOptions, JobResult, run_job
from mappings import records
from mappings.context import AccountData
from mappings.desired import Desired, Guard, Managed
from mappings.lifecycle import CLOSED_BY_PERSON, TaskTemplate, task
from sandbox.salesforce import INTEGRATION_USERNAME, ConnectedApp, Faults, Org, OrgAdapter
from sandbox.salesforce.jwt_keys import JwtKeys, make_jwt_keys
from sandbox.server import RunningServer, serve
from sandbox.tls import TLSMaterial
from state.engine import make_engine
from state.migrations import init_schema
from state.tables import StoreRow

NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # a Wednesday
BASE = "https://sandbox.local"
CONSUMER_KEY = ConnectedApp.consumer_key
CONSUMER_SECRET = ConnectedApp.consumer_secret


def no_sleep(_seconds: float) -> None:
    return None


# -- clients -----------------------------------------------------------------------------------------
def client_for(org: Org, *, sleep: Callable[[float], None] = no_sleep, **options: Any) -> SalesforceClient:
    """A SalesforceClient answered in-process by `org` (client-credentials login, no socket)."""
    session = make_session(30.0)
    session.mount(BASE, OrgAdapter(org))
    auth = ClientCredentials(BASE, CONSUMER_KEY, SecretStr(CONSUMER_SECRET))
    return SalesforceClient(auth, session=session, sleep=sleep, **options)


def jwt_client(
    url: str, ca_path: Path | str, private_key_pem: str, *, sleep: Callable[[float], None] = no_sleep,
    **options: Any,
) -> SalesforceClient:  # fmt: skip
    """A SalesforceClient logging in with JWT bearer over HTTPS, trusting only the sandbox CA."""
    auth = JwtBearer(url, CONSUMER_KEY, INTEGRATION_USERNAME, SecretStr(private_key_pem))
    return SalesforceClient(auth, ca_bundle=str(ca_path), sleep=sleep, **options)


@dataclass
class ServedOrg:
    """An org served over HTTPS on 127.0.0.1, with the connected app's certificate installed."""

    org: Org
    server: RunningServer
    keys: JwtKeys

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ca_path(self) -> Path:
        return self.server.ca_path

    def client(self, **options: Any) -> SalesforceClient:
        return jwt_client(self.url, self.ca_path, self.keys.private_key_pem, **options)


def new_org(keys: JwtKeys | None = None, **options: Any) -> Org:
    app = ConnectedApp(certificate=keys.certificate_pem) if keys else ConnectedApp()
    options.setdefault("sleep", no_sleep)
    return Org.from_metadata(connected_app=app, **options)


def serve_org(org: Org, tls: TLSMaterial, keys: JwtKeys) -> ServedOrg:
    return ServedOrg(org, serve(org, tls), keys)


# -- the state store ---------------------------------------------------------------------------------
def state_engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    return engine


def seed_stores(engine: Engine, org: Org, n: int, prefix: str = "NV") -> list[str]:
    """`n` stores in the directory and their Accounts in the org (the join is Store_Id__c)."""
    stores = [f"{prefix}-{i:05d}" for i in range(1, n + 1)]
    with Session(engine) as s:
        for sid in stores:
            s.add(StoreRow(store_id=sid, name=f"Store {sid}", state=prefix, source="test"))
        s.commit()
    org.load(
        "Account", [{"Name": f"Store {sid}", "Store_Id__c": sid, "BillingState": prefix} for sid in stores]
    )
    return stores


# -- a synthetic mapping job -------------------------------------------------------------------------
TEMPLATE = TaskTemplate(
    subject="Menu sync down at {store}", description="Call the GM of {store}.", due_in_days=2
)
KEY_PREFIX = "syn:"


@dataclass
class SyntheticJob:
    """Desires, per store: Account health fields, and for flagged stores a Risk_Flag__c and a Task.

    Change `version` to change every score; `flagged` (None: all) picks the stores whose condition
    holds, so dropping one resolves its flag and completes its Task; `bad` stores get a Severity the
    restricted picklist refuses; `period` is part of the keys (a new occurrence is a new record).
    """

    name: str = "synthetic"
    version: int = 1
    flagged: frozenset[str] | None = None
    bad: frozenset[str] = frozenset()
    period: str = "2026-W10"
    priority: str = "Normal"
    severity: str = "High"
    history_days: int = 14
    seen: list[str] = field(default_factory=list)
    warnings: tuple[str, ...] = ()  # actions not carried out (jobs/job.py's MappingJob): none here

    @property
    def account_fields(self) -> frozenset[str]:
        return frozenset({"Health_Score__c", "Health_Band__c", "Health_Updated_At__c"})

    @property
    def streams(self) -> tuple[str, ...]:
        return ()

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> Mapping[str, Mapping[str, Any]]:
        return {}

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        store = data.store_id
        self.seen.append(store)
        score = score_of(store, self.version)
        out = [
            Desired(
                "Account",
                "Store_Id__c",
                store,
                fields={"Health_Score__c": score, "Health_Band__c": band_of(score)},
                touch={"Health_Updated_At__c": data.now},
                account_key=store,
            )
        ]
        if self.flagged is None or store in self.flagged:
            key = f"{KEY_PREFIX}{store}:menu_sync:{self.period}"
            out.append(
                records.flag(
                    key,
                    account_id=data.account.get("Id"),
                    rule="syn_menu_sync",
                    name=f"Menu sync failure {store}",
                    severity="Severe" if store in self.bad else self.severity,
                    evidence=f"online orders down at {store} (v{self.version})",
                    category="menu",
                    now=data.now,
                    store_id=store,
                )
            )
            out.append(
                task(
                    key,
                    data.account,
                    TEMPLATE,
                    {"store": store},
                    data.today,
                    priority=self.priority,
                    store_id=store,
                )  # fmt: skip
            )
        return out

    @property
    def read_by(self) -> Mapping[str, str]:
        return {}

    def managed(self, now: datetime) -> Sequence[Managed]:
        today = now.date()
        return (
            Managed(
                "Risk_Flag__c",
                "Sync_Key__c",
                is_open={"Status__c": "Open", "Rule__c": "syn_menu_sync"},
                close_fields={"Status__c": "Resolved", "Resolved_At__c": now},
                guards=(Guard("Snoozed_Until__c", "ge", today, why="snoozed by a CSM"),),
                key_prefix=KEY_PREFIX,
                parent_field="Account__c",
            ),
            Managed(
                "Task",
                "Sync_Key__c",
                is_open={"IsClosed": False},
                close_fields={
                    "Status": "Completed",
                    "Description": f"Closed automatically: condition cleared on {today.isoformat()}.",
                },
                guards=(CLOSED_BY_PERSON,),
                key_prefix=KEY_PREFIX,
                parent_field="WhatId",
            ),
        )

    def finalize(
        self, accounts: Mapping[str, Mapping[str, Any]], desired: Sequence[Desired], now: datetime
    ) -> Sequence[Desired]:
        return ()


def score_of(store: str, version: int) -> int:
    return (zlib.crc32(store.encode()) + 7 * version) % 101


def band_of(score: int) -> str:
    return "Green" if score >= 70 else "Yellow" if score >= 40 else "Red"


def job_options(**apply: Any) -> JobOptions:
    apply.setdefault("sleep", no_sleep)
    return JobOptions(force=True, history_days=14, apply=ApplyOptions(**apply))


def sync(
    engine: Engine, client: SalesforceClient, job: SyntheticJob, *, now: datetime = NOW, run_id: str = "",
    **apply: Any,
) -> JobResult:  # fmt: skip
    """One run of `job` as the runner would do it (force: tests change every record on purpose)."""
    return run_job(engine, client, job, run_id or uuid.uuid4().hex[:16], now, job_options(**apply))


# -- comparing end states ----------------------------------------------------------------------------
SNAPSHOT_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Account": ("Store_Id__c", ("Health_Score__c", "Health_Band__c", "Health_Updated_At__c")),
    "Risk_Flag__c": (
        "Sync_Key__c",
        (
            "Name",
            "Rule__c",
            "Severity__c",
            "Status__c",
            "Evidence__c",
            "Opened_At__c",
            "Resolved_At__c",
            "Account__c",
        ),
    ),  # fmt: skip
    "Task": (
        "Sync_Key__c",
        ("Subject", "Description", "Status", "Priority", "ActivityDate", "WhatId", "OwnerId"),
    ),
    "Sync_Run__c": ("Run_Key__c", ("Job__c", "Status__c")),
}


def snapshot(org: Org, objects: Sequence[str] = ("Account", "Risk_Flag__c", "Task")) -> dict[str, Any]:
    """Every record of `objects` by external key, ids of parents replaced by their Store_Id__c.

    Two orgs that ran the same plans compare equal whatever ids they minted; a duplicate key would
    show as a count mismatch (`counts`), a lost record as a missing key.
    """
    stores = {a["Id"]: a["Store_Id__c"] for a in org.records("Account")}
    users = {u["Id"]: u["Username"] for u in org.records("User")}
    out: dict[str, Any] = {"counts": {}}
    for sobject in objects:
        key_field, fields = SNAPSHOT_FIELDS[sobject]
        rows = org.records(sobject)
        out["counts"][sobject] = len(rows)
        table: dict[str, dict[str, Any]] = {}
        for rec in rows:
            if not rec.get(key_field):
                continue
            table[str(rec[key_field])] = {
                f: stores.get(rec.get(f), users.get(rec.get(f), rec.get(f))) for f in fields
            }
        out[sobject] = table
    return out


def write_calls(org: Org) -> int:
    """Write calls the org received (Collections, Bulk lifecycle, single-record sObject writes)."""
    stats = org.stats.snapshot()
    return sum(stats[k] for k in ("collections", "composite", "bulk_create", "bulk_upload", "bulk_close",
                                  "sobject"))  # fmt: skip


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture
def sf_org() -> Org:
    """An in-process org with no faults and sleeps that return at once."""
    return new_org(clock=lambda: NOW)


@pytest.fixture
def sf_client(sf_org: Org) -> SalesforceClient:
    return client_for(sf_org)


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    return TLSMaterial.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def jwt_keys() -> JwtKeys:
    return make_jwt_keys()


@pytest.fixture
def served_org(tls_material: TLSMaterial, jwt_keys: JwtKeys) -> Iterator[ServedOrg]:
    """An org over HTTPS on 127.0.0.1 that accepts the test's JWT; `.client()` logs in to it."""
    served = serve_org(new_org(jwt_keys), tls_material, jwt_keys)
    try:
        yield served
    finally:
        served.server.stop()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """A fresh SQLite state store (file-backed, WAL) with every table."""
    return state_engine(tmp_path / "state.db")


__all__ = [
    "BASE",
    "NOW",
    "Faults",
    "ServedOrg",
    "SyntheticJob",
    "band_of",
    "client_for",
    "engine",
    "job_options",
    "jwt_client",
    "jwt_keys",
    "new_org",
    "no_sleep",
    "score_of",
    "seed_stores",
    "serve_org",
    "served_org",
    "sf_client",
    "sf_org",
    "snapshot",
    "state_engine",
    "sync",
    "tls_material",
    "write_calls",
]
