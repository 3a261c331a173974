"""What the state database says about the worker: the status board's rows and the metrics snapshot.

`worker/status.py` and `worker/metrics.py` read the state only through here; both count the outbox
with `state.outbox.summary`, so `status` and the metrics endpoint cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, and_, func, select
from sqlmodel import Session, col

from state import outbox
from state.tables import Cursor, Freshness, JobLock, OutboxEntry, Quarantine, RunRecord, ShardLease

RUN = RunRecord.__table__  # type: ignore[attr-defined]
FRESH = Freshness.__table__  # type: ignore[attr-defined]
QUARANTINE = Quarantine.__table__  # type: ignore[attr-defined]
LOCK = JobLock.__table__  # type: ignore[attr-defined]
SHARD = ShardLease.__table__  # type: ignore[attr-defined]

# Where a run's counts keep what it wrote: a mapping job's applied and resumed outbox rows.
WRITTEN = {"create": "created", "update": "updated", "close": "closed"}


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _ts(t: datetime | None) -> float | None:
    return None if t is None else _aware(t).timestamp()


@dataclass
class Board:
    """The rows the status board is made of, read in one session."""

    runs: Sequence[RunRecord]  # newest first
    outbox: dict[str, int]  # rows by status
    rejected: Sequence[OutboxEntry]  # newest first
    freshness: Sequence[Freshness]
    cursors: int
    quarantined: int


def board(engine: Engine, job: str | None = None, limit: int = 15, rejected: int = 20) -> Board:
    """Recent runs (of one job), the outbox by status, its newest rejected rows, freshness and counts."""
    with Session(engine, expire_on_commit=False) as s:
        q = select(RunRecord)
        if job:
            q = q.where(col(RunRecord.job) == job)
        runs = s.scalars(q.order_by(col(RunRecord.started_at).desc()).limit(max(1, limit))).all()
        fresh = s.scalars(select(Freshness)).all()
        cursors = s.execute(select(func.count()).select_from(Cursor)).scalar_one()
        quarantined = s.execute(select(func.count()).select_from(Quarantine)).scalar_one()
    return Board(
        runs=runs,
        outbox=outbox.summary(engine),
        rejected=outbox.rejected(engine, job=job, limit=rejected),
        freshness=fresh,
        cursors=int(cursors),
        quarantined=int(quarantined),
    )


@dataclass
class RunRows:
    run: RunRecord
    rejected: Sequence[OutboxEntry]  # by object and key
    quarantined: Sequence[Quarantine]  # in the order they were quarantined


def run_rows(engine: Engine, run_id: str) -> RunRows | None:
    """One run's ledger row, the outbox rows it enqueued that Salesforce refused, and what it quarantined."""
    with Session(engine, expire_on_commit=False) as s:
        run = s.get(RunRecord, run_id)
        if run is None:
            return None
        quarantine = s.scalars(
            select(Quarantine).where(col(Quarantine.run_id) == run_id).order_by(col(Quarantine.id))
        ).all()
    return RunRows(run, outbox.rejected(engine, run_id=run_id), quarantine)


@dataclass(frozen=True)
class LockRow:
    name: str
    owner: str
    run_id: str
    expires_at: datetime  # aware, UTC


def job_locks(engine: Engine) -> list[LockRow]:
    """Every job lock, by name."""
    with engine.connect() as conn:
        rows = conn.execute(select(LOCK).order_by(LOCK.c.name)).all()
    return [
        LockRow(
            r.name,
            r.owner,
            r.run_id,
            r.expires_at if r.expires_at.tzinfo else r.expires_at.replace(tzinfo=UTC),
        )
        for r in rows
    ]


@dataclass
class Snapshot:
    """Everything the metrics say, read in one pass so a scrape is consistent and cheap to cache."""

    runs: list[tuple[str, str, int]]  # job, status, count
    written: list[tuple[str, str, int]]  # job, op, records
    write_failures: list[tuple[str, int]]
    pulled: list[tuple[str, int, int]]  # job, records, rejected
    api_calls: list[tuple[str, int]]
    api_used: int | None
    api_max: int | None
    last_success: list[tuple[str, float]]
    last_run: list[tuple[str, float, int | None, str]]  # job, finished, exit code, status
    outbox: list[tuple[str, int]]
    freshness: list[tuple[str, int, int, float | None]]  # source, stores, stale, max age seconds
    quarantined: int
    locks: list[tuple[str, int]]  # job, 1 if held and not expired
    shards: list[tuple[str, int]]  # state, count (firings not yet done)


