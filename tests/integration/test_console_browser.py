"""The demo's CSM console in a real headless browser (Debian's chromium through chromedriver).

The org is served over HTTPS and the console over HTTP, as `csm-sync demo --serve` serves them; the page
is loaded, screenshotted, and what the browser rendered is checked against the org's own records. The
tests skip, saying why, only where chromium, chromedriver or selenium cannot be had (`.ci/run` installs
them on Debian). Screenshots go to `$CONSOLE_SCREENSHOTS` when set, else the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.console import serve_console
from sandbox.portfolio import Portfolio
from sandbox.salesforce import Org
from sandbox.seed import seed_org
from sandbox.server import RunningServer, serve
from sandbox.tls import TLSMaterial
from tests.integration.demo_org import NOW, TODAY, fill_like_the_jobs

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("CSM_SYNC_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CSM_SYNC_CHROMEDRIVER", "/usr/bin/chromedriver")
STORE = "NV-001"
EVIDENCE = "Edibles revenue down 41% week over week\n<b>3 top sellers</b> hidden online"


def _browser() -> Any:
    """A headless chromium driven by Debian's chromedriver (no browser download), or a skip saying why."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (dev dependencies)")
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).exists() or shutil.which(path)):
            pytest.skip(f"{path} not found: install it with apt-get install {package} (.ci/run does on Debian)")
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415 - only once selenium is known

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2000",
                "--disable-gpu"):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


class Console:
    def __init__(self, org: Org, url: str, driver: Any, shots: Path) -> None:
        self.org, self.url, self.driver, self.shots = org, url, driver, shots

    def open(self, path: str, shot: str) -> Path:
        self.driver.get(self.url + path)
        height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        metrics = {"width": 1400, "height": max(800, height), "deviceScaleFactor": 1, "mobile": False}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # the whole page
        out = self.shots / f"{shot}.png"
        assert self.driver.save_screenshot(str(out)), f"no screenshot of {path}"
        return out

    def text(self, css: str) -> str:
        from selenium.webdriver.common.by import By  # noqa: PLC0415

        return str(self.driver.find_element(By.CSS_SELECTOR, css).text)

    def rows(self, css: str) -> list[list[str]]:
        from selenium.webdriver.common.by import By  # noqa: PLC0415

        return [
            [str(td.text) for td in tr.find_elements(By.CSS_SELECTOR, "td,th")]
            for tr in self.driver.find_elements(By.CSS_SELECTOR, css)
        ]


