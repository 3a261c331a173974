"""The Salesforce CLI as an admin uses it: converting the shipped metadata, and logging in to the sandbox org
to query, describe, bulk-upsert and read limits. `make test` installs the CLI into ./node_modules from
package-lock.json; these tests skip only when it could not be installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.salesforce import Org
from sandbox.salesforce.metadata import default_metadata_root
from sandbox.server import serve
from sandbox.tls import TLSMaterial

REPO = Path(__file__).resolve().parents[3]
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}


def _sf() -> str | None:
    local = REPO / "node_modules" / ".bin" / "sf"
    return str(local) if local.exists() else shutil.which("sf")


SF = _sf()
pytestmark = pytest.mark.skipif(
    SF is None, reason="the Salesforce CLI is not installed (make test runs npm ci)"
)


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFDX_"))}
    env.update(
        HOME=str(home),
        SF_DISABLE_TELEMETRY="true",
        SF_AUTOUPDATE_DISABLE="true",
        SF_SKIP_NEW_VERSION_CHECK="true",
        SF_USE_GENERIC_UNIX_KEYCHAIN="true",
        SF_DISABLE_LOG_FILE="true",
        **extra,
    )
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    assert SF is not None
    done = subprocess.run(  # noqa: S603 - a fixed CLI with the test's own arguments
        [SF, *args, "--json"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    out = json.loads(done.stdout)
    assert done.returncode == 0 and out["status"] == 0, done.stdout + done.stderr
    return out  # type: ignore[no-any-return]


def test_the_shipped_metadata_converts_to_a_deployable_package(tmp_path: Path) -> None:
    out = tmp_path / "mdapi"
    _run(["project", "convert", "source", "--output-dir", str(out)], _env(tmp_path), default_metadata_root())
    package = ET.parse(out / "package.xml").getroot()
    # Folders are listed as `Customer_Success/` by the CLI; compare them without the slash.
    members = {
        t.findtext("md:name", namespaces=NS): {
            (m.text or "").rstrip("/") for m in t.findall("md:members", NS)
        }
        for t in package.findall("md:types", NS)
    }
    assert members["CustomApplication"] == {"Customer_Success"}
    assert members["CustomTab"] == {
        "Risk_Flag__c", "Health_Snapshot__c", "Onboarding_Milestone__c", "Quarterly_Review__c", "Sync_Run__c",
        "Product_Request__c",
    }  # fmt: skip
    assert members["FlexiPage"] == {"Account_Health_Record_Page"}
    assert members["Layout"] == {"Account-Customer Success Layout"}
    assert members["PermissionSet"] == {"CSM_Sync_Integration", "Customer_Success_Manager"}
    assert "Account.Red_and_Declining" in members["ListView"]
    assert "Contract.Renewals_Next_90_Days" in members["ListView"]
    assert len(members["ReportType"]) == 6
    assert "Customer_Success/Health_Trend" in members["Report"] and "Customer_Success" in members["Report"]
    assert members["Dashboard"] == {"Customer_Success", "Customer_Success/Client_Health"}
    assert "Account.Health_Override_Reason__c" in members["CustomField"]
    assert (out / "dashboards" / "Customer_Success-meta.xml").exists()
    converted = (out / "objects" / "Account.object").read_text()
    assert (
        "<trackHistory>true</trackHistory>" in converted
        and "<enableHistory>true</enableHistory>" in converted
    )


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Org, dict[str, str], Path]]:
    """The sandbox org over HTTPS, and a CLI home logged in to it as `sbx` with `sf org login access-token`."""
    org = Org.from_metadata(bulk_polls_to_complete=1)
    home = tmp_path_factory.mktemp("sf-home")
    tls = TLSMaterial.create(tmp_path_factory.mktemp("tls"))
    with serve(org, tls) as server:
        env = _env(home, NODE_EXTRA_CA_CERTS=str(server.ca_path), SF_ACCESS_TOKEN=org.login())
        login = _run(
            ["org", "login", "access-token", "--instance-url", server.url, "--alias", "sbx", "--no-prompt"],
            env,
            home,
        )["result"]
        assert login["username"] == "integration@sandbox.local" and login["orgId"][:15] == org.org_id[:15]
        yield org, env, home


def test_bulk_upsert_from_a_csv_lands_in_the_org(admin: tuple[Org, dict[str, str], Path]) -> None:
    org, env, home = admin
    csv = home / "accounts.csv"
    csv.write_text("Store_Id__c,Name,Plan__c\nZZ-001,Green Leaf,Growth\nZZ-002,Blue Dream,Starter\n")
    args = ["data", "upsert", "bulk", "-o", "sbx", "-s", "Account", "-i", "Store_Id__c", "-f", str(csv)]
    _run([*args, "--wait", "2"], env, home)
    stored = {a["Store_Id__c"]: a for a in org.records("Account")}
    assert stored["ZZ-001"]["Name"] == "Green Leaf" and stored["ZZ-002"]["Plan__c"] == "Starter"


def test_query_and_describe(admin: tuple[Org, dict[str, str], Path]) -> None:
    org, env, home = admin
    org.insert("Account", {"Name": "Query Me", "Store_Id__c": "QQ-001"})
    query = "SELECT Name, Store_Id__c, Owner.Name FROM Account WHERE Store_Id__c = 'QQ-001'"
    result = _run(["data", "query", "-o", "sbx", "-q", query], env, home)["result"]
    assert [(r["Name"], r["Owner"]["Name"]) for r in result["records"]] == [("Query Me", "Integration User")]

    described = _run(["sobject", "describe", "-o", "sbx", "-s", "Risk_Flag__c"], env, home)["result"]
    fields = {f["name"]: f for f in described["fields"]}
    assert (
        fields["Status__c"]["type"] == "picklist" and fields["Account__c"]["relationshipName"] == "Account__r"
    )


def test_org_limits_are_the_orgs(admin: tuple[Org, dict[str, str], Path]) -> None:
    org, env, home = admin
    org.set_api_usage(40_000, 50_000)
    limits = {x["name"]: x for x in _run(["org", "list", "limits", "-o", "sbx"], env, home)["result"]}
    assert limits["DailyApiRequests"]["max"] == 50_000
    assert 50_000 - org.api_used <= limits["DailyApiRequests"]["remaining"] < 10_000
