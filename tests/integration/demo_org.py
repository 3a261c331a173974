"""A demo-like org without running the jobs: the seeded portfolio plus deterministic stand-ins for what
account_health, risk_alerts, snapshots, onboarding and qbr write (shared by the Salesforce UI and console tests)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.salesforce import Org

TODAY = date(2026, 6, 17)
NOW = datetime(2026, 6, 17, 15, tzinfo=UTC)


def fill_like_the_jobs(org: Org, accounts: dict[str, str]) -> None:
    """Deterministic stand-ins for what account_health, risk_alerts, snapshots, onboarding, qbr, cadence
    and voice write."""
    rnd = random.Random(18)
    stores = sorted(k for k in accounts if not k.startswith("MSO"))
    for i, store in enumerate(stores):
        if i < 2:
            continue  # no data yet, as in the demo
        score = rnd.randint(18, 96)
        band = "Green" if score >= 70 else "Yellow" if score >= 50 else "Red"
        fields: dict[str, Any] = {
            "Health_Score__c": score,
            "Health_Band__c": band,
            "Health_Trend__c": rnd.choice(["Improving", "Stable", "Stable", "Declining"]),
            "Health_Stale__c": rnd.random() < 0.1,
            "Open_Risk_Count__c": 0,
            "Touchpoint_Status__c": ("On schedule", "On schedule", "Due", "On schedule", "Overdue")[i % 5],
        }
        if i % 3 == 0:
            fields["Onboarding_Start__c"] = (TODAY - timedelta(days=rnd.randint(5, 70))).isoformat()
            fields["Onboarding_Progress__c"] = rnd.choice([40, 75, 89.99, 90, 100])
            fields["Locations_Total__c"] = rnd.randint(1, 4)
            fields["Locations_Live__c"] = rnd.randint(0, fields["Locations_Total__c"])
            fields.update(_on_time(date.fromisoformat(fields["Onboarding_Start__c"]), rnd.randint(18, 45)))
        org.update("Account", accounts[store], fields)
        for day in range(0, 100, 6):
            s = max(0, min(100, score + rnd.randint(-8, 8)))
            org.insert("Health_Snapshot__c", {
                "Account__c": accounts[store], "Snapshot_Date__c": (TODAY - timedelta(days=day)).isoformat(),
                "Score__c": s, "Band__c": "Green" if s >= 70 else "Yellow" if s >= 50 else "Red",
            })  # fmt: skip
        for q, quarter in enumerate(("2026-Q1", "2025-Q4")):
            org.insert("Quarterly_Review__c", {
                "Account__c": accounts[store], "Quarter__c": quarter, "Name": f"{store} {quarter}",
                "Online_Orders__c": rnd.randint(200, 900), "In_Store_Orders__c": rnd.randint(900, 3000),
                "Online_Share__c": rnd.randint(10, 45), "AOV_Lift__c": rnd.randint(-5, 25) + q,
                "Conversion__c": rnd.randint(2, 9),
            })  # fmt: skip
        if i % 4 == 1:
            for n in range(rnd.randint(1, 3)):
                opened = NOW - timedelta(days=rnd.randint(0, 40), hours=rnd.randint(0, 20))
                org.insert("Risk_Flag__c", {
                    "Account__c": accounts[store], "Name": f"{store} flag {n}",
                    "Rule__c": rnd.choice(["menu_sync", "edibles_drop", "stale_feed", "overdue_invoice"]),
                    "Category__c": rnd.choice(["Operations", "Revenue", "Billing", "Compliance"]),
                    "Severity__c": rnd.choice(["Low", "Medium", "High", "Critical"]),
                    "Status__c": rnd.choice(["Open", "Open", "Snoozed", "Resolved"]),
                    "Opened_At__c": opened.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                    "Sync_Key__c": f"{store}:{n}",
                })  # fmt: skip
        if i % 5 == 2 or "Onboarding_Start__c" in fields:
            for seq in range(1, 5):
                due = TODAY + timedelta(days=rnd.randint(-20, 20))
                status = rnd.choice(["Not Started", "In Progress", "Done", "Blocked"])
                org.insert("Onboarding_Milestone__c", {
                    "Account__c": accounts[store], "Name": f"{store} step {seq}", "Sequence__c": seq,
                    "Due_Date__c": due.isoformat(), "Status__c": status, "State__c": store[:2],
                    "Completed_Date__c": due.isoformat() if status == "Done" else None,
                })  # fmt: skip
    for n, (area, status) in enumerate(
        (("promotional_bundling", "Open"), ("compliance_check", "Open"), ("route_planning", "No recent mentions"),
         ("loyalty_tiers", "Planned"))
    ):
        org.insert("Product_Request__c", {
            "Name": area.replace("_", " ").capitalize(), "Request_Key__c": area, "Product_Area__c": area,
            "Accounts_Count__c": 2 + n, "ARR_Total__c": 12000.0 * (n + 2), "Mentions__c": 3 + n,
            "Last_Seen__c": (TODAY - timedelta(days=7 * n)).isoformat(), "Status__c": status,
        })  # fmt: skip


def _on_time(start: date, days: int) -> dict[str, Any]:
    """The onboarding job's on-time fields for an onboarding that completes (or would) on day `days`."""
    completed = start + timedelta(days=days)
    if completed <= TODAY:
        status = "On time" if days <= 30 else "Late"
        return {"Onboarding_Completed__c": completed.isoformat(), "Onboarding_Days__c": days,
                "Onboarding_On_Time__c": status, "Onboarding_On_Time_Pct__c": 100 if days <= 30 else 0}  # fmt: skip
    overdue = (TODAY - start).days > 30
    return {"Onboarding_On_Time__c": "Overdue" if overdue else "In progress",
            "Onboarding_On_Time_Pct__c": 0 if overdue else None}  # fmt: skip
