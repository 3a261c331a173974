"""The local state store: SQLModel tables for records, metrics, cursors, runs, the outbox and quarantine."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Engine, Index, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session, SQLModel, create_engine

import jobs.digest_sent
import jobs.store_leases  # noqa: F401 - registers job_lock, job_firing and shard_lease with the schema
from connectors import redact

SCHEMA_VERSION = 3


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


def _source_record_digest(conn: Connection) -> None:
    """Version 2: `source_record.digest` (empty on old rows: their next pull rewrites them once)."""
    if "digest" not in {c["name"] for c in inspect(conn).get_columns("source_record")}:
        conn.execute(text("ALTER TABLE source_record ADD COLUMN digest VARCHAR NOT NULL DEFAULT ''"))


def _freshness_implausible(conn: Connection) -> None:
    """Version 3: `freshness.implausible_at` (NULL: nothing held)."""
    if "implausible_at" not in {c["name"] for c in inspect(conn).get_columns("freshness")}:
        kind = "TIMESTAMP WITHOUT TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
        conn.execute(text(f"ALTER TABLE freshness ADD COLUMN implausible_at {kind}"))


# Ordered, idempotent migrations after the initial `create_all`; index i brings version i+1 to i+2.
MIGRATIONS: list[Callable[[Connection], None]] = [_source_record_digest, _freshness_implausible]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite gets WAL and a busy timeout so readers never block writers."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def init_schema(engine: Engine) -> int:
    """Create missing tables and apply pending migrations; safe to call on every start and concurrently."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Serialise concurrent starts of several replicas.
            conn.execute(text("SELECT pg_advisory_xact_lock(7263001)"))
        SQLModel.metadata.create_all(conn)
        row = conn.execute(text("SELECT version FROM schema_info WHERE id = 1")).first()
        version = row[0] if row else 0
        if row is None:
            conn.execute(text("INSERT INTO schema_info (id, version) VALUES (1, :v)"), {"v": 1})
            version = 1
        for i in range(version - 1, len(MIGRATIONS)):
            MIGRATIONS[i](conn)
        target = 1 + len(MIGRATIONS)
        if version != target:
            conn.execute(text("UPDATE schema_info SET version = :v WHERE id = 1"), {"v": target})
        return target


def upsert(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO UPDATE on the model's primary key, for SQLite and PostgreSQL alike."""
    if not rows:
        return
    table = model.__table__  # type: ignore[attr-defined]
    pk = [c.name for c in table.primary_key.columns]
    dialect = session.get_bind().dialect.name
    insert_fn: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_fn(table)
    update_cols = {c: stmt.excluded[c] for c in rows[0] if c not in pk}
    stmt = (
        stmt.on_conflict_do_update(index_elements=pk, set_=update_cols)
        if update_cols
        else (stmt.on_conflict_do_nothing(index_elements=pk))
    )
    for chunk in _chunks(rows, 500):
        session.execute(stmt, list(chunk))


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterable[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]
