"""Shard leases and firings on SQLite, with time passed in: claim, renew, take over, finish, prune."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from state import leases
from worker.app import App

T0 = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
TTL = timedelta(seconds=30)
KEY = "2026-03-02T09:15:00Z"


def opened(app: App, shards: list[list[str]]) -> None:
    assert leases.open_firing(app.engine, "pull", KEY, "a", T0)
    leases.publish_shards(app.engine, "pull", KEY, "run1", shards, T0)


def test_only_the_first_replica_opens_a_firing(make_app: Callable[..., App]) -> None:
    app = make_app()
    assert leases.open_firing(app.engine, "pull", KEY, "a", T0)
    assert not leases.open_firing(app.engine, "pull", KEY, "b", T0)
    assert leases.open_firing(app.engine, "pull", "2026-03-02T09:30:00Z", "b", T0)  # the next slot
    firing = leases.read_firing(app.engine, "pull", KEY)
    assert firing is not None and (firing.owner, firing.state) == ("a", "opening")


def test_claims_go_in_order_and_each_shard_once(make_app: Callable[..., App]) -> None:
    app = make_app()
    opened(app, [["S1", "S2"], ["S3"], ["S4"]])
    firing = leases.read_firing(app.engine, "pull", KEY)
    assert firing is not None and (firing.state, firing.run_id, firing.shards) == ("open", "run1", 3)
    a = leases.claim_shard(app.engine, "pull", KEY, "a", T0, TTL)
    b = leases.claim_shard(app.engine, "pull", KEY, "b", T0, TTL)
    c = leases.claim_shard(app.engine, "pull", KEY, "a", T0, TTL)
    assert [x.shard for x in (a, b, c) if x] == [0, 1, 2]
    assert a is not None and a.stores == ("S1", "S2") and a.attempt == 1
    assert leases.claim_shard(app.engine, "pull", KEY, "c", T0, TTL) is None
    assert leases.progress(app.engine, "pull", KEY, T0) == leases.Progress(0, 3, 0, 0)


def test_a_lease_renewed_in_time_is_never_taken(make_app: Callable[..., App]) -> None:
    app = make_app()
    opened(app, [["S1"]])
    claim = leases.claim_shard(app.engine, "pull", KEY, "a", T0, TTL)
    assert claim is not None
    for i in range(1, 5):
        assert leases.renew_shard(app.engine, claim, T0 + timedelta(seconds=20 * i), TTL)
        assert (
            leases.claim_shard(app.engine, "pull", KEY, "b", T0 + timedelta(seconds=20 * i + 1), TTL) is None
        )


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_finish(
    make_app: Callable[..., App],
) -> None:
    app = make_app()
    opened(app, [["S1"]])
    dead = leases.claim_shard(app.engine, "pull", KEY, "a", T0, TTL)
    assert dead is not None
    later = T0 + TTL + timedelta(seconds=1)
    assert leases.progress(app.engine, "pull", KEY, later).expired == 1
    heir = leases.claim_shard(app.engine, "pull", KEY, "b", later, TTL)
    assert heir is not None and heir.shard == dead.shard and heir.attempt == 2
    assert not leases.renew_shard(app.engine, dead, later, TTL)
    assert not leases.finish_shard(app.engine, dead, later, {"exit_code": 0})
    with app.engine.begin() as conn:
        assert not dead.complete(conn, later)
    assert leases.finish_shard(app.engine, heir, later, {"exit_code": 0})
    (row,) = leases.shard_outcomes(app.engine, "pull", KEY)
    assert (row["owner"], row["attempts"], row["state"], row["outcome"]) == ("b", 2, "done", {"exit_code": 0})
    assert leases.progress(app.engine, "pull", KEY, later).finished


def test_a_body_can_complete_its_shard_in_its_own_transaction(make_app: Callable[..., App]) -> None:
    app = make_app()
    opened(app, [["S1"]])
    claim = leases.claim_shard(app.engine, "pull", KEY, "a", T0, TTL)
    assert claim is not None
    with app.engine.begin() as conn:
        assert claim.complete(conn, T0)
    assert leases.finish_shard(
        app.engine, claim, T0, {"exit_code": 0}
    )  # the worker still records the outcome
    assert leases.shard_outcomes(app.engine, "pull", KEY)[0]["outcome"] == {"exit_code": 0}


def test_a_released_shard_goes_back_to_pending(make_app: Callable[..., App]) -> None:
    app = make_app()
    opened(app, [["S1"]])
    claim = leases.claim_shard(app.engine, "pull", KEY, "a", T0, TTL)
    assert claim is not None and leases.release_shard(app.engine, claim)
    again = leases.claim_shard(app.engine, "pull", KEY, "b", T0, TTL)
    assert again is not None and again.attempt == 1


def test_one_replica_closes_a_firing(make_app: Callable[..., App]) -> None:
    app = make_app()
    opened(app, [["S1"]])
    assert leases.close_firing(app.engine, "pull", KEY, "done", T0, expect="open")
    assert not leases.close_firing(app.engine, "pull", KEY, "done", T0, expect="open")


def test_old_firings_are_pruned_whatever_their_state(make_app: Callable[..., App]) -> None:
    app = make_app()
    opened(app, [["S1"], ["S2"]])  # left open: every replica died
    assert leases.open_firing(app.engine, "pull", "2026-03-08T09:15:00Z", "a", T0 + timedelta(days=6))
    assert leases.prune(app.engine, T0 + timedelta(days=8), timedelta(days=7)) == 1
    assert leases.read_firing(app.engine, "pull", KEY) is None
    assert leases.shard_outcomes(app.engine, "pull", KEY) == []
    assert leases.read_firing(app.engine, "pull", "2026-03-08T09:15:00Z") is not None
