"""Integration fixtures: sandbox orgs (in-process and over HTTPS) from org_fixtures; long variants opt-in."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from state.engine import make_engine
from state.migrations import init_schema
from tests.integration.org_fixtures import (  # noqa: F401 - fixtures are found by name
    engine,
    jwt_keys,
    served_org,
    sf_client,
    sf_org,
    tls_material,
)
from tests.integration.pg import fresh_schema


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A state store in a fresh PostgreSQL schema, dropped afterwards; skips when no server answers."""
    with fresh_schema() as url:
        eng = make_engine(url)
        init_schema(eng)
        try:
            yield eng
        finally:
            eng.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.long` tests run only with CSM_SYNC_LONG=1 or when `-m` names them; the default
    suite (and `.ci/run`) keeps their quick variants."""
    if os.environ.get("CSM_SYNC_LONG") == "1" or "long" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="long variant: set CSM_SYNC_LONG=1 or select with -m long")
    for item in items:
        if item.get_closest_marker("long") is not None:
            item.add_marker(skip)
