"""Voice of the customer: requests matched by phrase, rolled up across accounts with their ARR."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.plan import diff
from jobs.voice import VoiceJob
from mappings.desired import Desired
from mappings.lifecycle import FileError
from mappings.voice import Matcher, VoiceFile, load, pattern

from .builders import MAPPINGS, NOW, TODAY, account_data, written

CFG = load(MAPPINGS / "voice.toml")


class Statuses:
    """The org as `prepare` reads it: the requests' current statuses."""

    def __init__(self, status: Mapping[str, str] | None = None) -> None:
        self.status = dict(status or {})

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        assert soql.startswith("SELECT Request_Key__c, Status__c FROM Product_Request__c WHERE")
        for key, status in self.status.items():
            yield {"Request_Key__c": key, "Status__c": status}


def ticket(store: str, n: int, subject: str, days_ago: int = 5) -> dict[str, Any]:
    day = TODAY - timedelta(days=days_ago)
    return {"_key": f"{store}:TKT-{n}", "_day": day.isoformat(), "id": f"TKT-{n}", "subject": subject}


def comment(store: str, n: int, text: str, days_ago: int = 5) -> dict[str, Any]:
    day = TODAY - timedelta(days=days_ago)
    return {
        "_key": f"{store}:nps-{n}",
        "_day": day.isoformat(),
        "id": f"nps-{n}",
        "score": 9,
        "comment": text,
    }


def store(sid: str, *recs: dict[str, Any], arr: float | None = 12_000.0, has_id: bool = True) -> Any:
    tickets = [r for r in recs if "subject" in r]
    answers = [r for r in recs if "comment" in r]
    account = {"Id": f"001{sid}" if has_id else None, "Name": f"Store {sid}", "ARR__c": arr}
    return account_data(sid, account=account, records={"tickets": tickets, "responses": answers})


def run(
    stores: Sequence[Any], status: Mapping[str, str] | None = None, cfg: VoiceFile = CFG
) -> tuple[VoiceJob, list[Desired]]:
    job = VoiceJob(cfg)
    accounts = {s.store_id: s.account for s in stores}
    job.prepare(Statuses(status), accounts, NOW)
    out: list[Desired] = []
    for s in stores:
        out += job.evaluate(s)
    out += job.finalize(accounts, out, NOW)
    return job, out


def requests(out: Sequence[Desired]) -> dict[str, Desired]:
    return {d.key: d for d in out if d.sobject == "Product_Request__c"}


def links(out: Sequence[Desired]) -> dict[str, Desired]:
    return {d.key: d for d in out if d.sobject == "Product_Request_Account__c"}


@pytest.mark.parametrize(
    ("phrase", "text", "hit"),
    [
        ("bundle", "Can we bundle pre-rolls?", True),
        ("bundle", "BUNDLE deals please", True),  # case-blind
        ("bundle", "we bundled them by hand", False),  # a word boundary, not a prefix
        ("bundle", "unbundle the invoice", False),
        ("bundl*", "Bundling for gift sets", True),
        ("bundl*", "unbundling", False),
        ("mix and match", "a mix   and\nmatch offer", True),  # any spacing
        ("mix and match", "mix and matching", False),
        ("promotion compliance", "promotion-compliance", False),
    ],
)
def test_a_phrase_matches_whole_words_case_blind(phrase: str, text: str, hit: bool) -> None:
    assert bool(pattern(phrase).search(text)) is hit


def test_an_exclusion_keeps_a_text_out_of_its_area_only() -> None:
    m = Matcher.of(CFG)
    assert m.areas_of("Please add bundling for gift sets") == ["promotional_bundling"]
    assert m.areas_of("Not interested in bundling, but a promotion compliance check would help") == [
        "promotion_compliance_check"
    ]
    assert m.areas_of("Easy to run promotions. How to schedule a promotion? Add a delivery zone") == []


def test_accounts_asking_make_one_request_with_each_accounts_arr_once() -> None:
    job, out = run(
        [
            store("NV-004", comment("NV-004", 1, "Would love to bundle pre-rolls"), arr=30_000.0),
            # AZ-002 asks twice: two mentions, its ARR once
            store(
                "AZ-002",
                ticket("AZ-002", 1, "Mix and match bundles for edibles", 40),
                comment("AZ-002", 2, "Bundling for gift sets please", 3),
                arr=12_000.0,
            ),  # fmt: skip
            store("IL-004", ticket("IL-004", 2, "How to schedule a promotion")),  # matches nothing
        ]
    )
    (req,) = requests(out).values()
    assert req.key == "promotional_bundling"
    f = req.fields
    assert (f["Accounts_Count__c"], f["ARR_Total__c"], f["Mentions__c"]) == (2, 42_000.0, 3)
    assert (f["First_Seen__c"], f["Last_Seen__c"]) == (TODAY - timedelta(days=40), TODAY - timedelta(days=3))
    assert f["Status__c"] == "Open" and f["Name"] == "Promotional bundling"
    lines = f["Evidence__c"].splitlines()
    assert (
        lines[0] == "Promotional bundling: 2 accounts, $42,000.00 ARR, 3 mentions (2026-10-14 … 2026-11-20)."
    )
    assert "Store NV-004 (NV-004) · $30,000.00 · 1 mention" in lines  # the largest ARR first
    assert lines.index("Store NV-004 (NV-004) · $30,000.00 · 1 mention") < lines.index(
        "Store AZ-002 (AZ-002) · $12,000.00 · 2 mentions"
    )
    assert '  2026-11-20 NPS comment nps-2: "Bundling for gift sets please"' in lines
    az = links(out)["promotional_bundling:AZ-002"]
    assert az.fields["Mentions__c"] == 2 and az.fields["Latest_Quote__c"] == "Bundling for gift sets please"
    assert az.fields["Last_Mention__c"] == TODAY - timedelta(days=3) and az.fields["Current__c"] is True
    assert az.create_only == {
        "Product_Request__r": {"Request_Key__c": "promotional_bundling"},
        "Account__c": "001AZ-002",
    }
    assert set(links(out)) == {"promotional_bundling:AZ-002", "promotional_bundling:NV-004"}
    assert job.summary(out)["voice"] == {
        "promotional_bundling": {"accounts": 2, "arr": 42_000.0, "mentions": 3}
    }


