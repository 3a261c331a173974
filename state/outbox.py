"""The outbox's rows and every query on them: enqueue with supersede, load, mark, prune, and the one summary.

`jobs/apply.py` decides what to send and how; this module only reads and writes the `outbox` table, so
`status`, the metrics endpoint and apply agree on what a row's state means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, delete, func, select
from sqlmodel import Session, col

from state.tables import OutboxEntry

OUTBOX: Table = OutboxEntry.__table__  # type: ignore[attr-defined]

# Row states. `sending`: handed to Salesforce and not yet marked, so possibly applied.
PENDING, SENDING, SENT, FAILED, DEAD, SUPERSEDED = (
    "pending",
    "sending",
    "sent",
    "failed",
    "dead",
    "superseded",
)
QUEUED = (PENDING, SENDING)
REJECTED = (FAILED, DEAD)  # rows Salesforce refused: retried next run, dead after max_attempts
_CHUNK = 5000  # ids per IN (…) list


@dataclass
class OutboxRow:
    """An outbox row as apply carries it between calls (no ORM session held across network calls)."""

    id: int
    status: str
    sobject: str
    key_field: str
    key: str
    op: str
    payload: dict[str, Any]
    attempts: int
    result: dict[str, Any]
    error: str = ""

    @property
    def account(self) -> str:
        return str(self.result.get("account", ""))


@dataclass(frozen=True)
class NewRow:
    """One planned change to enqueue: its payload is final (redacted, key included)."""

    seq: int
    sobject: str
    key_field: str
    key: str
    op: str
    payload: dict[str, Any]
    account: str


@dataclass
class Enqueued:
    ids: list[int]
    superseded: int
    skipped_dead: int


def enqueue(engine: Engine, rows: Sequence[NewRow], run_id: str, job: str, now: datetime) -> Enqueued:
    """Insert `rows` in one transaction, superseding the job's older open rows for the same keys.

    A row that already failed with the same payload carries its attempts over; one that is dead with
    the same payload is not queued again (reported as skipped) until its desired state changes.
    """
    out = Enqueued([], 0, 0)
    if not rows:
        return out
    objects = sorted({r.sobject for r in rows})
    with engine.begin() as conn:
        # Open rows are few in steady state (sent and superseded ones are not read), so one query.
        # Only this job's: another job writing other fields of the same record keeps its own row.
        previous: dict[tuple[str, str], list[Any]] = {}
        for old in conn.execute(
            select(
                OUTBOX.c.id,
                OUTBOX.c.sobject,
                OUTBOX.c.key,
                OUTBOX.c.status,
                OUTBOX.c.payload,
                OUTBOX.c.attempts,
            )
            .where(
                OUTBOX.c.status.in_((*QUEUED, FAILED, DEAD)),
                OUTBOX.c.sobject.in_(objects),
                OUTBOX.c.job == job,
            )
            .order_by(OUTBOX.c.id)
        ):
            previous.setdefault((old.sobject, old.key), []).append(old)
        superseded: list[int] = []
        values: list[dict[str, Any]] = []
        for row in rows:
            attempts = 0
            skip = False
            for old in previous.get((row.sobject, row.key), ()):
                if old.status == DEAD and old.payload == row.payload:
                    skip = True
                    continue
                if old.status in REJECTED and old.payload == row.payload:
                    attempts = max(attempts, old.attempts)
                superseded.append(old.id)
            if skip:
                out.skipped_dead += 1
                continue
            values.append(
                {
                    "run_id": run_id,
                    "seq": row.seq,
                    "job": job,
                    "sobject": row.sobject,
                    "key_field": row.key_field,
                    "key": row.key,
                    "op": row.op,
                    "payload": row.payload,
                    "status": PENDING,
                    "attempts": attempts,
                    "result": {"account": row.account},
                    "error": "",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        for i in range(0, len(superseded), _CHUNK):
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id.in_(superseded[i : i + _CHUNK]))
                .values(status=SUPERSEDED, updated_at=now)
            )
        out.superseded = len(superseded)
        if values:
            inserted = conn.execute(
                OUTBOX.insert().returning(OUTBOX.c.id, sort_by_parameter_order=True), values
            )
            out.ids = [int(i) for i in inserted.scalars().all()]
    return out


def queued_ids(
    engine: Engine,
    run_id: str | None,
    now: datetime,
    max_age: timedelta,
    job: str | None = None,
    exclude_run: str | None = None,
) -> list[int]:
    """Rows waiting to be sent (or sent without an answer): this run's, or (run_id None) those an
    interrupted run left behind, optionally of one job and not of the run `exclude_run`.

    Left-behind rows older than `max_age` are superseded instead: too old to trust, the next plan
    re-derives them from current state.
    """
    q = select(OUTBOX.c.id, OUTBOX.c.created_at).where(OUTBOX.c.status.in_(QUEUED))
    if run_id:
        q = q.where(OUTBOX.c.run_id == run_id)
    if job is not None:
        q = q.where(OUTBOX.c.job == job)
    if exclude_run is not None:
        q = q.where(OUTBOX.c.run_id != exclude_run)
    keep: list[int] = []
    expired: list[int] = []
    with engine.begin() as conn:
        for row_id, at in conn.execute(q.order_by(OUTBOX.c.id)):
            created = at if at.tzinfo else at.replace(tzinfo=now.tzinfo)
            if run_id is None and now - created > max_age:
                expired.append(row_id)
            else:
                keep.append(int(row_id))
        for i in range(0, len(expired), _CHUNK):
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id.in_(expired[i : i + _CHUNK]))
                .values(status=SUPERSEDED, error="expired before it could be sent", updated_at=now)
            )
    return keep


def load(engine: Engine, ids: Sequence[int]) -> list[OutboxRow]:
    """The queued rows among `ids`, read as plain tuples (ORM objects cost more than the call)."""
    t = OUTBOX
    cols = (
        t.c.id,
        t.c.status,
        t.c.sobject,
        t.c.key_field,
        t.c.key,
        t.c.op,
        t.c.payload,
        t.c.attempts,
        t.c.result,
    )
    out: list[OutboxRow] = []
    with engine.connect() as conn:
        for i in range(0, len(ids), _CHUNK):
            q = select(*cols).where(t.c.id.in_(list(ids[i : i + _CHUNK])), t.c.status.in_(QUEUED))
            out.extend(
                OutboxRow(
                    r.id,
                    r.status,
                    r.sobject,
                    r.key_field,
                    r.key,
                    r.op,
                    dict(r.payload),
                    r.attempts,
                    dict(r.result),
                )
                for r in conn.execute(q)
            )
    return sorted(out, key=lambda r: r.id)


def count_queued(engine: Engine, ids: Sequence[int]) -> int:
    """How many of `ids` are still queued (pending or sending)."""
    n = 0
    with engine.connect() as conn:
        for i in range(0, len(ids), _CHUNK):
            q = select(func.count()).where(
                OUTBOX.c.id.in_(list(ids[i : i + _CHUNK])), OUTBOX.c.status.in_(QUEUED)
            )
            n += int(conn.execute(q).scalar_one())
    return n


def write(engine: Engine, params: list[dict[str, Any]]) -> None:
    """One executemany UPDATE by primary key (`id` plus the columns to set), committed: a kill after
    it keeps every row's state."""
    if not params:
        return
    stmt = OUTBOX.update().where(OUTBOX.c.id == bindparam("row_id"))
    with engine.begin() as conn:
        conn.execute(stmt, [{"row_id": p["id"], **{k: v for k, v in p.items() if k != "id"}} for p in params])


