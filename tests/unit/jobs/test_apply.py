"""The outbox: persisted before the first call, every row marked, kills resumed without loss or duplicate."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from connectors.salesforce.client import LimitReached
from jobs.apply import ApplyOptions, ApplyReport, enqueue, pending_ids, prune, send
from jobs.plan import Create, Plan
from state.tables import OutboxEntry

from .fakes import NOW, FakeOrg, Killed, engine_at, outbox, plan_of, statuses


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return engine_at(tmp_path / "state.db")


def opts(**kw: object) -> ApplyOptions:
    sleeps: list[float] = []
    kw.setdefault("sleep", sleeps.append)
    return ApplyOptions(**kw)  # type: ignore[arg-type]


def apply(
    engine: Engine, org: FakeOrg, plan: Plan, o: ApplyOptions, run_id: str = "r1", job: str = "j"
) -> ApplyReport:
    q = enqueue(engine, plan, run_id, job, NOW, o)
    report = send(engine, org, q.ids, NOW, o)
    report.skipped_dead = q.skipped_dead
    return report


def resume(engine: Engine, org: FakeOrg, o: ApplyOptions, job: str = "j", run_id: str = "r2") -> ApplyReport:
    return send(engine, org, pending_ids(engine, None, NOW, o, job=job, exclude_run=run_id), NOW, o)


def test_the_plan_is_in_the_outbox_before_the_first_call(engine: Engine) -> None:
    seen: list[dict[str, int]] = []
    org = FakeOrg(raise_on=lambda p: seen.append(statuses(engine)) if p == "before:collections" else None)  # type: ignore[func-returns-value]
    apply(engine, org, plan_of(3, accounts=2), opts())
    assert seen[0] == {"pending": 3, "sending": 2}  # all rows written; the first batch marked in flight


def test_every_row_is_marked_with_its_result(engine: Engine) -> None:
    org = FakeOrg()
    org.records[("Risk_Flag__c", "u0000")] = {"Id": "x1"}
    org.records[("Risk_Flag__c", "c0000")] = {"Id": "x2"}
    report = apply(engine, org, plan_of(3, updates=1, closes=1), opts())
    assert (report.created, report.updated, report.closed, report.failed, report.queued) == (3, 1, 1, 0, 0)
    rows = outbox(engine)
    assert {r.status for r in rows} == {"sent"}
    assert {r.key: r.result["id"] for r in rows}["u0000"] == "x1"
    assert all(r.result["account"] for r in rows)


def test_collections_take_200_records_per_call_parents_first_grouped_by_account(engine: Engine) -> None:
    org = FakeOrg()
    apply(engine, org, plan_of(450, accounts=3, tasks=5), opts())
    assert [(k, s, n) for k, s, n in org.calls] == [
        ("collections", "Account", 3),
        ("collections", "Risk_Flag__c", 200),
        ("collections", "Risk_Flag__c", 200),
        ("collections", "Risk_Flag__c", 50),
        ("collections", "Task", 5),
    ]
    first = org.batches[1]
    accounts = [int(k[1:]) % 7 for k in first]  # f{i} belongs to account S{i % 7}
    assert accounts == sorted(accounts)  # one account's records go together


def test_bulk_above_the_threshold_persists_the_job_id_before_the_upload(engine: Engine) -> None:
    seen: list[set[str]] = []

    def check(point: str) -> None:
        if point == "bulk:created":
            seen.append(
                {str(r.result.get("bulk_job")) for r in outbox(engine) if r.sobject == "Risk_Flag__c"}
            )

    org = FakeOrg(raise_on=check)  # type: ignore[arg-type]
    report = apply(engine, org, plan_of(30, accounts=5), opts(bulk_threshold=10))
    assert [k for k, _, _ in org.calls] == ["collections", "bulk"]
    assert seen == [{"750001"}]
    assert report.created == 35 and all("bulk_job" not in r.result for r in outbox(engine))


def test_record_errors_keep_the_message_and_die_after_max_attempts(engine: Engine) -> None:
    org = FakeOrg(
        errors=lambda _s, r: (
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" if r["Sync_Key__c"] == "f0001" else None
        )
    )
    o = opts(max_attempts=2)
    first = apply(engine, org, plan_of(3), o, run_id="r1")
    assert (first.created, first.failed, first.dead) == (2, 1, 0)
    row = next(r for r in outbox(engine) if r.key == "f0001")
    assert (row.status, row.attempts) == ("failed", 1)
    assert (
        row.error
        == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST on f0001"
    )
    again = apply(engine, org, Plan((plan_of(3).changes[1],)), o, run_id="r2")  # same payload replanned
    assert (again.failed, again.dead) == (1, 1)
    third = apply(engine, org, Plan((plan_of(3).changes[1],)), o, run_id="r3")
    assert third.skipped_dead == 1 and org.writes() == 2  # not sent again while its payload is the same
    changed = Create("Risk_Flag__c", "Sync_Key__c", "f0001", {"Status__c": "Open", "Severity__c": "Low"})
    org.errors = lambda _s, _r: None
    fourth = apply(engine, org, Plan((changed,)), o, run_id="r4")
    assert fourth.created == 1  # a new desired state gets a fresh start


def test_locked_rows_are_retried_in_rounds_with_backoff_then_left_queued(engine: Engine) -> None:
    sleeps: list[float] = []
    org = FakeOrg(locks={"f0000": 2, "f0001": 99})
    report = apply(engine, org, plan_of(3), ApplyOptions(sleep=sleeps.append, lock_retry_rounds=3))
    assert report.created == 2 and report.failed == 0 and report.queued == 1
    assert [n for _, _, n in org.calls] == [3, 2, 2, 1]  # retries go together, after the batch
    assert len(sleeps) == 3 and sleeps[0] < sleeps[2] <= 15
    row = next(r for r in outbox(engine) if r.key == "f0001")
    assert (row.status, row.attempts) == ("pending", 0) and "UNABLE_TO_LOCK_ROW" in row.error
    org.locks.clear()
    assert resume(engine, org, opts()).created == 1


def test_lock_backoff_doubles_up_to_ten_seconds_with_jitter_from_the_injected_source(engine: Engine) -> None:
    sleeps: list[float] = []
    org = FakeOrg(locks={"f0000": 99})
    opts = ApplyOptions(sleep=sleeps.append, lock_retry_rounds=5, rng=random.Random(7))
    random.seed(1)  # the process-wide source plays no part
    apply(engine, org, plan_of(1), opts)
    jitter = random.Random(7)
    assert sleeps == [min(2.0**n, 10.0) * (0.5 + jitter.random()) for n in range(5)]
    assert all(0.5 * min(2.0**n, 10.0) <= s < 1.5 * min(2.0**n, 10.0) for n, s in enumerate(sleeps))


def test_a_limit_stops_cleanly_and_leaves_the_rest_queued(engine: Engine) -> None:
    calls = {"n": 0}

    def limit(point: str) -> BaseException | None:
        if point == "before:collections":
            calls["n"] += 1
            if calls["n"] == 2:
                return LimitReached("the org's daily API limit is reached")
        return None

    org = FakeOrg(raise_on=limit)
    report = apply(engine, org, plan_of(450), opts())
    assert report.stopped.startswith("the org's daily API limit")
    assert (report.created, report.queued) == (200, 250)
    org.raise_on = lambda _p: None
    assert resume(engine, org, opts()).created == 250
    assert statuses(engine) == {"sent": 450}


@pytest.mark.parametrize("point", ["before:collections", "after:collections"])
def test_a_kill_around_a_collections_call_resumes_without_loss_or_duplicate(
    engine: Engine, point: str
) -> None:
    plan = plan_of(250, accounts=3, updates=2)
    reference = FakeOrg()
    reference.records.update({("Risk_Flag__c", f"u{i:04d}"): {"Id": f"u{i}"} for i in range(2)})
    apply(engine_at(engine.url.database + ".ref"), reference, plan, opts())  # type: ignore[operator]
    org = FakeOrg()
    org.records.update({("Risk_Flag__c", f"u{i:04d}"): {"Id": f"u{i}"} for i in range(2)})
    hits = {"n": 0}

    def kill(p: str) -> bool:
        if p == point:
            hits["n"] += 1
            return hits["n"] == 2  # during the first flag batch
        return False

    org.kill = kill
    with pytest.raises(Killed):
        apply(engine, org, plan, opts())
    assert statuses(engine) == {"sent": 3, "sending": 200, "pending": 52}
    org.kill = lambda _p: False
    calls_before = len(org.calls)
    report = resume(engine, org, opts())
    assert statuses(engine) == {"sent": 255}
    assert {k: {f: v for f, v in r.items() if f != "Id"} for k, r in org.records.items()} == {
        k: {f: v for f, v in r.items() if f != "Id"} for k, r in reference.records.items()
    }
    writes = [c for c in org.calls[calls_before:] if c[0] == "collections"]
    if point == "after:collections":
        # The batch's 198 creates landed before the kill: found by one query and marked, not sent
        # again; its 2 updates are resent (idempotent) with the 52 rows never sent.
        assert report.settled == 198 and writes == [("collections", "Risk_Flag__c", 54)]
    else:
        assert report.settled == 0 and sum(n for _, _, n in writes) == 252


def test_a_kill_during_a_bulk_job_collects_that_job_instead_of_uploading_again(engine: Engine) -> None:
    org = FakeOrg(kill=lambda p: p == "bulk:closed")
    with pytest.raises(Killed):
        apply(engine, org, plan_of(30), opts(bulk_threshold=10))
    assert statuses(engine) == {"sending": 30}
    org.kill = lambda _p: False
    report = resume(engine, org, opts(bulk_threshold=10))
    assert report.created == 30 and statuses(engine) == {"sent": 30}
    assert [k for k, _, _ in org.calls] == ["bulk", "collect"]  # no second upload


def test_a_kill_before_the_bulk_upload_aborts_the_open_job_and_sends_the_rows(engine: Engine) -> None:
    org = FakeOrg(kill=lambda p: p == "bulk:created")
    with pytest.raises(Killed):
        apply(engine, org, plan_of(30), opts(bulk_threshold=10))
    org.kill = lambda _p: False
    report = resume(engine, org, opts(bulk_threshold=10))
    assert report.created == 30 and org.jobs["750001"].state == "Aborted"
    assert [k for k, _, _ in org.calls] == ["bulk", "collect", "bulk"]


def test_a_bulk_job_salesforce_forgot_is_settled_by_key(engine: Engine) -> None:
    org = FakeOrg(kill=lambda p: p == "bulk:closed")
    with pytest.raises(Killed):
        apply(engine, org, plan_of(30, updates=0), opts(bulk_threshold=10))
    org.jobs.clear()  # Salesforce keeps jobs 7 days
    org.kill = lambda _p: False
    report = resume(engine, org, opts(bulk_threshold=10))
    assert report.settled == 30 and org.writes() == 1


def test_a_failed_bulk_job_fails_its_rows_with_the_job_error(engine: Engine) -> None:
    org = FakeOrg(fail_bulk=True)
    report = apply(engine, org, plan_of(30), opts(bulk_threshold=10))
    assert report.failed == 30 and statuses(engine) == {"failed": 30}
    assert "InternalServerError" in outbox(engine)[0].error


def test_resume_is_scoped_to_the_job_and_skips_its_own_run(engine: Engine) -> None:
    o = opts()
    enqueue(engine, plan_of(2), "old", "j", NOW, o)
    enqueue(engine, plan_of(0, accounts=1), "other-job", "k", NOW, o)
    enqueue(engine, Plan((Create("Task", "Sync_Key__c", "t-mine", {"Subject": "x"}),)), "now", "j", NOW, o)
    ids = pending_ids(engine, None, NOW, o, job="j", exclude_run="now")
    keys = {r.key for r in outbox(engine) if r.id in ids}
    assert keys == {"f0000", "f0001"}


def test_rows_too_old_to_trust_are_superseded_not_sent(engine: Engine) -> None:
    o = opts(outbox_max_age=timedelta(hours=1))
    enqueue(engine, plan_of(2), "old", "j", NOW - timedelta(hours=2), o)
    assert pending_ids(engine, None, NOW, o) == []
    assert statuses(engine) == {"superseded": 2}
    assert {r.error for r in outbox(engine)} == {"expired before it could be sent"}


def test_a_new_plan_supersedes_open_rows_for_the_same_keys(engine: Engine) -> None:
    o = opts()
    enqueue(engine, plan_of(2), "r1", "j", NOW, o)
    with Session(engine) as s:
        row = s.get(OutboxEntry, 1)
        assert row is not None
        row.status = "sending"
        s.add(row)
        s.commit()
    q = enqueue(engine, plan_of(2), "r2", "j", NOW, o)
    assert q.superseded == 2 and len(q.ids) == 2
    assert statuses(engine) == {"superseded": 2, "pending": 2}


def test_an_unexpected_error_leaves_the_batch_in_flight_for_the_resume(engine: Engine) -> None:
    org = FakeOrg(raise_on=lambda p: RuntimeError("boom") if p == "after:collections" else None)
    with pytest.raises(RuntimeError):
        apply(engine, org, plan_of(5), opts())
    assert statuses(engine) == {"sending": 5}
    org.raise_on = lambda _p: None
    assert resume(engine, org, opts()).settled == 5


def test_settled_rows_are_pruned_after_the_retention_open_ones_never(engine: Engine) -> None:
    org = FakeOrg(errors=lambda _s, r: "INVALID_FIELD" if r["Sync_Key__c"] == "f0000" else None)
    apply(engine, org, plan_of(3), opts())
    enqueue(engine, plan_of(0, accounts=1), "r2", "j", NOW, opts())
    assert prune(engine, NOW + timedelta(days=1), timedelta(days=14)) == 0
    assert prune(engine, NOW + timedelta(days=15), timedelta(days=14)) == 2
    assert statuses(engine) == {"failed": 1, "pending": 1}


def test_another_jobs_open_row_for_the_same_record_is_kept(engine: Engine) -> None:
    o = opts()
    enqueue(engine, plan_of(0, accounts=1), "r1", "health", NOW, o)
    q = enqueue(engine, plan_of(0, accounts=1), "r2", "onboarding", NOW, o)
    assert q.superseded == 0 and statuses(engine) == {"pending": 2}
    q = enqueue(engine, plan_of(0, accounts=1), "r3", "health", NOW, o)
    assert q.superseded == 1
