"""The mutation benchmark, reduced: mutated payloads across every connector over HTTPS, no crash, no loss.

`bench/bench_mutations.py` runs 1,000 mutated payloads; the default suite runs a few hundred on a
small portfolio, and `CSM_SYNC_LONG=1` the full thousand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bench.bench_mutations import Sandbox, describe, trial
from sandbox.portfolio import Portfolio
from sandbox.server import serve
from sandbox.sources import build_app
from sandbox.tls import TLSMaterial

pytestmark = pytest.mark.integration

LONG = os.environ.get("CSM_SYNC_LONG") == "1"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    tmp = tmp_path_factory.mktemp("mutations")
    app = build_app(Portfolio(7, date(2026, 6, 17), days=22 if LONG else 8, orders_per_day=12))
    with serve(app, TLSMaterial.create(tmp)) as server:
        yield describe(app, server)


def test_mutated_payloads_across_every_connector_crash_nothing_and_lose_nothing(
    box: Sandbox, tmp_path: Path
) -> None:
    payloads = 1000 if LONG else 250
    # Two Dutchie and two Treez stores keep it quick; the directory and the feeds list all 40.
    stores = None if LONG else {*sorted(box.dutchie)[:2], *sorted(box.treez)[:2]}
    result = trial(
        box, tmp_path, payloads=payloads, days=21 if LONG else 7, mutate_bytes=200_000, stores=stores
    )
    assert result["crashes"] == []
    assert result["silent_losses"] == {}
    assert result["mutated"] >= payloads * 0.6, result["kinds"]
    assert len(result["kinds"]) >= 10  # sizes, types, ranges, encodings all served
    assert result["quarantined"] > 0 and result["damaged_reported_failed"] > 0
    assert result["recovered_ok"]
    growth = result["db_mutated_bytes"] - result["db_clean_bytes"]
    assert growth < 20_000 * result["quarantined"]  # a quarantined record costs a bounded row
