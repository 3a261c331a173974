"""A throwaway schema on the PostgreSQL test server (CSM_SYNC_TEST_PG_URL), shared by the PostgreSQL tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from state.engine import make_engine

PG_URL = os.environ.get("CSM_SYNC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def schema_url(base: str, schema: str) -> str:
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A URL whose tables live in a fresh schema, dropped afterwards; skips when no server answers."""
    probe = make_engine(make_url(PG_URL).update_query_dict({"connect_timeout": "3"}).render_as_string(False))
    schema = f"csm_test_{uuid.uuid4().hex[:12]}"
    try:
        with probe.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        probe.dispose()
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {str(exc).splitlines()[0]}")
    try:
        yield schema_url(PG_URL, schema)
    finally:
        with probe.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        probe.dispose()


def query(url: str, sql: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()