def read_snapshot(engine: Engine, now: datetime, stale_seconds: float) -> Snapshot:
    c = RUN.c.counts
    with engine.connect() as conn:
        runs = [
            (j, s, int(n))
            for j, s, n in conn.execute(
                select(RUN.c.job, RUN.c.status, func.count()).group_by(RUN.c.job, RUN.c.status)
            )
        ]
        sums = [
            func.coalesce(func.sum(c[(part, field)].as_integer()), 0)
            for field in WRITTEN.values()
            for part in ("applied", "resumed")
        ]
        fail = [
            func.coalesce(func.sum(c[(part, "failed")].as_integer()), 0) for part in ("applied", "resumed")
        ]
        pulled = [func.coalesce(func.sum(c[(k,)].as_integer()), 0) for k in ("records", "rejected")]
        written: list[tuple[str, str, int]] = []
        write_failures: list[tuple[str, int]] = []
        pulls: list[tuple[str, int, int]] = []
        for row in conn.execute(select(RUN.c.job, *sums, *fail, *pulled).group_by(RUN.c.job)):
            job, values = row[0], [int(v or 0) for v in row[1:]]
            if not any(values[:8]):
                pulls.append((job, values[8], values[9]))
                continue  # a job that never wrote to Salesforce (pull) gets no write series
            for i, op in enumerate(WRITTEN):
                written.append((job, op, values[2 * i] + values[2 * i + 1]))
            write_failures.append((job, values[6] + values[7]))
            pulls.append((job, values[8], values[9]))
        api_calls = [
            (j, int(n or 0))
            for j, n in conn.execute(select(RUN.c.job, func.sum(RUN.c.api_calls)).group_by(RUN.c.job))
        ]
        latest_api = conn.execute(
            select(RUN.c.api_used, RUN.c.api_max)
            .where(RUN.c.api_max.is_not(None))
            .order_by(RUN.c.finished_at.desc())
            .limit(1)
        ).first()
        last_success = [
            (j, _ts(t) or 0.0)
            for j, t in conn.execute(
                select(RUN.c.job, func.max(RUN.c.finished_at)).where(RUN.c.status == "ok").group_by(RUN.c.job)
            )
        ]
        newest = (
            select(RUN.c.job, func.max(RUN.c.finished_at).label("at"))
            .where(RUN.c.finished_at.is_not(None))
            .group_by(RUN.c.job)
            .subquery()
        )
        last_run_rows = [
            (j, _ts(t) or 0.0, code, status)
            for j, t, code, status in conn.execute(
                select(RUN.c.job, RUN.c.finished_at, RUN.c.exit_code, RUN.c.status).join(
                    newest, and_(RUN.c.job == newest.c.job, RUN.c.finished_at == newest.c.at)
                )
            )
        ]
        last_run = list({r[0]: r for r in reversed(last_run_rows)}.values())  # one per job, even on a tie
        outbox_rows = list(outbox.summary(conn).items())
        fresh = conn.execute(select(FRESH.c.source, FRESH.c.newest_data_at)).all()
        quarantined = int(conn.execute(select(func.count()).select_from(QUARANTINE)).scalar_one())
        locks = [
            (name, int((_ts(exp) or 0) > now.timestamp()))
            for name, exp in conn.execute(select(LOCK.c.name, LOCK.c.expires_at))
        ]
        shards = [
            (s, int(n))
            for s, n in conn.execute(
                select(SHARD.c.state, func.count()).where(SHARD.c.state != "done").group_by(SHARD.c.state)
            )
        ]
    by_source: dict[str, list[float | None]] = {}
    for source, t in fresh:
        age = None if t is None else now.timestamp() - (_ts(t) or 0.0)
        by_source.setdefault(source, []).append(age)
    freshness = [
        (
            source,
            len(ages),
            sum(1 for a in ages if a is None or a > stale_seconds),
            max((a for a in ages if a is not None), default=None),
        )
        for source, ages in sorted(by_source.items())
    ]
    return Snapshot(
        runs=runs,
        written=written,
        write_failures=write_failures,
        pulled=pulls,
        api_calls=api_calls,
        api_used=latest_api[0] if latest_api else None,
        api_max=latest_api[1] if latest_api else None,
        last_success=last_success,
        last_run=last_run,
        outbox=outbox_rows,
        freshness=freshness,
        quarantined=quarantined,
        locks=locks,
        shards=shards,
    )
