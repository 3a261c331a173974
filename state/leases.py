"""Leases in the state store: job locks, once-per-cluster firings and shard claims, each atomic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from state.tables import JobFiring, JobLock, ShardLease

LOCK = JobLock.__table__  # type: ignore[attr-defined]
FIRING = JobFiring.__table__  # type: ignore[attr-defined]
SHARD = ShardLease.__table__  # type: ignore[attr-defined]


def utc(t: datetime) -> datetime:
    """Lease times are compared across replicas: always UTC (a naive time is taken to be UTC already)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _changed(engine: Engine, stmt: Any) -> bool:
    """Run one conditional write in its own transaction: did it change exactly one row?"""
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount == 1


def _inserted(engine: Engine, stmt: Any, key: Any) -> bool:
    """Run INSERT … ON CONFLICT DO NOTHING: was the row new? (RETURNING, as rowcount is unreliable here.)"""
    with engine.begin() as conn:
        return conn.execute(stmt.returning(key)).first() is not None


def _insert(bind: Engine | Connection, table: Any) -> Any:
    return (postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert)(table)


# -- job locks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockState:
    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime
    run_id: str = ""


@dataclass(frozen=True)
class Acquired:
    """The outcome of asking for a lock: `ok`, who holds it now, and the expired holder we replaced."""

    ok: bool
    holder: LockState | None
    previous: LockState | None = None


def _lock_state(row: Any) -> LockState:
    return LockState(row.name, row.owner, utc(row.acquired_at), utc(row.expires_at), row.run_id or "")


def read_lock(engine: Engine, name: str) -> LockState | None:
    with engine.connect() as conn:
        row = conn.execute(select(LOCK).where(LOCK.c.name == name)).first()
    return _lock_state(row) if row else None


def acquire_lock(engine: Engine, name: str, owner: str, now: datetime, ttl: timedelta) -> Acquired:
    """Take the lock if it is free, expired, or already ours; a conditional write, so only one wins."""
    at, until = utc(now), utc(now + ttl)
    values = {"name": name, "owner": owner, "acquired_at": at, "expires_at": until, "heartbeat_at": at}
    mine = LockState(name, owner, utc(at), utc(until))
    fresh = _insert(engine, LOCK).values(run_id="", **values).on_conflict_do_nothing(index_elements=["name"])
    if _inserted(engine, fresh, LOCK.c.name):
        return Acquired(True, mine)
    previous = read_lock(engine, name)
    takeover = (
        update(LOCK)
        .where(LOCK.c.name == name, or_(LOCK.c.expires_at < at, LOCK.c.owner == owner))
        .values(run_id="", **values)
    )
    if _changed(engine, takeover):
        replaced = previous if previous is not None and previous.owner != owner else None
        return Acquired(True, mine, replaced)
    return Acquired(False, read_lock(engine, name))


