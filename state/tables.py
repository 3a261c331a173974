"""Every table of the state database: records, metrics, cursors, runs, outbox, quarantine, leases, caches."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, event
from sqlmodel import Field, SQLModel

from connectors import redact


def utcnow() -> datetime:
    return datetime.now(UTC)


class StoreRow(SQLModel, table=True):
    """A store as the sources know it (the store directory)."""

    __tablename__ = "store"
    store_id: str = Field(primary_key=True)
    name: str = ""
    state: str = ""
    timezone: str = "UTC"
    source: str = ""
    attrs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    seen_at: datetime = Field(default_factory=utcnow)


class SourceRecord(SQLModel, table=True):
    """A normalised record, upserted by (source, stream, key): the ground truth metrics derive from."""

    __tablename__ = "source_record"
    __table_args__ = (Index("ix_source_record_store_day", "store_id", "day"),)
    source: str = Field(primary_key=True)
    stream: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    store_id: str
    day: date
    occurred_at: datetime
    facts: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    attrs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    pulled_at: datetime = Field(default_factory=utcnow)  # when the content last changed
    digest: str = ""  # hash of the content, so a re-pull of unchanged records writes nothing


class MetricFact(SQLModel, table=True):
    """A daily metric per store: the sum of the facts of that day's records."""

    __tablename__ = "metric_fact"
    __table_args__ = (Index("ix_metric_fact_store_day", "store_id", "day"),)
    source: str = Field(primary_key=True)
    store_id: str = Field(primary_key=True)
    metric: str = Field(primary_key=True)
    dimension: str = Field(primary_key=True, default="")
    day: date = Field(primary_key=True)
    value: float = 0.0


class Cursor(SQLModel, table=True):
    """How far a stream of a source has been pulled for a store; advanced only after records are stored."""

    __tablename__ = "cursor"
    source: str = Field(primary_key=True)
    stream: str = Field(primary_key=True)
    store_id: str = Field(primary_key=True)
    value: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class Freshness(SQLModel, table=True):
    """Per store and source: newest data seen and last pull outcome, to tell stale data from a drop."""

    __tablename__ = "freshness"
    source: str = Field(primary_key=True)
    store_id: str = Field(primary_key=True)
    newest_data_at: datetime | None = None
    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_error: str = ""
    records_last_pull: int = 0
    # Set while the source's latest data for the store was quarantined as implausible: the store's
    # data from this source is held stale (health not scored on it) until a pull brings none.
    implausible_at: datetime | None = None


class Quarantine(SQLModel, table=True):
    """A source payload that failed validation, kept with its reason."""

    __tablename__ = "quarantine"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    source: str
    stream: str
    store_id: str
    payload: Any = Field(default=None, sa_column=Column(JSON))
    reason: str
    created_at: datetime = Field(default_factory=utcnow)


class RunRecord(SQLModel, table=True):
    """One run of one job: the local run ledger."""

    __tablename__ = "run"
    id: str = Field(primary_key=True)
    job: str = Field(index=True)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    status: str = "running"  # running | ok | partial | failed | stopped
    exit_code: int | None = None
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    api_calls: int = 0
    api_used: int | None = None
    api_max: int | None = None
    error: str = ""
    host: str = ""


@event.listens_for(RunRecord, "before_insert")
@event.listens_for(RunRecord, "before_update")
def _redact_run(_mapper: Any, _conn: Any, run: RunRecord) -> None:
    """A run's error and counts echo exceptions and source errors: redacted before they are stored,
    whichever code path recorded the run (the ledger sends the same text to Sync_Run__c)."""
    run.error = redact.text(run.error)
    run.counts = redact.value(run.counts)


class OutboxEntry(SQLModel, table=True):
    """A planned Salesforce change, persisted before it is sent and marked with its result."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status", "status"),
        Index("ix_outbox_object_key", "sobject", "key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    seq: int
    job: str = ""
    sobject: str
    key_field: str
    key: str
    op: str  # create | update | close
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = "pending"  # pending | sent | failed | dead | superseded
    attempts: int = 0
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SchemaInfo(SQLModel, table=True):
    """The schema version this database has been migrated to."""

    __tablename__ = "schema_info"
    id: int = Field(default=1, primary_key=True)
    version: int = 0


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


class ImageCheck(SQLModel, table=True):
    """The HTTP status of an image URL on a day (0 = unreachable); anything but 200 counts as broken.

    `etag` and `last_modified` are the validators a 200 carried (as sent), so the next recheck can ask
    whether the image changed and take a 304 for "no" instead of the image.
    """

    __tablename__ = "image_check"
    url: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    status: int = 0
    checked_at: datetime
    etag: str | None = None
    last_modified: str | None = None


class DigestSent(SQLModel, table=True):
    """One CSM's brief of one day: claimed (`sending`) before the send, then `sent` or `failed`.

    A claim whose send never reported back (the process died mid-call) stays `sending` and is not
    sent again: a brief is sent at most once a day; a known failure (`failed`) is retried next run.
    """

    __tablename__ = "digest_sent"
    csm_id: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    state: str = "sending"  # sending | sent | failed
    run_id: str = ""
    channel: str = ""  # email | chatter, plus +slack when it also went to Slack
    subject: str = ""
    claimed_at: datetime
    sent_at: datetime | None = None
    error: str = ""
    # What the brief saw of each account (Id → [score, band]): the next brief's baseline.
    seen: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
