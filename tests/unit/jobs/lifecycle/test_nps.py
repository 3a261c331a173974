"""NPS follow-up: detractors get a Task due within two business days; promoters mark a reference candidate."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.nps import NpsJob, add_business_days, assess, load
from jobs.plan import diff
from mappings.lifecycle import FileError

from .builders import MAPPINGS, NOW, TODAY, account_data, rerun_is_noop, written

JOB = NpsJob.build(MAPPINGS)
FRESH = {"nps": NOW}


def answer(n: int, score: int, days_ago: int, comment: str = "") -> dict[str, Any]:
    day = TODAY - timedelta(days=days_ago)
    return {"_key": f"IL-006:nps-{n}", "_day": day.isoformat(), "score": score, "comment": comment,
            "responded_at": f"{day.isoformat()}T15:00:00Z"}  # fmt: skip


def store(*answers: dict[str, Any], **kw: Any) -> Any:
    kw.setdefault("last_success", FRESH)
    return account_data("IL-006", records={"responses": list(answers)}, **kw)


def tasks(out: Any) -> dict[str, Any]:
    return {d.key: d for d in out if d.sobject == "Task"}


@pytest.mark.parametrize(
    ("day", "n", "due"),
    [
        (date(2026, 11, 23), 2, date(2026, 11, 25)),  # Monday → Wednesday
        (date(2026, 11, 20), 2, date(2026, 11, 24)),  # Friday → Tuesday
        (date(2026, 11, 21), 2, date(2026, 11, 24)),  # Saturday → Tuesday
        (date(2026, 11, 20), 0, date(2026, 11, 20)),
    ],
)
def test_business_days_skip_the_weekend(day: date, n: int, due: date) -> None:
    assert add_business_days(day, n) == due


def test_a_detractor_gets_a_task_carrying_the_comment_due_in_two_business_days() -> None:
    out = JOB.evaluate(store(answer(1, 4, 3, "Menu keeps  breaking on weekends"), answer(2, 8, 40)))
    (t,) = tasks(out).values()
    assert t.key == "nps:IL-006:nps-1"
    assert t.create_only["OwnerId"] == "005CSM" and t.fields["Priority"] == "High"
    assert 'Their comment: "Menu keeps breaking on weekends"' in t.create_only["Description"]
    (quiet,) = tasks(JOB.evaluate(store(answer(1, 0, 1)))).values()
    assert "Their comment: (left blank)" in quiet.create_only["Description"]
    assert "scored 4" in t.create_only["Subject"]
    answered = TODAY - timedelta(days=3)  # Friday 20 Nov → due Tuesday 24 Nov
    assert t.create_only["ActivityDate"] == add_business_days(answered, 2) == date(2026, 11, 24)


@pytest.mark.parametrize("score", [7, 8, 9, 10])
def test_passives_and_promoters_get_no_follow_up(score: int) -> None:
    assert tasks(JOB.evaluate(store(answer(1, score, 2)))) == {}


def test_an_old_detractor_gets_no_new_task_but_an_open_one_is_kept() -> None:
    old = store(answer(1, 3, 45))
    assert tasks(JOB.evaluate(old)) == {}
    kept = store(answer(1, 3, 45), attrs={"open_keys": {"Task": ["nps:IL-006:nps-1"]}})
    (hold,) = tasks(JOB.evaluate(kept)).values()
    assert (hold.fields, hold.create_only) == ({}, {})  # a hold: not closed, not rewritten
    assert diff(JOB.evaluate(kept), {("Task", hold.key): {"Sync_Key__c": hold.key, "IsClosed": False}},
                JOB.managed(NOW)).changes == ()  # fmt: skip


def test_a_later_better_answer_completes_the_follow_up() -> None:
    first = JOB.evaluate(store(answer(1, 5, 10)))
    plan = diff(first, {}, JOB.managed(NOW))
    org = written(plan)
    assert rerun_is_noop(first, JOB.managed(NOW))
    later = JOB.evaluate(
        store(answer(1, 5, 10), answer(2, 8, 1), attrs={"open_keys": {"Task": ["nps:IL-006:nps-1"]}})
    )
    closes = [(c.op, c.key) for c in diff(later, org, JOB.managed(NOW)).changes]
    assert closes == [("close", "nps:IL-006:nps-1")]
    # The survey tool corrected the score itself: no longer a detractor, the Task completes too.
    corrected = JOB.evaluate(store(answer(1, 7, 10), attrs={"open_keys": {"Task": ["nps:IL-006:nps-1"]}}))
    assert [(c.op, c.key) for c in diff(corrected, org, JOB.managed(NOW)).changes] == closes


def test_stale_nps_data_holds_open_tasks_and_writes_nothing() -> None:
    stale = store(answer(1, 2, 1), last_success={"nps": NOW - timedelta(days=5)},
                  attrs={"open_keys": {"Task": ["nps:IL-006:nps-0"]}})  # fmt: skip
    out = JOB.evaluate(stale)
    assert [(d.key, d.fields) for d in out] == [("nps:IL-006:nps-0", {})]


def test_a_recent_promoter_marks_a_reference_candidate_until_a_detractor_answers() -> None:
    promoter = JOB.evaluate(store(answer(1, 10, 20)))
    (acct,) = [d for d in promoter if d.sobject == "Account"]
    assert (acct.key, acct.fields) == ("IL-006", {"Reference_Candidate__c": True})
    # Marking an account is routine, not an overwrite the safety check would refuse on a first run.
    marked = diff(
        [acct], {("Account", "IL-006"): {"Store_Id__c": "IL-006", "Reference_Candidate__c": False}}, ()
    )
    assert len(marked.changes) == 1 and marked.change_share == 0
    assert assess(JOB.cfg, store(answer(1, 10, 20), answer(2, 6, 5))).candidate is False
    assert assess(JOB.cfg, store(answer(1, 10, 200))).candidate is False  # too long ago
    # Not a candidate and never marked: the Account is left alone (no write of False over nothing).
    assert [d for d in JOB.evaluate(store(answer(1, 8, 5))) if d.sobject == "Account"] == []
    # Marked before, a detractor since: the mark is taken back.
    unmark = JOB.evaluate(store(answer(1, 10, 20), answer(2, 6, 5), account={"Reference_Candidate__c": True}))
    assert [d.fields for d in unmark if d.sobject == "Account"] == [{"Reference_Candidate__c": False}]


def test_the_file_names_a_bad_key(tmp_path: Path) -> None:
    text = (MAPPINGS / "nps.toml").read_text().replace("promoter_min = 9", "promoter_min = 5")
    (tmp_path / "nps.toml").write_text(text)
    with pytest.raises(FileError) as err:
        load(tmp_path / "nps.toml")
    assert "promoter_min must be above detractor_max" in str(err.value)
    text = (MAPPINGS / "nps.toml").read_text().replace("{comment}", "{remark}")
    (tmp_path / "nps.toml").write_text(text)
    with pytest.raises(FileError) as err:
        load(tmp_path / "nps.toml")
    assert "detractor_task" in str(err.value) and "{remark}" in str(err.value)
