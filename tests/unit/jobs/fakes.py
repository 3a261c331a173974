"""An in-memory Writer: upserts by key with per-record errors, locks, Bulk jobs and kill switches."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from connectors.salesforce.bulk import NOT_PROCESSED
from jobs.plan import Close, Create, Plan, Update
from state.engine import make_engine
from state.migrations import init_schema
from state.tables import OutboxEntry

NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)


class Killed(BaseException):
    """The process died here: nothing after this point runs (not even `except Exception`)."""


@dataclass
class BulkJob:
    sobject: str
    key_field: str
    records: list[dict[str, Any]]
    state: str = "Open"
    results: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeOrg:
    """Records by (sobject, key). `errors(sobject, record)` returns an error code or None; `locks[key]`
    is how many more writes of that key are refused with UNABLE_TO_LOCK_ROW; `kill` is checked at
    named points ("before:collections", "after:collections", "bulk:created", "bulk:closed"...)."""

    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    errors: Callable[[str, dict[str, Any]], str | None] = lambda _s, _r: None
    locks: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    jobs: dict[str, BulkJob] = field(default_factory=dict)
    kill: Callable[[str], bool] = lambda _point: False
    raise_on: Callable[[str], BaseException | None] = lambda _point: None
    fail_bulk: bool = False
    batches: list[list[str]] = field(default_factory=list)  # keys of each write call, in order
    _ids: int = 0

    def _point(self, name: str) -> None:
        if self.kill(name):
            raise Killed(name)
        exc = self.raise_on(name)
        if exc is not None:
            raise exc

    def _apply(self, sobject: str, key_field: str, record: dict[str, Any]) -> dict[str, Any]:
        key = str(record[key_field])
        if self.locks.get(key, 0) > 0:
            self.locks[key] -= 1
            return {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked"}]}
        code = self.errors(sobject, record)
        if code:
            return {"success": False, "errors": [{"statusCode": code, "message": f"{code} on {key}"}]}
        existing = self.records.get((sobject, key))
        if existing is None:
            self._ids += 1
            self.records[(sobject, key)] = {"Id": f"id{self._ids}", **record}
            return {"id": f"id{self._ids}", "success": True, "errors": [], "created": True}
        existing.update(record)
        return {"id": existing["Id"], "success": True, "errors": [], "created": False}

    # -- Writer ------------------------------------------------------------------------------------
    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        self.calls.append(("query", "", 0))
        m = re.match(r"SELECT (.+) FROM (\w+) WHERE (\w+) IN \((.*)\)", soql)
        assert m, soql
        sobject, key_field = m.group(2), m.group(3)
        keys = re.findall(r"'((?:[^'\\]|\\.)*)'", m.group(4))
        for k in keys:
            rec = self.records.get((sobject, k))
            if rec is not None:
                yield {"Id": rec["Id"], key_field: k}

    def upsert_collection(
        self, sobject: str, key_field: str, records: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        assert len(records) <= 200
        self._point("before:collections")
        self.calls.append(("collections", sobject, len(records)))
        self.batches.append([str(r[key_field]) for r in records])
        results = [self._apply(sobject, key_field, dict(r)) for r in records]
        self._point("after:collections")
        return results

    def upsert_bulk(
        self,
        sobject: str,
        key_field: str,
        records: Sequence[dict[str, Any]],
        on_job: Callable[[str], None] | None = None,
    ) -> list[dict[str, Any]]:
        job_id = f"750{len(self.jobs) + 1:03d}"
        self.jobs[job_id] = job = BulkJob(sobject, key_field, [dict(r) for r in records])
        self.calls.append(("bulk", sobject, len(records)))
        self.batches.append([str(r[key_field]) for r in records])
        if on_job:
            on_job(job_id)
        self._point("bulk:created")
        self._run(job)
        self._point("bulk:closed")
        return job.results

    def _run(self, job: BulkJob) -> None:
        if self.fail_bulk:
            job.state = "Failed"
            msg = {"statusCode": NOT_PROCESSED, "message": "bulk job ended Failed: InternalServerError"}
            job.results = [{"success": False, "errors": [msg]} for _ in job.records]
            return
        job.state = "JobComplete"
        job.results = [self._apply(job.sobject, job.key_field, r) for r in job.records]

    def collect_bulk(
        self, job_id: str, sobject: str, key_field: str, records: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        self.calls.append(("collect", sobject, len(records)))
        job = self.jobs.get(job_id)
        if job is None:
            return None
        if job.state == "Open":
            job.state = "Aborted"
            msg = {"statusCode": NOT_PROCESSED, "message": "aborted"}
            return [{"success": False, "errors": [msg]} for _ in records]
        by_key = {str(r[key_field]): res for r, res in zip(job.records, job.results, strict=True)}
        return [by_key[str(r[key_field])] for r in records]

    def writes(self) -> int:
        return sum(1 for kind, _, _ in self.calls if kind in ("collections", "bulk"))


def engine_at(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    return engine


def outbox(engine: Engine) -> list[OutboxEntry]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxEntry).order_by(OutboxEntry.id)).all())  # type: ignore[arg-type]


def statuses(engine: Engine) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in outbox(engine):
        out[r.status] = out.get(r.status, 0) + 1
    return out


def plan_of(n: int, *, accounts: int = 0, closes: int = 0, updates: int = 0, tasks: int = 0) -> Plan:
    """A plan of `n` flag creates (+ Account updates, flag closes, Task creates), in plan order."""
    changes: list[Any] = []
    for i in range(accounts):
        changes.append(
            Update(
                "Account",
                "Store_Id__c",
                f"S{i:04d}",
                {"Health_Score__c": i},
                {"Health_Score__c": None},
                f"S{i:04d}",
            )
        )
    for i in range(n):
        changes.append(
            Create(
                "Risk_Flag__c",
                "Sync_Key__c",
                f"f{i:04d}",
                {"Status__c": "Open", "Severity__c": "High"},
                f"S{i % 7:04d}",
            )
        )
    for i in range(updates):
        changes.append(
            Update(
                "Risk_Flag__c",
                "Sync_Key__c",
                f"u{i:04d}",
                {"Severity__c": "Low"},
                {"Severity__c": "High"},
                f"S{i:04d}",
            )
        )
    for i in range(closes):
        changes.append(
            Close(
                "Risk_Flag__c",
                "Sync_Key__c",
                f"c{i:04d}",
                {"Status__c": "Resolved"},
                {"Status__c": "Open"},
                f"S{i:04d}",
            )
        )
    for i in range(tasks):
        changes.append(
            Create(
                "Task",
                "Sync_Key__c",
                f"t{i:04d}",
                {"Subject": "Call", "Status": "Not Started"},
                f"S{i % 7:04d}",
            )
        )
    return Plan(tuple(changes))
