"""Apply a plan exactly once: persist it to the outbox, send it in batches, mark every row with its result."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from jobs.plan import OBJECT_ORDER, Plan
from jobs.store import OutboxEntry

log = structlog.get_logger(__name__)

COLLECTION_SIZE = 200
LOCK_RETRY_ROUNDS = 3
RETRIABLE_RECORD_ERRORS = frozenset({"UNABLE_TO_LOCK_ROW"})


class Writer(Protocol):
    """What apply needs of Salesforce: upserts by external ID, with one result per record, in order."""

    def upsert_collection(
        self, sobject: str, key_field: str, records: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]: ...

    def upsert_bulk(
        self, sobject: str, key_field: str, records: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]: ...


class Stop(Exception):
    """Raised by a writer when the run must stop and leave the rest queued (limits, budget)."""


@dataclass
class ApplyReport:
    created: int = 0
    updated: int = 0
    closed: int = 0
    failed: int = 0
    dead: int = 0
    skipped_dead: int = 0
    queued: int = 0
    resumed: int = 0
    superseded: int = 0
    stopped: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.created + self.updated + self.closed

    @property
    def data(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "closed": self.closed,
            "failed": self.failed,
            "dead": self.dead,
            "skipped_dead": self.skipped_dead,
            "queued": self.queued,
            "resumed": self.resumed,
            "superseded": self.superseded,
            "stopped": self.stopped,
        }


@dataclass(frozen=True)
class ApplyOptions:
    max_attempts: int = 5
    bulk_threshold: int = 2000
    outbox_max_age: timedelta = timedelta(hours=24)
    stop_on: tuple[type[BaseException], ...] = (Stop,)
    sleep: Callable[[float], None] = time.sleep


def enqueue(
    engine: Engine, plan: Plan, run_id: str, job: str, now: datetime, opts: ApplyOptions
) -> ApplyReport:
    """Write the plan to the outbox before the first call, superseding older unsent rows for the same keys.

    A row that already failed `max_attempts` times with the same payload is not queued again: it is
    reported as dead until its desired state changes.
    """
    report = ApplyReport()
    with Session(engine) as s:
        for seq, change in enumerate(plan.changes):
            payload = {**change.fields, change.key_field: change.key}
            previous = s.exec(
                select(OutboxEntry)
                .where(OutboxEntry.sobject == change.sobject, OutboxEntry.key == change.key)
                .where(col(OutboxEntry.status).in_(("pending", "failed", "dead")))
            ).all()
            attempts = 0
            skip = False
            for old in previous:
                if old.status == "dead" and old.payload == payload:
                    skip = True
                    continue
                if old.status in ("failed", "dead") and old.payload == payload:
                    attempts = max(attempts, old.attempts)
                old.status, old.updated_at = "superseded", now
                s.add(old)
                report.superseded += 1
            if skip:
                report.skipped_dead += 1
                continue
            s.add(
                OutboxEntry(
                    run_id=run_id,
                    seq=seq,
                    job=job,
                    sobject=change.sobject,
                    key_field=change.key_field,
                    key=change.key,
                    op=change.op,
                    payload=payload,
                    attempts=attempts,
                    result={"account": change.account_key},
                    created_at=now,
                    updated_at=now,
                )
            )
        s.commit()
    return report


def pending_ids(engine: Engine, run_id: str | None, now: datetime, opts: ApplyOptions) -> list[int]:
    """Rows waiting to be sent: this run's, or (run_id None) those an interrupted run left behind."""
    with Session(engine) as s:
        q = select(OutboxEntry).where(OutboxEntry.status == "pending")
        q = q.where(OutboxEntry.run_id == run_id) if run_id else q
        rows = s.exec(q.order_by(col(OutboxEntry.id))).all()
        keep: list[int] = []
        for r in rows:
            created = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=now.tzinfo)
            if run_id is None and now - created > opts.outbox_max_age:
                # Too old to trust: the next plan re-derives it from current state instead.
                r.status, r.error, r.updated_at = "superseded", "expired before it could be sent", now
                s.add(r)
            else:
                assert r.id is not None
                keep.append(r.id)
        s.commit()
        return keep