def prune(engine: Engine, now: datetime, keep: timedelta) -> int:
    """Delete rows settled (sent, superseded) longer than `keep` ago; open, failed and dead rows stay."""
    with engine.begin() as conn:
        result = conn.execute(
            delete(OUTBOX).where(OUTBOX.c.status.in_((SENT, SUPERSEDED)), OUTBOX.c.updated_at < now - keep)
        )
    return int(getattr(result, "rowcount", 0) or 0)


def summary(bind: Engine | Connection) -> dict[str, int]:
    """Rows by status, sorted by status: what `status` shows and the metrics endpoint exports (which
    passes the connection of its one-pass snapshot)."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return summary(conn)
    rows = bind.execute(select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status)).all()
    return {str(status): int(n) for status, n in sorted(rows)}


def rejected(
    engine: Engine, *, job: str | None = None, run_id: str | None = None, limit: int | None = None
) -> list[OutboxEntry]:
    """Rows Salesforce refused (failed or dead): a job's newest first, or one run's by object and key."""
    q = select(OutboxEntry).where(col(OutboxEntry.status).in_(REJECTED))
    if job:
        q = q.where(col(OutboxEntry.job) == job)
    if run_id is not None:
        q = q.where(col(OutboxEntry.run_id) == run_id).order_by(
            col(OutboxEntry.sobject), col(OutboxEntry.key)
        )
    else:
        q = q.order_by(col(OutboxEntry.updated_at).desc())
    if limit is not None:
        q = q.limit(limit)
    with Session(engine) as s:
        return list(s.scalars(q).all())


def written_mark(bind: Engine | Connection, sobject: str) -> tuple[tuple[str, int, int], ...]:
    """What changes whenever a write of `sobject` may have reached Salesforce: per state a row takes on
    its way (sending, then sent, failed or dead), the count of the object's rows and the highest id.

    A kept read of the object is stale once this differs from its value at the read (`jobs/portfolio.py`);
    pruning old rows changes it too, which only costs a read.
    """
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return written_mark(conn, sobject)
    t = OUTBOX
    q = (
        select(t.c.status, func.count(), func.max(t.c.id))
        .where(t.c.sobject == sobject, t.c.status.in_((SENDING, SENT, FAILED, DEAD)))
        .group_by(t.c.status)
        .order_by(t.c.status)
    )
    return tuple((str(s), int(n), int(m)) for s, n, m in bind.execute(q))
