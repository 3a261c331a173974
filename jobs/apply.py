"""Apply a plan exactly once: persist it to the outbox, send it in batches, mark every row with its result."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, wait_exponential
from tenacity.wait import wait_base

from connectors import redact
from connectors.salesforce.bulk import NOT_PROCESSED
from connectors.salesforce.client import LimitReached
from connectors.salesforce.soql import select_in
from jobs import progress
from jobs.plan import OBJECT_ORDER, Plan
from state import outbox
from state.engine import Engine
from state.outbox import DEAD, FAILED, PENDING, SENDING, SENT
from state.outbox import OutboxRow as _Row

log = structlog.get_logger(__name__)

COLLECTION_SIZE = 200
LOCK_RETRY_ROUNDS = 3
RETRIABLE_RECORD_ERRORS = frozenset({"UNABLE_TO_LOCK_ROW"})
BULK_JOB_ROWS = 100_000  # rows per Bulk job; bounds one upload well under Salesforce's 100 MB
BULK_JOB_BYTES = 60_000_000  # estimated payload bytes per Bulk job


class Writer(Protocol):
    """What apply needs of Salesforce: upserts by external ID with one result per record, in order,
    the results of a Bulk job an interrupted run started, and a query to find records that landed."""

    def query(self, soql: str) -> Iterator[dict[str, Any]]: ...

    def upsert_collection(
        self, sobject: str, key_field: str, records: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]: ...

    def upsert_bulk(
        self,
        sobject: str,
        key_field: str,
        records: Sequence[dict[str, Any]],
        on_job: Callable[[str], None] | None = None,
    ) -> list[dict[str, Any]]: ...

    def collect_bulk(
        self, job_id: str, sobject: str, key_field: str, records: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]] | None: ...


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
    settled: int = 0  # rows an interrupted run sent, found applied and marked without sending again
    superseded: int = 0
    stopped: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # outbox rows `enqueue` wrote

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
            "settled": self.settled,
            "superseded": self.superseded,
            "stopped": self.stopped,
        }


@dataclass(frozen=True)
class ApplyOptions:
    max_attempts: int = 5
    bulk_threshold: int = 2000
    outbox_max_age: timedelta = timedelta(hours=24)
    stop_on: tuple[type[BaseException], ...] = (Stop, LimitReached)
    sleep: Callable[[float], None] = time.sleep  # the clock's sleep (a test's fake clock)
    rng: random.Random = field(default_factory=random.Random)  # the jitter of lock retries
    collection_size: int = COLLECTION_SIZE
    lock_retry_rounds: int = LOCK_RETRY_ROUNDS
    keep_settled: timedelta = timedelta(days=14)  # sent and superseded rows kept this long, then pruned


# -- enqueue ---------------------------------------------------------------------------------------
def enqueue(
    engine: Engine, plan: Plan, run_id: str, job: str, now: datetime, opts: ApplyOptions
) -> ApplyReport:
    """Write the plan to the outbox in one transaction before the first call; `report.ids` are its rows.

    The job's older open rows for the same keys are superseded: the plan was made from Salesforce's
    current state, after the resume settled what an interrupted run had sent. A row that already failed
    `max_attempts` times with the same payload is not queued again: it is reported as dead until
    its desired state changes.
    """
    report = ApplyReport()
    if not plan.changes:
        return report
    rows = [
        outbox.NewRow(
            seq=seq,
            sobject=change.sobject,
            key_field=change.key_field,
            key=change.key,
            op=change.op,
            # No configured secret reaches the outbox or the org, whatever a mapping put in a field.
            payload={
                k: redact.known(v) if isinstance(v, str) else v
                for k, v in {**change.fields, change.key_field: change.key}.items()
            },
            account=change.account_key,
        )
        for seq, change in enumerate(plan.changes)
    ]
    done = outbox.enqueue(engine, rows, run_id, job, now)
    report.ids, report.superseded, report.skipped_dead = done.ids, done.superseded, done.skipped_dead
    log.info("outbox_enqueued", rows=len(report.ids), superseded=report.superseded, dead=report.skipped_dead)
    return report


def pending_ids(
    engine: Engine,
    run_id: str | None,
    now: datetime,
    opts: ApplyOptions,
    job: str | None = None,
    exclude_run: str | None = None,
) -> list[int]:
    """`state.outbox.queued_ids` with the options' age limit. A resume is scoped to its job and skips
    its own run id, because the shards of one run may be sending their rows on other replicas now."""
    return outbox.queued_ids(engine, run_id, now, opts.outbox_max_age, job, exclude_run)


# -- send ------------------------------------------------------------------------------------------
WRITE_TASK = "Salesforce writes: records"


def send(
    engine: Engine, writer: Writer, ids: Sequence[int], now: datetime, opts: ApplyOptions
) -> ApplyReport:
    """Send outbox rows, parents before children, grouped by account; mark each with its result.

    Rows an interrupted run left `sending` are settled first: their Bulk job's results are collected,
    and creates that already landed are marked rather than sent again (a resent create would
    overwrite create-only fields a person may have changed since, or reopen a Task they closed).
    """
    report = ApplyReport()
    rows = outbox.load(engine, ids)
    try:
        rows = _settle(engine, writer, rows, now, opts, report)
        progress.start(WRITE_TASK, len(rows))
        by_object: dict[str, list[_Row]] = {}
        for r in rows:
            by_object.setdefault(r.sobject, []).append(r)
        for sobject in sorted(by_object, key=_object_rank):
            group = sorted(by_object[sobject], key=lambda r: (r.account, r.key))
            _send_object(engine, writer, group, now, opts, report)
    except opts.stop_on as exc:
        report.stopped = redact.error(exc, with_type=False)
        log.warning("apply_stopped", reason=str(exc))
    progress.finish(WRITE_TASK)
    report.queued = outbox.count_queued(engine, ids)
    return report


def _object_rank(sobject: str) -> tuple[int, str]:
    return (OBJECT_ORDER.index(sobject) if sobject in OBJECT_ORDER else len(OBJECT_ORDER), sobject)


def _settle(
    engine: Engine, writer: Writer, rows: list[_Row], now: datetime, opts: ApplyOptions, report: ApplyReport
) -> list[_Row]:
    """The rows still to send once in-flight rows of an interrupted run are accounted for."""
    inflight = [r for r in rows if r.status == SENDING]
    if not inflight:
        return rows
    log.info("outbox_settle", rows=len(inflight))
    todo = [r for r in rows if r.status != SENDING]
    ambiguous: list[_Row] = []
    jobs: dict[str, list[_Row]] = {}
    for r in inflight:
        job_id = r.result.get("bulk_job")
        if job_id:
            jobs.setdefault(str(job_id), []).append(r)
        else:
            ambiguous.append(r)
    for job_id, jrows in jobs.items():
        sobject, key_field = jrows[0].sobject, jrows[0].key_field
        results = writer.collect_bulk(job_id, sobject, key_field, [r.payload for r in jrows])
        if results is None:
            log.info("bulk_job_gone", job_id=job_id, rows=len(jrows))
            ambiguous.extend(jrows)
            continue
        log.info("bulk_job_collected", job_id=job_id, rows=len(jrows))
        # Rows the job never processed were not applied: send them again like any pending row.
        todo.extend(_mark(engine, jrows, results, now, opts, report, resend_unprocessed=True))
    creates = [r for r in ambiguous if r.op == "create"]
    todo.extend(r for r in ambiguous if r.op != "create")
    found = _existing(writer, creates)
    landed = [r for r in creates if (r.sobject, r.key) in found]
    todo.extend(r for r in creates if (r.sobject, r.key) not in found)
    if landed:
        results = [{"success": True, "id": found[(r.sobject, r.key)], "created": True} for r in landed]
        _mark(engine, landed, results, now, opts, report)
        report.settled += len(landed)
        log.info("outbox_settled_creates", rows=len(landed))
    return sorted(todo, key=lambda r: r.id)


def _existing(writer: Writer, rows: Sequence[_Row]) -> dict[tuple[str, str], str]:
    """(sobject, key) -> Id of the records among `rows` that exist in Salesforce."""
    by_object: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        by_object.setdefault((r.sobject, r.key_field), []).append(r.key)
    found: dict[tuple[str, str], str] = {}
    for (sobject, key_field), keys in sorted(by_object.items()):
        for soql in select_in(sobject, ["Id", key_field], key_field, sorted(set(keys))):
            for rec in writer.query(soql):
                found[(sobject, str(rec[key_field]))] = str(rec["Id"])
    return found


def _send_object(
    engine: Engine, writer: Writer, group: list[_Row], now: datetime, opts: ApplyOptions, report: ApplyReport
) -> None:
    """All rows of one object: Bulk above the threshold, else Collections; locked rows retried in rounds.

    Retries wait until the object's other batches are sent, so the lock has time to clear, and go
    together in as few calls as possible.
    """
    todo = group

    def send_round() -> list[_Row]:
        """Send `todo`; the rows still locked are the next round's."""
        nonlocal todo
        retry: list[_Row] = []
        if len(todo) > opts.bulk_threshold:
            for chunk in _bulk_chunks(todo):
                retry += _send_bulk(engine, writer, chunk, now, opts, report)
        else:
            for i in range(0, len(todo), opts.collection_size):
                retry += _send_collection(
                    engine, writer, todo[i : i + opts.collection_size], now, opts, report
                )
        todo = retry
        return retry

    def before_sleep(state: RetryCallState) -> None:
        log.info("record_lock_retry", sobject=group[0].sobject, rows=len(todo), round=state.attempt_number)

    left: list[_Row] = Retrying(
        retry=retry_if_result(bool),
        wait=_LockBackoff(opts.rng),
        stop=stop_after_attempt(opts.lock_retry_rounds + 1),
        sleep=opts.sleep,
        before_sleep=before_sleep,
        retry_error_callback=lambda state: todo,
    )(send_round)
    if left:  # still locked after every round: queued for the next run, not counted as an attempt
        _requeue(engine, left, now)
        log.warning("record_lock_gave_up", sobject=group[0].sobject, rows=len(left))


