"""Shard assignment: deterministic on every replica, complete, and keeping an MSO's locations together."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.salesforce.client import LimitReached, SalesforceUnavailable
from jobs.sync import SafetyRefused
from worker.runner import ExitCode
from worker.settings import ConfigError
from worker.shards import assign, classify, merge_counts, shard_count, shard_of, split

STORES = [f"{state}-{i:03d}" for state in ("NV", "AZ", "CA", "IL", "MI", "CO") for i in range(1, 11)]


def test_shard_of_does_not_depend_on_the_process() -> None:
    # Python's hash() is salted per process; replicas must agree, so compare with a fresh interpreter.
    code = "from worker.shards import shard_of; print([shard_of(f'S-{i}', 7) for i in range(50)])"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    )
    assert other.stdout.strip() == str([shard_of(f"S-{i}", 7) for i in range(50)])


def test_every_store_lands_in_exactly_one_shard() -> None:
    shards = assign({s: s for s in STORES}, 8)
    placed = [s for shard in shards for s in shard]
    assert sorted(placed) == sorted(STORES)
    assert len(placed) == len(set(placed))
    assert len(shards) == 8
    assert all(shard == sorted(shard) for shard in shards)


def test_assignment_is_deterministic_whatever_the_order() -> None:
    forward = assign({s: s for s in STORES}, 5)
    backward = assign({s: s for s in reversed(STORES)}, 5)
    assert forward == backward


def test_shards_are_roughly_even() -> None:
    stores = [f"S-{i:05d}" for i in range(10_000)]
    sizes = [len(s) for s in assign({s: s for s in stores}, 20)]
    assert min(sizes) > 400 and max(sizes) < 600  # 500 each on average


def test_locations_of_one_mso_stay_together() -> None:
    groups = {s: ("MSO-1" if s.startswith("NV") else s) for s in STORES}
    shards = assign(groups, 6)
    holding = [i for i, shard in enumerate(shards) if any(s.startswith("NV") for s in shard)]
    assert len(holding) == 1
    assert sum(s.startswith("NV") for s in shards[holding[0]]) == 10


@pytest.mark.parametrize(
    ("stores", "configured", "expected"),
    [(0, 0, 1), (1, 0, 1), (60, 0, 1), (251, 0, 2), (10_000, 0, 40), (60, 12, 12), (5, 12, 5)],
)
def test_shard_count(stores: int, configured: int, expected: int) -> None:
    assert shard_count(stores, configured) == expected


@given(st.sets(st.text(min_size=1, max_size=12), max_size=80), st.integers(min_value=1, max_value=16))
def test_assignment_is_a_partition(stores: set[str], n: int) -> None:
    shards = assign({s: s for s in stores}, n)
    assert len(shards) == n
    assert sorted(s for shard in shards for s in shard) == sorted(stores)
    assert all(shard_of(s, n) == i for i, shard in enumerate(shards) for s in shard)


def test_merge_counts_sums_numbers_and_joins_lists() -> None:
    run: dict[str, object] = {}
    merge_counts(run, {"plan": {"create": 2, "update": 1}, "accounts": 10, "unmatched": ["a"], "mode": "x"})
    merge_counts(run, {"plan": {"create": 3, "close": 1}, "accounts": 5, "unmatched": ["b"], "mode": "y"})
    assert run == {
        "plan": {"create": 5, "update": 1, "close": 1},
        "accounts": 15,
        "unmatched": ["a", "b"],
        "mode": "y",
    }


def test_errors_map_to_the_runner_exit_codes() -> None:
    assert classify(ConfigError(["x"])) == ExitCode.CONFIG
    assert classify(SafetyRefused("x")) == ExitCode.REFUSED
    assert classify(SalesforceUnavailable("x")) == ExitCode.UNAVAILABLE
    assert classify(LimitReached("x")) == ExitCode.PARTIAL
    assert classify(RuntimeError("x")) == ExitCode.PARTIAL


def test_a_job_adding_up_the_portfolio_is_one_shard_the_others_split() -> None:
    groups = {f"S-{i:03d}": f"S-{i:03d}" for i in range(600)}
    (whole,) = split("voice", groups)
    assert whole == sorted(groups)
    (briefs,) = split("digest", groups)  # each CSM's whole book: one read, not one a shard
    assert briefs == sorted(groups)
    assert len(split("nps_followup", groups)) == 3
