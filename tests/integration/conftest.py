"""Integration fixtures: sandbox orgs (in-process and over HTTPS) from org_fixtures; long variants opt-in."""

from __future__ import annotations

import os

import pytest

from tests.integration.org_fixtures import (  # noqa: F401 - fixtures are found by name
    engine,
    jwt_keys,
    served_org,
    sf_client,
    sf_org,
    tls_material,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.long` tests run only with CSM_SYNC_LONG=1 or when `-m` names them; the default
    suite (and `.ci/run`) keeps their quick variants."""
    if os.environ.get("CSM_SYNC_LONG") == "1" or "long" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="long variant: set CSM_SYNC_LONG=1 or select with -m long")
    for item in items:
        if item.get_closest_marker("long") is not None:
            item.add_marker(skip)