def test_no_request_below_min_accounts_outside_the_window_or_without_an_account() -> None:
    _, out = run(
        [
            store("MA-003", comment("MA-003", 1, "Route planning for drivers")),  # one account only
            store("NV-001", comment("NV-001", 1, "bundle deals", days_ago=CFG.lookback_days + 1)),  # too old
            store("CA-006", comment("CA-006", 1, "We want bundles too"), has_id=False),  # no Account
            store("AZ-001", comment("AZ-001", 1, "Bundles, please")),
        ]
    )
    assert out == []


def test_missing_arr_counts_as_zero_and_says_so() -> None:
    _, out = run(
        [
            store("NV-004", comment("NV-004", 1, "bundle it"), arr=None),
            store("AZ-002", comment("AZ-002", 1, "BOGO please"), arr=6_000.0),
        ]
    )
    f = requests(out)["promotional_bundling"].fields
    assert f["ARR_Total__c"] == 6_000.0
    assert "No ARR on NV-004: counted as $0.00." in f["Evidence__c"]
    assert "Store NV-004 (NV-004) · no ARR · 1 mention" in f["Evidence__c"]


def test_long_quotes_are_cut_to_the_field() -> None:
    long = "bundle " + "x" * 400
    _, out = run([store("NV-004", comment("NV-004", 1, long)), store("AZ-002", comment("AZ-002", 1, long))])
    assert len(links(out)["promotional_bundling:NV-004"].fields["Latest_Quote__c"]) == 255


def two_asking(days_ago: int = 5) -> list[Any]:
    return [
        store("CA-001", comment("CA-001", 1, "a promotion compliance check", days_ago)),
        store("MI-005", comment("MI-005", 1, "compliance check for promos", days_ago)),
    ]


def test_written_once_then_closed_when_the_mentions_age_out() -> None:
    job, out = run(two_asking())
    first = diff(out, {}, job.managed(NOW))
    assert sorted((c.op, c.sobject) for c in first.changes) == [
        ("create", "Product_Request_Account__c")
    ] * 2 + [("create", "Product_Request__c")]
    org = written(first)
    _, again = run(two_asking(), {"promotion_compliance_check": "Open"})
    assert diff(again, org, job.managed(NOW)).changes == ()  # rerun: nothing to write
    # the mentions age out: the request goes quiet, its account rows are no longer current
    job, aged = run(two_asking(days_ago=CFG.lookback_days + 2), {"promotion_compliance_check": "Open"})
    assert aged == []
    closes = diff(aged, org, job.managed(NOW)).changes
    assert sorted((c.op, c.sobject, tuple(c.fields.items())) for c in closes) == [
        ("close", "Product_Request_Account__c", (("Current__c", False),)),
        ("close", "Product_Request_Account__c", (("Current__c", False),)),
        ("close", "Product_Request__c", (("Status__c", "No recent mentions"),)),
    ]
    quiet = written(diff(aged, org, job.managed(NOW)), org)
    _, back = run(two_asking(), {"promotion_compliance_check": "No recent mentions"})
    assert requests(back)["promotion_compliance_check"].fields["Status__c"] == "Open"  # reopened
    assert diff(back, quiet, job.managed(NOW)).changes != ()


def test_a_status_the_product_team_set_is_never_overwritten_nor_closed() -> None:
    job, out = run(two_asking(), {"promotion_compliance_check": "Planned"})
    assert "Status__c" not in requests(out)["promotion_compliance_check"].fields
    planned = {("Product_Request__c", "promotion_compliance_check"): {
        "Request_Key__c": "promotion_compliance_check", "Status__c": "Planned"}}  # fmt: skip
    job, aged = run(two_asking(days_ago=CFG.lookback_days + 2), {"promotion_compliance_check": "Planned"})
    assert diff(aged, planned, job.managed(NOW)).changes == ()  # only an Open request is closed


def test_explain_lists_the_stores_mentions() -> None:
    job = VoiceJob(CFG)
    got = job.explain(store("AZ-002", ticket("AZ-002", 7, "Mix and match bundles; promo compliance too")))
    assert [(m["area"], m["id"]) for m in got["mentions"]] == [
        ("promotion_compliance_check", "TKT-7"),
        ("promotional_bundling", "TKT-7"),
    ]
    assert got["last_good_pull"] == {"support": None, "nps": None}  # never pulled in this test


@pytest.mark.parametrize(
    ("edit", "where", "says"),
    [
        ('code = "promotional_bundling"\ntitle = "Dup"\nphrases = ["x"]', "areas", "appears twice"),
        ('code = "empty"\ntitle = "E"\nphrases = ["  * "]', 'area "empty" → phrases', "remove it"),
        ('code = "Bad Code"\ntitle = "B"\nphrases = ["x"]', 'area "Bad Code" → code', "lower-case letters"),
    ],
)
def test_a_bad_area_names_file_key_and_problem(tmp_path: Path, edit: str, where: str, says: str) -> None:
    text = (MAPPINGS / "voice.toml").read_text() + f"\n[[areas]]\n{edit}\n"
    path = tmp_path / "mappings" / "voice.toml"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(FileError) as err:
        load(path)
    shown = str(err.value)
    assert "mappings/voice.toml" in shown and where in shown and says in shown
