"""The lifecycle jobs on the demo portfolio: pulled from the source sandboxes, written to the sandbox org."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from connectors.salesforce.client import SalesforceClient
from jobs import qbr_pack, registry
from jobs.apply import ApplyOptions
from jobs.compliance import ComplianceJob
from jobs.expansion import ExpansionJob
from jobs.nps import NpsJob
from jobs.onboarding import OnboardingJob
from jobs.portfolio import PortfolioReads
from jobs.qbr import QbrJob
from jobs.receivables import ReceivablesJob
from jobs.renewals import RenewalsJob
from jobs.snapshots import SnapshotsJob
from jobs.sync import JobOptions, JobResult, MappingJob, run_job
from mappings.lifecycle import Quarter
from mappings.load import load_mapping_set
from sandbox.portfolio import Portfolio
from sandbox.salesforce import Org
from sandbox.seed import seed_org
from tests.integration.jobs.test_pull_sandbox import pull_portfolio
from tests.integration.org_fixtures import client_for, write_calls

pytestmark = pytest.mark.integration

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
TODAY = date(2026, 10, 8)  # early in Q4: Q3 is complete and its review (15 Oct) two weeks away
STORES = (
    "IL-006", "MI-006", "MA-005",  # MSO-2 onboarding in three states
    "NV-002", "NV-006",  # MSO-1 locations (NV-006 new), NV-002's edible over the caps
    "MI-003", "NV-003", "MA-002",  # renewals at 30, 60 and 90 days
    "CA-001", "AZ-003",  # promotion wording, MSRP
    "IL-002",  # receivables
    "MI-002",  # expansion: growth at the plan's order limit
    "IL-001",  # QBR
)  # fmt: skip
# Onboardings before the demo (the org holds their milestones): on day 30 exactly, on day 31, open on day 40.
# Pulled too, but only the onboarding job runs on them.
ON_TIME = ("NV-007", "MA-001", "MA-003")
# Online sales drops yesterday: AZ-006 from lost traffic, MA-003 at its usual traffic (risk_alerts only).
DROPS = ("AZ-006", "MA-003")


@dataclass
class World:
    portfolio: Portfolio
    engine: Engine
    org: Org
    client: SalesforceClient
    accounts: dict[str, str]  # Store_Id__c -> Account Id

    @property
    def now(self) -> datetime:
        return self.portfolio.now

    def run(
        self, job: MappingJob, opts: JobOptions | None = None, stores: Sequence[str] = STORES
    ) -> JobResult:
        history = max(120, getattr(job, "history_days", 0) or 0)
        opts = opts or JobOptions(history_days=history, force=True)
        return run_job(self.engine, self.client, job, f"{job.name}-{self.org.stats.snapshot()['query']}",
                       self.now, opts, self.client.describe, stores=list(stores))  # fmt: skip

    def writes(self) -> int:
        return write_calls(self.org)

    def records(self, sobject: str, prefix: str = "") -> dict[str, dict[str, Any]]:
        key = {"Task": "Sync_Key__c", "Risk_Flag__c": "Sync_Key__c", "Onboarding_Milestone__c": "Milestone_Key__c",
               "Quarterly_Review__c": "Review_Key__c", "Health_Snapshot__c": "Snapshot_Key__c"}[sobject]  # fmt: skip
        return {str(r[key]): r for r in self.org.records(sobject) if str(r.get(key) or "").startswith(prefix)}

    def account(self, store: str) -> dict[str, Any]:
        return next(a for a in self.org.records("Account") if a.get("Store_Id__c") == store)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("lifecycle")
    portfolio = Portfolio(7, TODAY, days=100)
    # billing goes back far enough for invoices 90 days past due
    engine = pull_portfolio(
        tmp, portfolio, {*STORES, *ON_TIME, *DROPS}, lambda source: 160 if source == "billing" else 100
    )
    org = Org.from_metadata()
    accounts = seed_org(org, portfolio)
    # What the health job would have written: MI-003 is the red account of the renewal scenario.
    org.update("Account", accounts["MI-003"], {"Health_Score__c": 31, "Health_Band__c": "Red",
                                               "Health_Trend__c": "Declining"})  # fmt: skip
    yield World(portfolio, engine, org, client_for(org), accounts)


def _rerun_writes_nothing(w: World, job: MappingJob, stores: Sequence[str] = STORES) -> None:
    before = w.writes()
    again = w.run(job, stores=stores)
    assert again.plan.changes == (), [c.data for c in again.plan.changes][:3]
    assert w.writes() == before


def _onboarding(w: World) -> None:
    job = OnboardingJob.build(MAPPINGS)
    before = {a["Store_Id__c"]: a for a in w.org.records("Account")}
    result = w.run(job, stores=(*STORES, *ON_TIME))
    assert not result.partial
    stores = {"IL-006", "MI-006", "MA-005", "NV-006"}
    ms = {k: m for k, m in w.records("Onboarding_Milestone__c").items() if k.split(":")[0] in stores}
    assert len(ms) == 4 * 9
    start = TODAY - timedelta(days=20)

    def st(key: str) -> tuple[str, str | None]:
        return ms[key]["Status__c"], ms[key]["Completed_Date__c"]

    assert st("IL-006:pos_integration") == ("Done", str(start + timedelta(days=1)))  # POS sales from day 2
    assert st("IL-006:go_live") == ("Done", str(start + timedelta(days=4)))  # online from day 5
    assert st("MI-006:pos_integration") == ("Done", str(start + timedelta(days=3)))
    assert st("MI-006:go_live") == ("Done", str(start + timedelta(days=11)))  # go-live on day 12
    assert st("MA-005:pos_integration") == ("Not Started", None)
    assert st("MA-005:go_live") == ("Not Started", None)
    assert st("MA-005:kickoff") == ("Done", str(start))
    assert ms["MA-005:menu_potency"]["State__c"] == "MA"
    assert "Edible serving at most 5 mg THC [935 CMR 500.150" in ms["MA-005:menu_potency"]["Detail__c"]
    assert all(m["Account__c"] == w.accounts[k.split(":")[0]] for k, m in ms.items())
    tasks = w.records("Task", "onboarding:")
    assert "onboarding:MA-005:pos_integration" in tasks
    assert not any(
        k.startswith("onboarding:IL-006:pos") or k.startswith("onboarding:MI-006:go") for k in tasks
    )
    ma5 = w.account("MA-005")
    assert {t["OwnerId"] for k, t in tasks.items() if ":MA-005:" in k} == {ma5["CSM__c"]}
    assert {k for k in tasks if ":MA-005:" in k} == {f"onboarding:MA-005:{c}" for c in
                                                     ("pos_integration", "menu_potency", "menu_limits", "menu_marketing")}  # fmt: skip
    mso2 = w.account("MSO-2")
    assert (mso2["Locations_Live__c"], mso2["Locations_Total__c"]) == (2, 3)
    assert 0 < mso2["Onboarding_Progress__c"] < 100
    summary = job.summary([])["onboarding"]
    assert summary["tracked"] == 4 + len(ON_TIME) and summary["target_share"] == 0.9
    assert (summary["on_time"], summary["judged"]) == (1, 3)
    _on_time(w, before)
    _rerun_writes_nothing(w, job, (*STORES, *ON_TIME))


def _on_time(w: World, before: dict[str, dict[str, Any]]) -> None:
    """The on-time facts on each Account, and the per-CSM report over them."""
    fields = (
        "Onboarding_Completed__c",
        "Onboarding_Days__c",
        "Onboarding_On_Time__c",
        "Onboarding_On_Time_Pct__c",
    )

    def facts(store: str) -> tuple[Any, ...]:
        return tuple(w.account(store)[f] for f in fields)

    def day(store: str, n: int) -> str:
        return str(date.fromisoformat(w.account(store)["Onboarding_Start__c"]) + timedelta(days=n))

    assert facts("NV-007") == (day("NV-007", 30), 30, "On time", 100)  # day 30 itself is on time
    assert facts("MA-001") == (day("MA-001", 31), 31, "Late", 0)
    assert facts("MA-003") == (None, None, "Overdue", 0)  # open on day 40: not on time
    limits = w.records("Onboarding_Milestone__c", "MA-003:menu_limits")["MA-003:menu_limits"]
    assert (limits["Status__c"], limits["Due_Date__c"]) == ("In Progress", day("MA-003", 14))  # its CSM's
    assert set(w.records("Task", "onboarding:MA-003:")) == {"onboarding:MA-003:menu_limits"}
    for store in ("IL-006", "MI-006", "MA-005", "NV-006"):  # open, 20 and 30 days in: not counted
        assert facts(store) == (None, None, "In progress", None), store
    assert facts("AZ-006") == (None,) * 4  # onboarded long ago, not in this run: nothing written
    assert all(before[s]["Onboarding_On_Time__c"] is None for s in ON_TIME)
    reports = w.client.sf.restful("analytics/reports")
    report_id = next(r["id"] for r in reports if r["name"] == "Onboarding On Time (90% in 30 days)")
    result = w.client.sf.restful(f"analytics/reports/{report_id}")
    users = {u["Id"]: u["Name"] for u in w.org.records("User")}
    shares = {
        g["label"]: tuple(a["value"] for a in result["factMap"][f"{g['key']}!T"]["aggregates"][1:])
        for g in result["groupingsDown"]["groupings"]
    }
    nv, ma = users[w.account("NV-007")["CSM__c"]], users[w.account("MA-001")["CSM__c"]]
    assert shares == {nv: (100, 1), ma: (0, 2)}
    assert result["factMap"]["T!T"]["aggregates"][1:] == [{"label": "33.3333", "value": 100 / 3},
                                                            {"label": "3", "value": 3}]  # fmt: skip


def _compliance(w: World) -> None:
    job = ComplianceJob.build(MAPPINGS)
    w.run(job)
    flags = w.records("Risk_Flag__c", "compliance:")
    by_store: dict[str, set[str]] = {}
    for k in flags:
        by_store.setdefault(k.split(":")[1], set()).add(k.split(":")[2])
    assert by_store["NV-002"] == {"nv-package-cap", "nv-serving-cap"}  # 200 mg package of 20 mg servings
    assert by_store["CA-001"] == {"ca-no-free-goods"}
    assert by_store["AZ-003"] == {"msrp-circuit"}
    # The demo's MA menus carry 10 mg beverages: above the 5 mg serving cap of 935 CMR 500.150.
    assert set(by_store) <= {"NV-002", "CA-001", "AZ-003", "MA-002", "MA-005"}
    assert {v for s, rules in by_store.items() if s.startswith("MA") for v in rules} <= {"ma-serving-cap"}
    ca = [f for k, f in flags.items() if ":CA-001:" in k]
    assert sorted(f["Evidence__c"].splitlines()[0] for f in ca) == [
        'Item: promotion "BOGO Pre-Roll Fridays"', 'Item: promotion "Free Lighter With Purchase"',
    ]  # fmt: skip
    msrp = next(f for k, f in flags.items() if ":AZ-003:" in k)
    assert "30.0% below the MSRP" in msrp["Evidence__c"] and "(tolerance 10%)" in msrp["Evidence__c"]
    assert all(f["Status__c"] == "Open" and f["Rule__c"].startswith("compliance:") for f in flags.values())
    tasks = w.records("Task", "compliance:")
    assert set(tasks) == set(flags)
    _rerun_writes_nothing(w, job)
    # The store fixes the edible: its two flags resolve and their Tasks complete; nothing else moves.
    with w.engine.begin() as conn:
        rows = conn.execute(
            text("SELECT key, attrs FROM source_record WHERE store_id='NV-002' AND stream='menu_items'")
        )
        for key, attrs in rows.fetchall():
            a = json.loads(attrs)
            if (a.get("package_thc_mg") or 0) > 100:
                a.update(package_thc_mg=100, potency={"thc": 10.0, "unit": "mg"})
                conn.execute(text("UPDATE source_record SET attrs=:a WHERE key=:k AND stream='menu_items'"),
                             {"a": json.dumps(a), "k": key})  # fmt: skip
    fixed = w.run(job)
    assert sorted((c.op, c.sobject, c.key.split(":")[2]) for c in fixed.plan.changes) == [
        ("close", "Risk_Flag__c", "nv-package-cap"), ("close", "Risk_Flag__c", "nv-serving-cap"),
        ("close", "Task", "nv-package-cap"), ("close", "Task", "nv-serving-cap"),
    ]  # fmt: skip
    flags = w.records("Risk_Flag__c", "compliance:NV-002:")
    assert {f["Status__c"] for f in flags.values()} == {"Resolved"}
    assert {t["Status"] for t in w.records("Task", "compliance:NV-002:").values()} == {"Completed"}


def _receivables(w: World) -> None:
    job = ReceivablesJob.build(MAPPINGS)
    w.run(job)
    flags = w.records("Risk_Flag__c", "receivables:IL-002:")
    assert set(flags) >= {"receivables:IL-002:past_due", "receivables:IL-002:payment_failed"}
    past_due = flags["receivables:IL-002:past_due"]
    assert past_due["Severity__c"] == "Critical" and past_due["Name"] == "Invoices 90+ days past due"
    assert "(partly paid)" in past_due["Evidence__c"]
    tasks = w.records("Task", "receivables:IL-002:")
    il2 = w.account("IL-002")
    assert {t["OwnerId"] for t in tasks.values()} == {il2["OwnerId"]} != {il2["CSM__c"]}
    assert any(k.startswith("receivables:IL-002:past_due:") and k.endswith(":90") for k in tasks)
    assert any(k.startswith("receivables:IL-002:payment:") for k in tasks)
    _rerun_writes_nothing(w, job)


def _nps(w: World) -> None:
    job = NpsJob.build(MAPPINGS)
    result = w.run(job)
    assert not result.partial
    tasks = w.records("Task", "nps:")
    # The sandbox's answers in the 30 days before TODAY: MI-003 (red) 4 on 23 Sep after a 7; IL-002 (red)
    # 3 on 2 Oct and 5 on 6 Oct. Must not fire: AZ-003's 6 (5 Sep) was followed by a 7, NV-003's 6 (4 Sep)
    # by a 9, MI-003's 4 (1 Sep) by its 7; green stores answer 8 to 10.
    by_store: dict[str, list[dict[str, Any]]] = {}
    for key, t in tasks.items():
        by_store.setdefault(key.split(":")[1], []).append(t)
    assert {s: len(ts) for s, ts in by_store.items()} == {"MI-003": 1, "IL-002": 2}
    for store, ts in by_store.items():
        acct = w.account(store)
        assert {(t["OwnerId"], t["WhatId"], t["Priority"]) for t in ts} == {
            (acct["CSM__c"], acct["Id"], "High")
        }
    said = {
        f'Their comment: "{r.comment}"' if r.comment else "Their comment: (left blank)"
        for r in w.portfolio.nps("IL-002")
    }
    assert all(any(c in t["Description"] for c in said) for t in by_store["IL-002"])
    assert sorted(t["ActivityDate"] for t in by_store["IL-002"]) == [
        "2026-10-06",
        "2026-10-08",
    ]  # Fri→Tue, Tue→Thu
    candidates = {a["Store_Id__c"] for a in w.org.records("Account") if a.get("Reference_Candidate__c")}
    assert candidates == {"NV-002", "NV-003", "MA-002", "CA-001", "MI-002", "IL-001"}  # not AZ-003: a 6 since
    _rerun_writes_nothing(w, job)
    # The survey tool corrects IL-002's 6 Oct answer to an 8: both its follow-ups complete (the 2 Oct one
    # has a better answer after it), nothing else moves.
    with w.engine.begin() as conn:
        rows = conn.execute(
            text("SELECT key, attrs FROM source_record WHERE store_id='IL-002' AND stream='responses'")
        )
        for key, attrs in rows.fetchall():
            a = json.loads(attrs)
            if str(a.get("responded_at", "")).startswith("2026-10-06"):
                a["score"] = 8
                conn.execute(text("UPDATE source_record SET attrs=:a WHERE key=:k AND stream='responses'"),
                             {"a": json.dumps(a), "k": key})  # fmt: skip
    better = w.run(job)
    assert sorted((c.op, c.key.split(":")[1]) for c in better.plan.changes) == [("close", "IL-002")] * 2
    assert {t["Status"] for t in w.records("Task", "nps:IL-002:").values()} == {"Completed"}
    assert {t["Status"] for t in w.records("Task", "nps:MI-003:").values()} == {"Not Started"}
    _rerun_writes_nothing(w, job)


def _renewals(w: World) -> None:
    job = RenewalsJob.build(MAPPINGS)
    w.run(job)
    contracts = {c["AccountId"]: c["Id"] for c in w.org.records("Contract")}
    tasks = w.records("Task", "renewal:")
    expected = {f"renewal:{s}:{contracts[w.accounts[s]]}:{d}" for s, d in (("MI-003", 30), ("NV-003", 60),
                                                                           ("MA-002", 90))}  # fmt: skip
    assert set(tasks) == expected
    open_flags = {f["Account__c"] for f in w.org.records("Risk_Flag__c") if f["Status__c"] == "Open"}
    for key, t in tasks.items():
        store = key.split(":")[1]
        red = w.account(store).get("Health_Band__c") == "Red"
        assert t["Priority"] == ("High" if red or w.accounts[store] in open_flags else "Normal"), key
        assert t["WhatId"] == w.accounts[store] and t["OwnerId"] == w.account(store)["CSM__c"]
    mi3 = next(t for k, t in tasks.items() if ":MI-003:" in k)
    assert "Health: 31 (Red), declining" in mi3["Description"] and "AOV online $" in mi3["Description"]
    assert "Menu shows potency in the wrong unit" not in mi3["Description"]
    _rerun_writes_nothing(w, job)

    # The story moves on: MI-003 and NV-003 get a new finding from another job. NV-003's CSM has already
    # written their own notes into the Task: it stays as they left it; MI-003's follows the account.
    nv3 = next(t for k, t in tasks.items() if ":NV-003:" in k)
    csm = str(w.account("NV-003")["CSM__c"])
    w.org.update("Task", nv3["Id"], {"Description": "Met the owner; renewing."}, as_user=csm)
    for store in ("MI-003", "NV-003"):
        w.org.insert("Risk_Flag__c", {"Name": "Menu shows potency in the wrong unit", "Status__c": "Open",
                                      "Rule__c": "compliance:mi-potency-unit", "Severity__c": "Critical",
                                      "Sync_Key__c": f"compliance:{store}:mi-potency-unit:item-1",
                                      "Account__c": w.accounts[store]})  # fmt: skip
    moved = w.run(job)
    assert [(c.op, c.key.split(":")[1], sorted(c.fields)) for c in moved.plan.changes] == [
        ("update", "MI-003", ["Description"])
    ]
    assert [k.key.split(":")[1] for k in moved.plan.kept] == ["NV-003"]
    tasks = w.records("Task", "renewal:")
    mi3 = next(t for k, t in tasks.items() if ":MI-003:" in k)
    assert "Menu shows potency in the wrong unit (Critical)" in mi3["Description"]
    assert next(t for k, t in tasks.items() if ":NV-003:" in k)["Description"] == "Met the owner; renewing."
    _rerun_writes_nothing(w, job)


def _qbr(w: World) -> None:
    job = QbrJob.build(MAPPINGS)
    w.run(job)
    reviews = w.records("Quarterly_Review__c")
    with_data = [s for s in STORES if s != "MA-005"]  # MA-005's POS never sent anything: no review
    assert set(reviews) == {f"{s}:{q}" for s in with_data for q in ("2026-Q3", "2026-Q4")}
    q3 = reviews["IL-001:2026-Q3"]
    days = [date(2026, 7, 1) + timedelta(days=i) for i in range(92)]
    sums = [w.portfolio.day_summary("IL-001", d) for d in days]
    online = sum(s.online_orders for s in sums)
    in_store = sum(s.in_store_orders for s in sums)
    assert (q3["Online_Orders__c"], q3["In_Store_Orders__c"]) == (online, in_store)
    with w.engine.connect() as conn:  # revenue as the POS reports it (net of tax): the pulled facts
        revenue = conn.execute(text(
            "SELECT SUM(value) FROM metric_fact WHERE store_id='IL-001' AND metric='revenue' "
            "AND dimension='channel=online' AND day BETWEEN '2026-07-01' AND '2026-09-30'"
        )).scalar_one()  # fmt: skip
    assert q3["AOV_Online__c"] == round(revenue / online, 2)
    assert q3["Online_Share__c"] == round(100 * online / (online + in_store), 2)
    assert q3["Review_Date__c"] == "2026-10-15" and q3["Quarter__c"] == "2026-Q3"
    assert q3["Category_Mix__c"].startswith("Revenue by category vs IL stores:")
    assert 1.0 < q3["Conversion__c"] < 10.0 and 50 < q3["Cart_Abandonment__c"] < 90
    prep = w.records("Task", "qbr:")
    assert set(prep) == {f"qbr:{s}:2026-Q3" for s in with_data}
    _rerun_writes_nothing(w, job)


def _pdf(pdf: bytes, tmp: Path) -> tuple[int, str]:
    """Pages (rendered to PNG by pdftoppm, counted) and the text (pdftotext) of a pack."""
    (tmp / "pack.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp / "pack.pdf"), str(tmp / "page")], check=True)
    pages = len(list(tmp.glob("page-*.png")))
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp / "pack.pdf"), "-"], capture_output=True, text=True, check=True
    )
    return pages, text.stdout


def _qbr_pack(w: World, tmp: Path) -> None:
    """After the qbr job: a File per account for Q3, the review pointing at it, the figures the same."""
    cfg = qbr_pack.load(MAPPINGS)
    apply = ApplyOptions()
    report = qbr_pack.run_packs(w.engine, w.client, cfg, w.now, "packs-1", apply, stores=list(STORES))
    by = {(p.store_id, p.quarter): p for p in report.packs}
    with_data = [s for s in STORES if s != "MA-005"]
    assert {s for (s, _), p in by.items() if p.status == "uploaded"} >= set(with_data) | {"MSO-1"}
    assert by[("MA-005", "2026-Q3")].status == "no_data" and report.count("failed") == 0
    il = by[("IL-001", "2026-Q3")]
    review = w.records("Quarterly_Review__c")["IL-001:2026-Q3"]
    assert (review["Pack_File_Id__c"], review["Pack_Version__c"]) == (il.document_id, 1)
    assert il.figures is not None and review["Pack_Figures_Hash__c"] == il.figures.digest
    links = w.org.query(
        f"SELECT LinkedEntityId FROM ContentDocumentLink WHERE ContentDocumentId = '{il.document_id}'"
    )
    assert w.accounts["IL-001"] in {ln["LinkedEntityId"] for ln in links}
    pdf = w.client.download_file(il.version_id)  # what a CSM opens from the Account's Files
    if shutil.which("pdftoppm") is None:
        pytest.skip("poppler-utils (pdftoppm, pdftotext) is not installed")
    pages, text = _pdf(pdf, tmp)
    assert pages == 4
    for value in (review["AOV_Online__c"], review["AOV_In_Store__c"]):
        assert f"${value:,.2f}" in text  # the pack and the record show the same figures
    assert f"{review['Online_Orders__c']:,.0f}" in text and "covers all 92 days of 2026-Q3" in text
    assert f"{review['AOV_Lift__c'] / 100:+.0%}" in text

    # Again, as two shards of one process: nothing new, and one kept read of the Accounts serves both.
    before, uploads = w.writes(), w.org.stats.snapshot().get("sobject", 0)
    read_before = w.org.stats.volume()["read"].get("Account", 0)
    reviews_before = w.org.stats.volume()["read"].get("Quarterly_Review__c", 0)
    reads = PortfolioReads.of(w.engine, timedelta(minutes=10))
    half = len(STORES) // 2
    again = [
        qbr_pack.run_packs(
            w.engine, w.client, cfg, w.now, f"packs-2{i}", apply, stores=list(part), reads=reads
        )
        for i, part in enumerate((STORES[:half], STORES[half:]))
    ]
    assert sum(r.count("uploaded") for r in again) == 0
    assert sum(r.count("unchanged") for r in again) == report.count("uploaded")
    assert (w.writes(), w.org.stats.snapshot().get("sobject", 0)) == (before, uploads)  # nothing new
    with_store_id = [a for a in w.org.records("Account") if a.get("Store_Id__c")]
    assert w.org.stats.volume()["read"].get("Account", 0) - read_before == len(with_store_id)
    quarters = {str(q) for q in qbr_pack.quarters_for(cfg, w.now.date())}
    of_quarters = [r for r in w.org.records("Quarterly_Review__c") if r.get("Quarter__c") in quarters]
    assert of_quarters and w.org.stats.volume()["read"]["Quarterly_Review__c"] - reviews_before == len(
        of_quarters
    )

    cheaper = cfg.model_copy(update={"roi": cfg.roi.model_copy(update={"budtender_hourly_cost": 30.0})})
    changed = qbr_pack.run_packs(w.engine, w.client, cheaper, w.now, "packs-3", apply, stores=["IL-001"])
    il2 = next(p for p in changed.packs if p.store_id == "IL-001")
    assert (il2.status, il2.document_id, il2.version) == ("uploaded", il.document_id, 2)
    assert w.records("Quarterly_Review__c")["IL-001:2026-Q3"]["Pack_Version__c"] == 2
    (tmp / "v2").mkdir()
    assert "$30.00 per hour" in _pdf(w.client.download_file(il2.version_id), tmp / "v2")[1]

    # On demand, the running quarter of MSO-2 (onboarding: a few weeks of data in two of its states).
    demand = qbr_pack.run_packs(
        w.engine, w.client, cfg, w.now, "packs-4", apply, stores=["MSO-2"], quarters=[Quarter(2026, 4)],
        upload=False, keep_pdf=True,
    )  # fmt: skip
    (mso,) = demand.packs
    assert mso.status == "rendered" and mso.figures is not None and mso.pdf is not None
    assert mso.figures.coverage.startswith(f"covers {mso.figures.days_covered} of 92 days")
    assert 0 < mso.figures.days_covered < 92


def _expansion(w: World) -> None:
    job = ExpansionJob.build(MAPPINGS)
    w.run(job)
    tasks = w.records("Task", "expansion:")
    assert {"expansion:MI-002:growth:2026-Q4", "expansion:MI-002:plan_limit:2026-Q4",
            "expansion:MSO-1:new_locations:2026-Q4", "expansion:MSO-1:location_limit:2026-Q4"} <= set(tasks)  # fmt: skip
    assert {t["OwnerId"] for k, t in tasks.items() if ":MSO-1:" in k} == {w.account("MSO-1")["OwnerId"]}
    assert "(new: NV-006)" in tasks["expansion:MSO-1:new_locations:2026-Q4"]["Description"]
    _rerun_writes_nothing(w, job)


def _snapshots(w: World) -> None:
    job = SnapshotsJob.build(MAPPINGS)
    bulk = JobOptions(force=True, apply=ApplyOptions(bulk_threshold=5))
    before = w.org.stats.snapshot()["bulk_create"]
    w.run(job, bulk)
    snaps = w.records("Health_Snapshot__c")
    assert set(snaps) == {f"{s}:{TODAY}" for s in STORES}
    assert w.org.stats.snapshot()["bulk_create"] > before  # above the threshold: Bulk 2.0
    assert all(s["Account__c"] == w.accounts[k.split(":")[0]] for k, s in snaps.items())
    assert all(s["Score__c"] is None or 0 <= s["Score__c"] <= 100 for s in snaps.values())
    _rerun_writes_nothing(w, job)
    week = job.backfill(TODAY - timedelta(days=6), TODAY)
    w.run(week, JobOptions(history_days=week.history_days_for(TODAY), force=True,
                           apply=ApplyOptions(bulk_threshold=5)))  # fmt: skip
    assert len(w.records("Health_Snapshot__c")) == 7 * len(STORES)


def _health_and_risks(w: World) -> None:
    ms = load_mapping_set(MAPPINGS)
    for name in ("account_health", "risk_alerts"):
        w.run(registry.build(name, ms))
    for store in STORES:  # Open_Risk_Count__c counts every open flag, whichever job raised it
        acct = w.account(store)
        flags = [f for f in w.org.records("Risk_Flag__c") if f["Account__c"] == acct["Id"]]
        assert acct["Open_Risk_Count__c"] == sum(f["Status__c"] in ("Open", "Snoozed") for f in flags), store
    assert w.account("IL-002")["Open_Risk_Count__c"] >= 2  # its billing flags
    # Support patterns on the sandbox's tickets: MI-003 (7) and IL-002 (6) have high or urgent tickets open
    # over 5 days; no other store has, and no store's last 14 days reach twice its own usual volume.
    support = {
        str(f["Sync_Key__c"]): f for f in w.org.records("Risk_Flag__c") if f["Category__c"] == "Support"
    }
    assert {(k.split(":")[0], f["Rule__c"]) for k, f in support.items()} == {
        ("MI-003", "support_backlog"), ("IL-002", "support_backlog"),
    }  # fmt: skip
    il2 = next(f for k, f in support.items() if k.startswith("IL-002:"))
    assert "High or urgent tickets open or pending: 6" in il2["Evidence__c"]
    stuck = [
        t for t in w.portfolio.tickets("IL-002") if t.priority in ("high", "urgent") and t.closed_at is None
    ]
    assert all(t.id in il2["Evidence__c"] for t in stuck if t.opened_at.date() < TODAY - timedelta(days=5))
    assert {t["Sync_Key__c"] for t in w.org.records("Task")} >= {f"risk:{k}" for k in support}


def _online_drops(w: World) -> None:
    """The drop flag names the likely cause from the site's sessions: a traffic loss, or conversion."""
    risk = registry.build("risk_alerts", load_mapping_set(MAPPINGS))
    # The POS sources count as `pos` for the rules' freshness, as the config's `freshness_as` says.
    opts = JobOptions(history_days=120, force=True, freshness_aliases={"dutchie": "pos", "treez": "pos"})
    w.run(risk, opts, stores=DROPS)
    drops = {
        s: [f for f in w.org.records("Risk_Flag__c")
            if f["Account__c"] == w.accounts[s] and f["Rule__c"] == "online_sales_drop"]
        for s in DROPS
    }  # fmt: skip
    (traffic,), (conversion,) = drops["AZ-006"], drops["MA-003"]
    assert "Likely cause: traffic loss: fewer shoppers reached the online menu" in traffic["Evidence__c"]
    assert "Likely cause: conversion or menu: as many shoppers visited" in conversion["Evidence__c"]
    others = {
        f["Rule__c"] for s in DROPS for f in w.org.records("Risk_Flag__c") if f["Account__c"] == w.accounts[s]
    }
    assert not any(r.startswith(("menu_sync", "category_drop")) for r in others)  # nothing suppresses it
    before = w.writes()
    assert w.run(risk, opts, stores=DROPS).plan.changes == ()
    assert w.writes() == before