def send(
    engine: Engine, writer: Writer, ids: Sequence[int], now: datetime, opts: ApplyOptions
) -> ApplyReport:
    """Send outbox rows, parents before children, grouped by account; mark each with its result."""
    report = ApplyReport()
    with Session(engine) as s:
        rows = [r for r in s.exec(select(OutboxEntry).where(col(OutboxEntry.id).in_(ids))).all()]
        s.expunge_all()
    by_object: dict[str, list[OutboxEntry]] = {}
    for r in rows:
        by_object.setdefault(r.sobject, []).append(r)
    order = sorted(by_object, key=lambda o: (OBJECT_ORDER.index(o) if o in OBJECT_ORDER else 99, o))
    try:
        for sobject in order:
            group = sorted(by_object[sobject], key=lambda r: (str(r.result.get("account", "")), r.key))
            key_field = group[0].key_field
            if len(group) > opts.bulk_threshold:
                _send_batch(engine, writer.upsert_bulk, sobject, key_field, group, now, opts, report)
            else:
                for i in range(0, len(group), COLLECTION_SIZE):
                    batch = group[i : i + COLLECTION_SIZE]
                    _send_batch(
                        engine, writer.upsert_collection, sobject, key_field, batch, now, opts, report
                    )
    except opts.stop_on as exc:
        report.stopped = str(exc)
        log.warning("apply_stopped", reason=str(exc))
    with Session(engine) as s:
        report.queued = len(
            s.exec(
                select(OutboxEntry.id).where(col(OutboxEntry.id).in_(ids), OutboxEntry.status == "pending")
            ).all()
        )
    return report


def _send_batch(
    engine: Engine,
    upsert: Callable[[str, str, Sequence[dict[str, Any]]], list[dict[str, Any]]],
    sobject: str,
    key_field: str,
    batch: list[OutboxEntry],
    now: datetime,
    opts: ApplyOptions,
    report: ApplyReport,
) -> None:
    todo = batch
    for round_no in range(LOCK_RETRY_ROUNDS + 1):
        results = upsert(sobject, key_field, [r.payload for r in todo])
        if len(results) != len(todo):
            raise RuntimeError(f"{sobject}: {len(results)} results for {len(todo)} records")
        retry: list[OutboxEntry] = []
        with Session(engine) as s:
            for row, res in zip(todo, results, strict=True):
                fresh = s.get(OutboxEntry, row.id)
                assert fresh is not None
                codes = [str(e.get("statusCode", "")) for e in res.get("errors", [])]
                if res.get("success"):
                    fresh.status = "sent"
                    fresh.result = {**fresh.result, "id": res.get("id"), "created": bool(res.get("created"))}
                    fresh.error = ""
                    _count(report, fresh.op, bool(res.get("created")))
                elif set(codes) & RETRIABLE_RECORD_ERRORS and round_no < LOCK_RETRY_ROUNDS:
                    retry.append(row)
                    continue
                else:
                    fresh.attempts += 1
                    fresh.error = "; ".join(
                        f"{e.get('statusCode')}: {e.get('message')}" for e in res.get("errors", [])
                    )
                    fresh.status = "dead" if fresh.attempts >= opts.max_attempts else "failed"
                    report.failed += 1
                    report.dead += fresh.status == "dead"
                    report.errors.append({"sobject": sobject, "key": row.key, "error": fresh.error})
                    log.warning(
                        "record_failed",
                        sobject=sobject,
                        key=row.key,
                        error=fresh.error,
                        attempts=fresh.attempts,
                        status=fresh.status,
                    )
                fresh.updated_at = now
                s.add(fresh)
            s.commit()
        if not retry:
            return
        opts.sleep(min(2.0**round_no, 10.0))
        todo = retry


def _count(report: ApplyReport, op: str, created: bool) -> None:
    if op == "close":
        report.closed += 1
    elif created:
        report.created += 1
    else:
        report.updated += 1


def outbox_summary(engine: Engine) -> dict[str, int]:
    """Rows by status: what `status` shows and the metrics endpoint exports."""
    with Session(engine) as s:
        rows: Iterable[str] = s.exec(select(OutboxEntry.status)).all()
    out: dict[str, int] = {}
    for status in rows:
        out[status] = out.get(status, 0) + 1
    return out