class _LockBackoff(wait_base):
    """The wait before a locked-row round: 2^n seconds up to 10 (tenacity's wait_exponential), times a
    jitter in [0.5, 1.5) drawn from the injected random source, so replicas hitting one lock part."""

    def __init__(self, rng: random.Random) -> None:
        self.exponential = wait_exponential(multiplier=1, max=10)
        self.rng = rng

    def __call__(self, retry_state: RetryCallState) -> float:
        return float(self.exponential(retry_state)) * (0.5 + self.rng.random())


def _bulk_chunks(rows: list[_Row]) -> Iterable[list[_Row]]:
    chunk: list[_Row] = []
    size = 0
    for r in rows:
        weight = 16 + sum(len(str(v)) + 4 for v in r.payload.values())
        if chunk and (len(chunk) >= BULK_JOB_ROWS or size + weight > BULK_JOB_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(r)
        size += weight
    if chunk:
        yield chunk


def _send_collection(
    engine: Engine, writer: Writer, batch: list[_Row], now: datetime, opts: ApplyOptions, report: ApplyReport
) -> list[_Row]:
    _set_sending(engine, batch, now)
    sobject, key_field = batch[0].sobject, batch[0].key_field
    results = writer.upsert_collection(sobject, key_field, [r.payload for r in batch])
    return _mark(engine, batch, results, now, opts, report)


def _send_bulk(
    engine: Engine, writer: Writer, rows: list[_Row], now: datetime, opts: ApplyOptions, report: ApplyReport
) -> list[_Row]:
    sobject, key_field = rows[0].sobject, rows[0].key_field

    def on_job(job_id: str) -> None:
        # Persisted before the upload: a resume collects this job instead of uploading the rows again.
        _set_sending(engine, rows, now, bulk_job=job_id)

    results = writer.upsert_bulk(sobject, key_field, [r.payload for r in rows], on_job)
    return _mark(engine, rows, results, now, opts, report)


def _set_sending(engine: Engine, rows: Sequence[_Row], now: datetime, bulk_job: str | None = None) -> None:
    params = []
    for r in rows:
        r.status = SENDING
        r.result = {k: v for k, v in r.result.items() if k != "bulk_job"}
        if bulk_job:
            r.result["bulk_job"] = bulk_job
        params.append({"id": r.id, "status": SENDING, "result": r.result, "updated_at": now})
    outbox.write(engine, params)


def _requeue(engine: Engine, rows: Sequence[_Row], now: datetime) -> None:
    params = []
    for r in rows:
        r.status = PENDING
        r.result = {k: v for k, v in r.result.items() if k != "bulk_job"}
        params.append(
            {"id": r.id, "status": PENDING, "result": r.result, "error": r.error[:4000], "updated_at": now}
        )
    outbox.write(engine, params)


def _mark(
    engine: Engine,
    rows: Sequence[_Row],
    results: Sequence[dict[str, Any]],
    now: datetime,
    opts: ApplyOptions,
    report: ApplyReport,
    *,
    resend_unprocessed: bool = False,
) -> list[_Row]:
    """Write each row's result (one commit for the batch); returns the rows to try again now.

    Locked rows (and, when collecting an interrupted run's Bulk job, rows it never processed) are
    returned for another try; other record errors count an attempt, and the row is dead once it
    has failed `max_attempts` times.
    """
    if len(results) != len(rows):
        raise RuntimeError(f"{rows[0].sobject}: {len(results)} results for {len(rows)} records")
    again: list[_Row] = []
    params: list[dict[str, Any]] = []
    for row, res in zip(rows, results, strict=True):
        errors = list(res.get("errors") or [])
        codes = {str(e.get("statusCode", "")) for e in errors}
        result = {k: v for k, v in row.result.items() if k != "bulk_job"}
        if res.get("success"):
            row.status, row.error = SENT, ""
            row.result = {**result, "id": res.get("id"), "created": bool(res.get("created"))}
            params.append(
                {
                    "id": row.id,
                    "status": SENT,
                    "result": row.result,
                    "error": "",
                    "attempts": row.attempts,
                    "updated_at": now,
                }
            )
            _count(report, row.op, bool(res.get("created")))
            continue
        message = redact.text(
            "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors) or "no result"
        )
        row.error = message
        if codes & RETRIABLE_RECORD_ERRORS or (resend_unprocessed and codes == {NOT_PROCESSED}):
            again.append(row)
            continue
        row.attempts += 1
        row.status = DEAD if row.attempts >= opts.max_attempts else FAILED
        row.result = result
        params.append(
            {
                "id": row.id,
                "status": row.status,
                "result": result,
                "error": message[:4000],
                "attempts": row.attempts,
                "updated_at": now,
            }
        )
        report.failed += 1
        report.dead += row.status == DEAD
        report.errors.append({"sobject": row.sobject, "key": row.key, "error": message})
        log.warning(
            "record_failed",
            sobject=row.sobject,
            key=row.key,
            error=message[:500],
            attempts=row.attempts,
            status=row.status,
        )
    outbox.write(engine, params)
    progress.advance(WRITE_TASK, len(rows) - len(again))
    return again


def _count(report: ApplyReport, op: str, created: bool) -> None:
    if op == "close":
        report.closed += 1
    elif created:
        report.created += 1
    else:
        report.updated += 1


def prune(engine: Engine, now: datetime, keep: timedelta) -> int:
    """Delete rows settled (sent, superseded) longer than `keep` ago; open, failed and dead rows stay.

    A daily snapshot job alone settles tens of thousands of rows a day: without this the outbox grows
    for ever, and `enqueue` never needs settled rows.
    """
    removed = outbox.prune(engine, now, keep)
    if removed:
        log.info("outbox_pruned", rows=removed, before=(now - keep).isoformat())
    return removed
