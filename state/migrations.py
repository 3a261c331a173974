"""The state database's schema: create missing tables, then apply the ordered, idempotent migrations."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import state.tables  # noqa: F401 - registers every table with the metadata create_all reads

SCHEMA_VERSION = 4


def _source_record_digest(conn: Connection) -> None:
    """Version 2: `source_record.digest` (empty on old rows: their next pull rewrites them once)."""
    if "digest" not in {c["name"] for c in inspect(conn).get_columns("source_record")}:
        conn.execute(text("ALTER TABLE source_record ADD COLUMN digest VARCHAR NOT NULL DEFAULT ''"))


def _freshness_implausible(conn: Connection) -> None:
    """Version 3: `freshness.implausible_at` (NULL: nothing held)."""
    if "implausible_at" not in {c["name"] for c in inspect(conn).get_columns("freshness")}:
        kind = "TIMESTAMP WITHOUT TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
        conn.execute(text(f"ALTER TABLE freshness ADD COLUMN implausible_at {kind}"))


def _image_check_validators(conn: Connection) -> None:
    """Version 4: `image_check.etag` and `.last_modified` (NULL: the next recheck of the URL is plain)."""
    have = {c["name"] for c in inspect(conn).get_columns("image_check")}
    for column in ("etag", "last_modified"):
        if column not in have:
            conn.execute(text(f"ALTER TABLE image_check ADD COLUMN {column} VARCHAR"))


# Ordered, idempotent migrations after the initial `create_all`; index i brings version i+1 to i+2.
MIGRATIONS: list[Callable[[Connection], None]] = [
    _source_record_digest,
    _freshness_implausible,
    _image_check_validators,
]


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
