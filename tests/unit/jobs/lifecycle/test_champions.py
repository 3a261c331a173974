"""Champion change: a flag and a Task when the recorded champion left, was deactivated or changed role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobs.champions import ChampionsJob, assess, load
from jobs.plan import diff
from mappings.lifecycle import FileError

from .builders import MAPPINGS, NOW, TODAY, account_data, rerun_is_noop, written

JOB = ChampionsJob.build(MAPPINGS)
CFG = JOB.cfg
RECORDED = {"Champion_Contact__c": "003JANE", "Champion_Title__c": "General Manager",
            "Champion_Since__c": "2026-03-02"}  # fmt: skip


def contact(cid: str = "003JANE", **kw: Any) -> dict[str, Any]:
    row = {"Id": cid, "Name": "Jane Ortiz", "Title": "General Manager", "AccountId": "001A",
           "Champion__c": True, "Inactive__c": False}  # fmt: skip
    return {**row, **kw}


def store(contacts: list[dict[str, Any]], recorded: dict[str, Any] | None, **account: Any) -> Any:
    return account_data("IL-006", account=account, attrs={"contacts": contacts, "recorded": recorded})


def kinds(out: Any) -> dict[str, Any]:
    return {d.sobject: d for d in out}


def test_first_run_records_the_champion_without_a_flag() -> None:
    out = JOB.evaluate(store([contact()], None))
    (acct,) = out
    assert acct.sobject == "Account" and acct.key == "IL-006"
    assert acct.fields == {"Champion_Contact__c": "003JANE", "Champion_Title__c": "General Manager",
                           "Champion_Since__c": TODAY}  # fmt: skip
    assert rerun_is_noop(out, JOB.managed(NOW))


def test_an_account_that_never_had_a_champion_is_not_flagged() -> None:
    unmarked = contact(Champion__c=False)
    assert JOB.evaluate(store([unmarked], None)) == []
    cfg = CFG.model_copy(update={"flag_without_champion": True})
    v = assess(cfg, {"Id": "001A"}, [unmarked], None)
    assert v.change is not None and v.change.kind == "none"


def test_an_unchanged_champion_writes_nothing() -> None:
    assert JOB.evaluate(store([contact()], contact(), **RECORDED)) == []


def test_a_title_changed_only_in_case_or_spaces_is_no_role_change() -> None:
    same = contact(Title="  general   MANAGER ")
    assert JOB.evaluate(store([same], same, **RECORDED)) == []


@pytest.mark.parametrize(
    ("on_account", "recorded", "kind", "said"),
    [
        (
            [],
            contact(AccountId="001OTHER"),
            "left",
            "left the account (the Contact moved to Account 001OTHER)",
        ),
        ([], None, "deleted", "was deleted from Salesforce"),
        ([], contact(AccountId=None), "left", "left the account (the Contact has no Account now)"),
        ([contact(Inactive__c=True)], contact(Inactive__c=True), "deactivated", "was deactivated"),
        ([contact(Title="Buyer")], contact(Title="Buyer"), "role", '"General Manager" → "Buyer"'),
        ([contact(Champion__c=False)], contact(Champion__c=False), "unmarked", "Champion__c cleared"),
    ],
)
def test_each_change_raises_a_flag_and_a_task(
    on_account: list[dict[str, Any]], recorded: dict[str, Any] | None, kind: str, said: str
) -> None:
    out = JOB.evaluate(store(on_account, recorded, **RECORDED))
    got = kinds(out)
    assert set(got) == {"Risk_Flag__c", "Task"}  # the recorded champion stays until a new one is designated
    flag, task = got["Risk_Flag__c"], got["Task"]
    assert flag.key == "champion:IL-006" and flag.fields["Rule__c"] == "champion_change"
    assert flag.fields["Name"].startswith("Champion ") and len(flag.fields["Name"]) < 80  # not cut
    assert flag.fields["Severity__c"] == "High" and flag.fields["Category__c"] == "Relationship"
    assert said in flag.fields["Evidence__c"]
    assert "champion since 2026-03-02 as General Manager" in flag.fields["Evidence__c"]
    assert json.loads(flag.fields["Evidence_Data__c"])["kind"] == kind
    assert task.key == "champion:IL-006:new-champion"
    assert task.create_only["Subject"].startswith("Find a new champion at Copper Leaf")
    assert task.create_only["OwnerId"] == "005CSM" and task.fields["Priority"] == "High"
    assert rerun_is_noop(out, JOB.managed(NOW))


def test_a_new_champion_moves_the_record_and_closes_the_flag_and_task() -> None:
    gone = contact(AccountId="001OTHER")
    before = JOB.evaluate(store([], gone, **RECORDED))
    current = written(diff(before, {}, JOB.managed(NOW)))
    for rec in current.values():
        rec.update({"Account__c": "001A", "WhatId": "001A", "_account_key": "IL-006"})
    new = contact("003MAX", Name="Max Bell", Title="Owner")
    after = JOB.evaluate(store([new], gone, **RECORDED))
    (acct,) = after
    assert acct.fields["Champion_Contact__c"] == "003MAX" and acct.fields["Champion_Title__c"] == "Owner"
    plan = diff(after, current, JOB.managed(NOW))
    closed = {(c.sobject, c.key): c.fields for c in plan.changes if c.op == "close"}
    assert closed[("Risk_Flag__c", "champion:IL-006")]["Status__c"] == "Resolved"
    assert closed[("Task", "champion:IL-006:new-champion")]["Status"] == "Completed"


def test_a_champion_set_by_hand_without_a_title_gets_it_recorded_without_a_flag() -> None:
    by_hand = {**RECORDED, "Champion_Title__c": None}
    (acct,) = JOB.evaluate(store([contact()], contact(), **by_hand))
    assert acct.fields == {"Champion_Contact__c": "003JANE", "Champion_Title__c": "General Manager"}


def test_a_csm_confirms_the_same_contact_in_a_new_role_by_setting_the_title() -> None:
    buyer = contact(Title="Buyer")
    assert kinds(JOB.evaluate(store([buyer], buyer, **RECORDED))).keys() == {"Risk_Flag__c", "Task"}
    assert JOB.evaluate(store([buyer], buyer, **{**RECORDED, "Champion_Title__c": "Buyer"})) == []


def test_champion_by_title() -> None:
    cfg = CFG.model_copy(update={"by": "title"})
    owner = contact("003MAX", Title="owner", Champion__c=False)
    clerk = contact("003AAA", Title="Clerk", Champion__c=True)
    v = assess(cfg, {"Id": "001A"}, [clerk, owner], None)
    assert v.champion is not None and v.champion.id == "003MAX"


def test_a_bad_file_names_the_key_and_the_fix(tmp_path: Path) -> None:
    text = (MAPPINGS / "champions.toml").read_text().replace('by = "flag"', 'by = "title"')
    text = text.replace('titles = ["Owner", "General Manager"]', "titles = []")
    (tmp_path / "champions.toml").write_text(text)
    with pytest.raises(FileError) as err:
        load(tmp_path / "champions.toml")
    assert "champions.toml" in str(err.value) and 'by = "title" needs titles' in str(err.value)
    text = (MAPPINGS / "champions.toml").read_text().replace("{history}", "{past}")
    (tmp_path / "champions.toml").write_text(text)
    with pytest.raises(FileError) as err:
        load(tmp_path / "champions.toml")
    assert "task" in str(err.value) and "{past}" in str(err.value)


class Org:
    """Answers the two Contact reads: by account, then the recorded champions found elsewhere."""

    def __init__(self) -> None:
        self.soql: list[str] = []

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        self.soql.append(soql)
        if "AccountId IN" in soql:
            yield contact("003NEW", Name="Max Bell")
        else:
            yield contact(AccountId="001OTHER")


def test_prepare_reads_the_contacts_and_follows_a_champion_who_moved() -> None:
    org = Org()
    accounts = {"IL-006": {"Id": "001A", **RECORDED, "Champion_Contact__c": "003JA'NE"}}
    got = JOB.prepare(org, accounts, NOW)
    assert [c["Id"] for c in got["IL-006"]["contacts"]] == ["003NEW"]
    assert len(org.soql) == 2 and "FROM Contact" in org.soql[0]
    assert "'003JA\\'NE'" in org.soql[1]  # the recorded id is escaped


def test_explain_tells_the_recorded_champion_and_the_change() -> None:
    got = JOB.explain(store([], None, **RECORDED))
    assert got["recorded"] == "003JANE" and got["record"] is None
    assert got["change"] == {"kind": "deleted", "what": "was deleted from Salesforce"}


ROLE_JOB = ChampionsJob(
    CFG.model_copy(update={"by": "role", "roles": ("Decision Maker", "Executive Sponsor")})
)
AS_DECIDER = {**RECORDED, "Champion_Title__c": "Decision Maker"}


def acr(cid: str = "003JANE", role: str = "Decision Maker", primary: bool = False) -> dict[str, Any]:
    return {
        "Id": f"02Z{cid}{role}",
        "AccountId": "001A",
        "ContactId": cid,
        "Role": role,
        "IsPrimary": primary,
    }


def by_role(contacts: list[dict[str, Any]], recorded: dict[str, Any] | None, roles: list[dict[str, Any]],
            **account: Any) -> Any:  # fmt: skip
    attrs = {"contacts": contacts, "recorded": recorded, "roles": roles}
    return account_data("IL-006", account=account, attrs=attrs)


def test_by_role_the_contact_holding_a_champion_role_is_recorded_with_the_role() -> None:
    jane = contact(Champion__c=False, Title="Buyer")
    flagged = contact("003AAA", Name="Al Flag", Champion__c=True)  # the checkbox does not count by role
    out = ROLE_JOB.evaluate(by_role([flagged, jane], None, [acr(), acr("003AAA", "Influencer")]))
    (acct,) = out
    assert acct.fields == {"Champion_Contact__c": "003JANE", "Champion_Title__c": "Decision Maker",
                           "Champion_Since__c": TODAY}  # fmt: skip
    assert rerun_is_noop(out, ROLE_JOB.managed(NOW))
    assert ROLE_JOB.evaluate(by_role([flagged], None, [acr("003AAA", "Influencer")])) == []


def test_by_role_an_unchanged_role_holder_writes_nothing_whatever_the_case_or_spaces() -> None:
    jane = contact(Title="Buyer")
    assert ROLE_JOB.evaluate(by_role([jane], jane, [acr(role=" decision  MAKER ")], **AS_DECIDER)) == []


@pytest.mark.parametrize(
    ("roles", "kind", "said", "headline"),
    [
        ([], "unmarked", 'role on the account: "Decision Maker" → none', "no longer marked"),
        ([acr(role="Other")], "role", 'changed role: "Decision Maker" → "Other"', "changed role"),
        ([acr(role="Influencer"), acr("003AAA", "Other")], "role", '"Decision Maker" → "Influencer"',
         "changed role"),
    ],
)  # fmt: skip
def test_by_role_a_removed_or_changed_role_raises_a_flag_and_a_task(
    roles: list[dict[str, Any]], kind: str, said: str, headline: str
) -> None:
    jane = contact()
    out = ROLE_JOB.evaluate(by_role([jane], jane, roles, **AS_DECIDER))
    got = kinds(out)
    assert set(got) == {"Risk_Flag__c", "Task"}
    flag = got["Risk_Flag__c"]
    assert flag.fields["Name"] == f"Champion {headline}: Jane Ortiz (Decision Maker)"
    assert said in flag.fields["Evidence__c"]
    assert "champion since 2026-03-02 as Decision Maker" in flag.fields["Evidence__c"]
    evidence = json.loads(flag.fields["Evidence_Data__c"])
    assert evidence["kind"] == kind and said in evidence["what"]
    assert said in got["Task"].create_only["Subject"]
    assert rerun_is_noop(out, ROLE_JOB.managed(NOW))


def test_by_role_a_new_role_holder_moves_the_record_and_closes_the_flag_and_task() -> None:
    jane = contact()
    before = ROLE_JOB.evaluate(by_role([jane], jane, [], **AS_DECIDER))
    current = written(diff(before, {}, ROLE_JOB.managed(NOW)))
    for rec in current.values():
        rec.update({"Account__c": "001A", "WhatId": "001A", "_account_key": "IL-006"})
    max_ = contact("003MAX", Name="Max Bell", Champion__c=False)
    after = ROLE_JOB.evaluate(by_role([jane, max_], jane, [acr("003MAX", "Executive Sponsor")], **AS_DECIDER))
    (acct,) = after
    assert (acct.fields["Champion_Contact__c"], acct.fields["Champion_Title__c"]) == (
        "003MAX",
        "Executive Sponsor",
    )
    plan = diff(after, current, ROLE_JOB.managed(NOW))
    assert {(c.op, c.sobject) for c in plan.changes if c.op == "close"} == {("close", "Risk_Flag__c"),
                                                                             ("close", "Task")}  # fmt: skip


def test_by_role_primary_only_counts_the_primary_role_alone() -> None:
    job = ChampionsJob(ROLE_JOB.cfg.model_copy(update={"primary_only": True}))
    jane, max_ = contact(), contact("003MAX", Name="Max Bell")
    roles = [acr(role="Decision Maker"), acr("003MAX", "Executive Sponsor", primary=True)]
    (acct,) = job.evaluate(by_role([jane, max_], None, roles))
    assert (acct.fields["Champion_Contact__c"], acct.fields["Champion_Title__c"]) == (
        "003MAX",
        "Executive Sponsor",
    )
    # Jane, recorded as Decision Maker, still holds the role but no longer as the primary contact.
    flag = kinds(job.evaluate(by_role([jane], jane, [acr()], **AS_DECIDER)))["Risk_Flag__c"]
    assert json.loads(flag.fields["Evidence_Data__c"])["kind"] == "unmarked"
    assert 'role "Decision Maker" no longer primary' in flag.fields["Evidence__c"]
    assert job.evaluate(by_role([jane], jane, [acr(primary=True)], **AS_DECIDER)) == []


def test_by_role_without_roles_is_refused_naming_the_file_the_key_and_the_fix(tmp_path: Path) -> None:
    text = (MAPPINGS / "champions.toml").read_text().replace('by = "flag"', 'by = "role"')
    (tmp_path / "champions.toml").write_text(
        text.replace('roles = ["Decision Maker", "Executive Sponsor"]', "roles = []")
    )
    with pytest.raises(FileError) as err:
        load(tmp_path / "champions.toml")
    said = str(err.value)
    assert "champions.toml" in said and 'by = "role" needs roles' in said
    assert 'roles = ["Decision Maker", "Executive Sponsor"]' in said


class RoleOrg:
    """Answers the Contact and AccountContactRole reads by account."""

    def __init__(self) -> None:
        self.soql: list[str] = []

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        self.soql.append(soql)
        if "FROM AccountContactRole" in soql:
            yield from (acr(), acr("003MAX", "Other"), {**acr("003ZED"), "AccountId": "001ELSEWHERE"})
        else:
            yield contact()


def test_prepare_by_role_reads_the_accounts_roles_in_one_query() -> None:
    org = RoleOrg()
    got = ROLE_JOB.prepare(org, {"IL-006": {"Id": "001A", **AS_DECIDER}}, NOW)
    assert [r["ContactId"] for r in got["IL-006"]["roles"]] == ["003JANE", "003MAX"]
    (roles,) = [q for q in org.soql if "FROM AccountContactRole" in q]
    assert "AccountId IN ('001A')" in roles and "IsPrimary" in roles
    assert len(org.soql) == 2  # Contacts and roles; the recorded champion is among the Contacts
    assert JOB.prepare(RoleOrg(), {"IL-006": {"Id": "001A", **RECORDED}}, NOW)["IL-006"]["roles"] == []