def renew_lock(engine: Engine, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Heartbeat: push `expires_at` on; False when the lock is no longer ours (it expired and was taken)."""
    return _changed(
        engine,
        update(LOCK)
        .where(LOCK.c.name == name, LOCK.c.owner == owner)
        .values(expires_at=utc(now + ttl), heartbeat_at=utc(now)),
    )


def set_lock_run(engine: Engine, name: str, owner: str, run_id: str) -> bool:
    return _changed(
        engine,
        update(LOCK).where(LOCK.c.name == name, LOCK.c.owner == owner).values(run_id=run_id),
    )


def release_lock(engine: Engine, name: str, owner: str) -> bool:
    return _changed(engine, delete(LOCK).where(LOCK.c.name == name, LOCK.c.owner == owner))


# -- scheduled firings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FiringState:
    job: str
    fire_key: str
    owner: str
    state: str  # opening | open | done | skipped
    run_id: str
    shards: int
    note: str


def open_firing(engine: Engine, job: str, fire_key: str, owner: str, now: datetime) -> bool:
    """The first replica to record this (job, fire time) owns the firing; the others help with its shards."""
    at = utc(now)
    return _inserted(
        engine,
        _insert(engine, FIRING)
        .values(
            job=job,
            fire_key=fire_key,
            owner=owner,
            state="opening",
            run_id="",
            shards=0,
            note="",
            created_at=at,
            updated_at=at,
        )
        .on_conflict_do_nothing(index_elements=["job", "fire_key"]),
        FIRING.c.job,
    )


def read_firing(engine: Engine, job: str, fire_key: str) -> FiringState | None:
    with engine.connect() as conn:
        row = conn.execute(select(FIRING).where(FIRING.c.job == job, FIRING.c.fire_key == fire_key)).first()
    if row is None:
        return None
    return FiringState(row.job, row.fire_key, row.owner, row.state, row.run_id, row.shards, row.note)


def publish_shards(
    engine: Engine, job: str, fire_key: str, run_id: str, shards: Sequence[Sequence[str]], now: datetime
) -> None:
    """Write the firing's shards and open it to every replica, in one transaction."""
    at = utc(now)
    with engine.begin() as conn:
        if shards:
            conn.execute(
                _insert(conn, SHARD).on_conflict_do_nothing(index_elements=["job", "fire_key", "shard"]),
                [
                    {
                        "job": job,
                        "fire_key": fire_key,
                        "shard": i,
                        "stores": list(stores),
                        "owner": "",
                        "state": "pending",
                        "attempts": 0,
                        "outcome": {},
                    }
                    for i, stores in enumerate(shards)
                ],
            )
        conn.execute(
            update(FIRING)
            .where(FIRING.c.job == job, FIRING.c.fire_key == fire_key)
            .values(state="open", run_id=run_id, shards=len(shards), updated_at=at)
        )


def close_firing(
    engine: Engine, job: str, fire_key: str, state: str, now: datetime, note: str = "", expect: str = ""
) -> bool:
    """Move a firing to `state`; with `expect`, only from that state, so exactly one replica wins."""
    cond = [FIRING.c.job == job, FIRING.c.fire_key == fire_key]
    if expect:
        cond.append(FIRING.c.state == expect)
    return _changed(engine, update(FIRING).where(*cond).values(state=state, note=note, updated_at=utc(now)))


# -- shard leases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardClaim:
    """A shard this replica holds: the stores to run, and the lease it must renew while it works."""

    job: str
    fire_key: str
    shard: int
    stores: tuple[str, ...]
    owner: str
    attempt: int

    def complete(self, conn: Connection, now: datetime) -> bool:
        """Mark the shard done inside the caller's transaction, so its writes and the lease commit together.

        False when the lease was lost (expired and taken over): roll the transaction back.
        """
        stmt = (
            update(SHARD)
            .where(*self._mine(), SHARD.c.state == "running")
            .values(state="done", finished_at=utc(now))
        )
        return conn.execute(stmt).rowcount == 1

    def _mine(self) -> list[Any]:
        return [
            SHARD.c.job == self.job,
            SHARD.c.fire_key == self.fire_key,
            SHARD.c.shard == self.shard,
            SHARD.c.owner == self.owner,
        ]


def _claimable(table: Any, job: str, fire_key: str, at: datetime) -> Any:
    return and_(
        table.c.job == job,
        table.c.fire_key == fire_key,
        or_(table.c.state == "pending", and_(table.c.state == "running", table.c.expires_at < at)),
    )


def claim_shard(
    engine: Engine, job: str, fire_key: str, owner: str, now: datetime, ttl: timedelta
) -> ShardClaim | None:
    """Claim the next pending shard, or one whose lease expired (its replica died); None when none is left.

    One UPDATE whose target is picked by `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas
    claiming at once each get a different shard without waiting on each other; SQLite runs the same
    statement under its single-writer lock.
    """
    at = utc(now)
    other = SHARD.alias("other")  # not correlated with the UPDATE's own table
    pick = (
        select(other.c.shard)
        .where(_claimable(other, job, fire_key, at))
        .order_by(other.c.shard)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(SHARD)
        .where(SHARD.c.job == job, SHARD.c.fire_key == fire_key, SHARD.c.shard == pick)
        .where(_claimable(SHARD, job, fire_key, at))
        .values(
            owner=owner,
            state="running",
            attempts=SHARD.c.attempts + 1,
            expires_at=utc(now + ttl),
            heartbeat=at,
        )
        .returning(SHARD.c.shard, SHARD.c.stores, SHARD.c.attempts)
    )
    with engine.begin() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None
    return ShardClaim(job, fire_key, row.shard, tuple(row.stores), owner, row.attempts)


def renew_shard(engine: Engine, claim: ShardClaim, now: datetime, ttl: timedelta) -> bool:
    """Heartbeat a shard lease; False when it was lost (it expired and another replica took it)."""
    return _changed(
        engine,
        update(SHARD)
        .where(*claim._mine(), SHARD.c.state == "running")
        .values(expires_at=utc(now + ttl), heartbeat=utc(now)),
    )


def finish_shard(engine: Engine, claim: ShardClaim, now: datetime, outcome: Mapping[str, Any]) -> bool:
    """Mark the shard done with its outcome; True if it is ours and done (also when the body completed it)."""
    return _changed(
        engine,
        update(SHARD)
        .where(*claim._mine(), SHARD.c.state.in_(("running", "done")))
        .values(state="done", outcome=dict(outcome), finished_at=utc(now)),
    )


def release_shard(engine: Engine, claim: ShardClaim) -> bool:
    """Hand a claimed shard back untouched (the replica is stopping before it began the work)."""
    return _changed(
        engine,
        update(SHARD)
        .where(*claim._mine(), SHARD.c.state == "running")
        .values(state="pending", owner="", expires_at=None, attempts=SHARD.c.attempts - 1),
    )


@dataclass(frozen=True)
class Progress:
    pending: int
    running: int
    expired: int  # running, but the holder stopped renewing: claimable again
    done: int

    @property
    def total(self) -> int:
        return self.pending + self.running + self.done

    @property
    def finished(self) -> bool:
        return self.total > 0 and self.done == self.total


def progress(engine: Engine, job: str, fire_key: str, now: datetime) -> Progress:
    at = utc(now)
    expired = case((and_(SHARD.c.state == "running", SHARD.c.expires_at < at), 1), else_=0)
    with engine.connect() as conn:
        rows = conn.execute(
            select(SHARD.c.state, func.count(), func.sum(expired))
            .where(SHARD.c.job == job, SHARD.c.fire_key == fire_key)
            .group_by(SHARD.c.state)
        ).all()
    counts = {r[0]: int(r[1]) for r in rows}
    n_expired = sum(int(r[2] or 0) for r in rows)
    return Progress(counts.get("pending", 0), counts.get("running", 0), n_expired, counts.get("done", 0))


def shard_outcomes(engine: Engine, job: str, fire_key: str) -> list[dict[str, Any]]:
    """Every shard of a firing, in order: number, stores, owner, attempts, state and outcome."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(SHARD).where(SHARD.c.job == job, SHARD.c.fire_key == fire_key).order_by(SHARD.c.shard)
        ).all()
    return [
        {
            "shard": r.shard,
            "stores": list(r.stores),
            "owner": r.owner,
            "attempts": r.attempts,
            "state": r.state,
            "outcome": dict(r.outcome),
        }
        for r in rows
    ]


def prune(engine: Engine, now: datetime, keep: timedelta) -> int:
    """Forget firings and shard leases older than `keep` (history for operators, not state)."""
    cutoff = utc(now - keep)
    with engine.begin() as conn:
        # No run lasts that long: an older firing still open was left by replicas that all died.
        old = select(FIRING.c.job, FIRING.c.fire_key).where(FIRING.c.created_at < cutoff)
        keys = [(r.job, r.fire_key) for r in conn.execute(old)]
        for job, key in keys:
            conn.execute(delete(SHARD).where(SHARD.c.job == job, SHARD.c.fire_key == key))
            conn.execute(delete(FIRING).where(FIRING.c.job == job, FIRING.c.fire_key == key))
    return len(keys)
