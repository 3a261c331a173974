"""State store tables for running beyond one process: job locks, scheduled firings and shard leases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel


class JobLock(SQLModel, table=True):
    """At most one run of a job at a time, across processes and machines, until `expires_at`."""

    __tablename__ = "job_lock"
    name: str = Field(primary_key=True)
    owner: str  # host:pid:uuid of the holding process
    acquired_at: datetime
    expires_at: datetime  # renewed by the holder's heartbeat; past it, anyone may take the lock over
    heartbeat_at: datetime
    run_id: str = ""  # the run the holder records, so a taken-over run can be marked lost


class JobFiring(SQLModel, table=True):
    """One scheduled firing of a job, shared by every replica whose scheduler fired at the same time."""

    __tablename__ = "job_firing"
    job: str = Field(primary_key=True)
    fire_key: str = Field(primary_key=True)  # the scheduled fire time, UTC ISO, identical on every replica
    owner: str  # the replica that opened the firing and records its run
    state: str = "opening"  # opening | open | done | skipped
    run_id: str = ""
    shards: int = 0
    note: str = ""
    created_at: datetime
    updated_at: datetime


class ShardLease(SQLModel, table=True):
    """One shard of one firing: claimed by a replica with a lease it renews while it works."""

    __tablename__ = "shard_lease"
    __table_args__ = (Index("ix_shard_lease_state", "job", "fire_key", "state"),)
    job: str = Field(primary_key=True)
    fire_key: str = Field(primary_key=True)
    shard: int = Field(primary_key=True)
    stores: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    owner: str = ""
    state: str = "pending"  # pending | running | done
    attempts: int = 0  # claims so far; more than one means a lease expired and was taken over
    expires_at: datetime | None = None
    heartbeat: datetime | None = None
    finished_at: datetime | None = None
    outcome: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