ARTEFACT = re.compile(r"\b(None|none|null|NaN|nan)\b")


def _no_none_in_text(w: World) -> None:
    """Every text a CSM reads, on every record the jobs wrote: no None, null or NaN leaked into it."""
    seen = 0
    for sobject in ("Account", "Risk_Flag__c", "Task", "Case", "Health_Snapshot__c", "Onboarding_Milestone__c",
                    "Quarterly_Review__c"):  # fmt: skip
        for rec in w.org.records(sobject):
            for name, value in rec.items():
                if not isinstance(value, str) or name.endswith("Id") or name == "Id":
                    continue
                if value.lstrip().startswith(("{", "[")):
                    continue  # machine-readable JSON (Components__c), not prose
                prose = "\n".join(line for line in value.splitlines() if not line.startswith("Values: "))
                seen += 1
                assert not ARTEFACT.search(prose), f"{sobject}.{name}: {prose!r}"
    assert seen > 500


def test_lifecycle_jobs_on_the_demo_portfolio(world: World, tmp_path: Path) -> None:
    # One test, in order: renewals read the flags the earlier jobs opened, and the pull is paid once.
    _onboarding(world)
    _compliance(world)
    _receivables(world)
    _nps(world)
    _renewals(world)
    _qbr(world)
    _qbr_pack(world, tmp_path)
    _expansion(world)
    _snapshots(world)
    _health_and_risks(world)
    _online_drops(world)
    _no_none_in_text(world)
    assert world.now.tzinfo is not None and world.now.astimezone(UTC).date() >= TODAY - timedelta(days=1)