def _plant_nv001(org: Org, accounts: dict[str, str]) -> None:
    """NV-001's own story on top of the demo-like fill: a flag with evidence, its Task and Case, a renewal."""
    aid = accounts[STORE]
    csm = org.records("User")[2]["Id"]
    org.update("Account", aid, {"CSM__c": csm, "Open_Risk_Count__c": 1})
    org.insert("Risk_Flag__c", {
        "Account__c": aid, "Name": "Edibles revenue drop", "Rule__c": "edibles_drop", "Category__c": "Revenue",
        "Severity__c": "High", "Status__c": "Open", "Evidence__c": EVIDENCE,
        "Opened_At__c": (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "Sync_Key__c": f"{STORE}:edibles_drop:2026-06",
    })  # fmt: skip
    org.insert("Task", {
        "WhatId": aid, "Subject": "Call NV-001 about edibles", "Priority": "High", "Status": "Not Started",
        "ActivityDate": str(TODAY + timedelta(days=1)), "OwnerId": csm,
        "Sync_Key__c": f"risk:{STORE}:edibles_drop:2026-06",
    })  # fmt: skip
    org.insert("Task", {
        "WhatId": aid, "Subject": "Done already", "Priority": "Normal", "Status": "Completed",
        "ActivityDate": str(TODAY - timedelta(days=3)), "OwnerId": csm,
    })  # fmt: skip
    org.insert("Case", {"AccountId": aid, "Subject": "Menu sync failing for NV-001", "Priority": "High",
                        "Status": "New", "Sync_Key__c": f"risk:{STORE}:menu_sync:2026-06"})  # fmt: skip
    for seq, (status, due) in enumerate((("Done", -20), ("In Progress", -2), ("Not Started", 10)), start=1):
        org.insert("Onboarding_Milestone__c", {
            "Account__c": aid, "Name": f"{STORE} step {seq}", "Sequence__c": seq, "Status__c": status,
            "Due_Date__c": str(TODAY + timedelta(days=due)), "State__c": "NV",
            "Completed_Date__c": str(TODAY + timedelta(days=due)) if status == "Done" else None,
        })  # fmt: skip
    fields = {"Health_Score__c": 31, "Health_Band__c": "Red", "Health_Trend__c": "Declining"}
    org.update("Account", aid, fields)
    snapshots = [s for s in org.records("Health_Snapshot__c") if s["Account__c"] == aid]
    latest = max(snapshots, key=lambda s: s["Snapshot_Date__c"])
    org.update("Health_Snapshot__c", latest["Id"], {"Components__c": json.dumps({
        "usage": {"points": 12.5, "raw": 0.4, "weight": 0.25},
        "orders_trend": {"points": 4.0, "raw": -0.41, "weight": 0.2},
    })})  # fmt: skip


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    driver = _browser()
    org = Org.from_metadata(clock=lambda: NOW)
    accounts = seed_org(org, Portfolio(7, TODAY))
    fill_like_the_jobs(org, accounts)
    _plant_nv001(org, accounts)
    tls = TLSMaterial.create(tmp_path_factory.mktemp("tls"))
    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    org_server: RunningServer = serve(org, tls)
    page = serve_console(org_server.url, org.login, tls, TODAY)
    try:
        yield Console(org, page.url, driver, shots)
    finally:
        driver.quit()
        page.stop()
        org_server.stop()


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_dashboard_renders_the_shipped_components_with_the_orgs_figures(console: Console) -> None:
    shot = console.open("/", "dashboard")
    assert shot.stat().st_size > 20_000, "the screenshot should show a rendered page"
    assert console.text("#dashboard-title") == "Client Health"
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    (shipped,) = console.org.catalog.dashboards
    sections = console.driver.find_elements(By.CSS_SELECTOR, "section[id^='component-']")
    assert len(sections) == len(shipped.components)
    headers = [console.text(f"#component-{i} h2") for i in range(len(sections))]
    assert headers == [c.header for c in shipped.components]
    assert headers[0] == "Accounts by health band" and "Open risk flags by category" in headers
    # Accounts by band: every group's record count is the org's count of store Accounts in that band.
    stores = [a for a in console.org.records("Account") if a.get("Store_Id__c") and a.get("Health_Band__c")]
    bands = Counter(a["Health_Band__c"] for a in stores)
    rows = {r[0]: r[1:] for r in console.rows("#component-0 tbody tr")}
    assert set(rows) == set(bands)
    for band, cells in rows.items():
        members = [float(a["Health_Score__c"]) for a in stores if a["Health_Band__c"] == band]
        assert _number(cells[0]) == pytest.approx(sum(members) / len(members), abs=0.05)
        assert _number(cells[2]) == bands[band]
    # Open flags by category, counted from the flags themselves.
    i = headers.index("Open risk flags by category")
    flags = Counter(
        f["Category__c"] for f in console.org.records("Risk_Flag__c") if f["Status__c"] == "Open"
    )
    assert {r[0]: _number(r[1]) for r in console.rows(f"#component-{i} tbody tr")} == flags


def test_account_360_of_nv001_shows_its_record_history_and_work(console: Console) -> None:
    shot = console.open(f"/accounts/{STORE}", "account-nv-001")
    assert shot.stat().st_size > 20_000
    org = console.org
    account = next(a for a in org.records("Account") if a.get("Store_Id__c") == STORE)
    csm = org.get(account["CSM__c"])
    assert csm is not None
    assert console.text("#account-name").startswith(account["Name"])
    assert console.text("#score") == "31" and console.text("#band") == "Red"
    assert console.text("#trend-label") == "Declining" and console.text("#csm") == csm["Name"]
    # The 90-day trend: one point per snapshot of the window, as the org holds them.
    since = str(TODAY - timedelta(days=90))
    snaps = [s for s in org.records("Health_Snapshot__c")
             if s["Account__c"] == account["Id"] and s["Snapshot_Date__c"] >= since]  # fmt: skip
    assert snaps
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    trend = console.driver.find_element(By.CSS_SELECTOR, "#trend")
    assert int(trend.get_attribute("data-points")) == len(snaps)
    assert len(trend.find_elements(By.CSS_SELECTOR, "circle")) == len(snaps)
    assert {r[0]: r[1] for r in console.rows("#components tbody tr")} == {"usage": "12.5", "orders trend": "4.0"}
    # Open flags with their evidence, as written (markup in evidence is shown as text, not run).
    flag_rows = console.rows("#flags tbody tr")
    assert len(flag_rows) == 1 and flag_rows[0][0] == "High"
    assert "Edibles revenue drop" in flag_rows[0][1]
    assert flag_rows[0][2] == EVIDENCE
    # Open Tasks only (the completed one is not listed), the open Case, milestones, renewal, QBR figures.
    tasks = console.rows("#tasks tbody tr")
    assert [t[2] for t in tasks] == ["Call NV-001 about edibles"] and tasks[0][3] == csm["Name"]
    assert [c[2] for c in console.rows("#cases tbody tr")] == ["Menu sync failing for NV-001"]
    milestones = [m for m in org.records("Onboarding_Milestone__c") if m["Account__c"] == account["Id"]]
    shown_ms = console.rows("#milestones tbody tr")
    assert [r[2] for r in shown_ms] == [m["Status__c"] for m in sorted(milestones, key=lambda m: m["Sequence__c"])]
    overdue = [m["Name"] for m in milestones if m["Status__c"] != "Done" and str(m["Due_Date__c"]) < str(TODAY)]
    assert overdue and [r[1] for r in shown_ms if r[5] == "overdue"] == overdue
    contracts = [c for c in org.records("Contract") if c["AccountId"] == account["Id"]]
    shown = console.rows("#contracts tbody tr")
    assert sorted(r[2] for r in shown) == sorted(str(c["EndDate"]) for c in contracts)
    reviews = {r["Quarter__c"]: r for r in org.records("Quarterly_Review__c") if r["Account__c"] == account["Id"]}
    qbr = {r[0]: r for r in console.rows("#qbr tbody tr")}
    assert set(qbr) == set(reviews)
    for quarter, row in qbr.items():
        assert _number(row[1]) == reviews[quarter]["Online_Orders__c"]
        assert _number(row[2]) == reviews[quarter]["In_Store_Orders__c"]


def test_list_views_page_lists_every_shipped_view_with_its_rows(console: Console) -> None:
    console.open("/list-views", "list-views")
    org = console.org
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    sections = console.driver.find_elements(By.CSS_SELECTOR, "section[id^='lv-']")
    assert len(sections) == len(org.catalog.list_views)
    open_flags = [f for f in org.records("Risk_Flag__c") if f["Status__c"] == "Open"]
    view = next(v for v in org.catalog.list_views if v.name == "Open_by_Severity")
    assert len(console.rows(f"#lv-{view.id} tbody tr")) == len(open_flags)


def test_unknown_store_says_so(console: Console) -> None:
    console.open("/accounts/XX-404", "unknown-store")
    assert "No Account has Store_Id__c XX-404" in console.text("main")
