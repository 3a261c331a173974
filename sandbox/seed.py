"""Seeds a sandbox Salesforce org from the portfolio: users, MSO and store Accounts, Contracts, renewals,
and each store's Contacts with its champion."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from sandbox.portfolio import Portfolio, Store, User
from sandbox.portfolio.scenarios import (
    CHAMPION_CHANGES,
    CHAMPION_SINCE_DAYS_AGO,
    ONBOARDING_MILESTONES,
    OPEN_MILESTONE,
    PAST_ONBOARDINGS,
    REVIEW_MILESTONE,
    STAFF_TRAINING_PLANS,
)

MENU_ENGINEERING_QUEUE = "Menu Engineering"
ACCOUNT_TYPE = "Customer - Direct"


class SeedableOrg(Protocol):
    """The part of the sandbox org's API seeding needs."""

    def insert(self, sobject: str, fields: Mapping[str, Any]) -> str: ...

    def load(self, sobject: str, rows: Iterable[Mapping[str, Any]]) -> list[str]: ...

    def update(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> Any: ...


def _user_row(user: User) -> dict[str, Any]:
    return {
        "FirstName": user.first_name,
        "LastName": user.last_name,
        "Username": user.email,
        "Email": user.email,
        "Alias": (user.first_name[0] + user.last_name)[:8].lower(),
        "Title": "Customer Success Manager" if user.role == "csm" else "Account Manager",
        "IsActive": True,
    }


def seed_org(org: SeedableOrg, portfolio: Portfolio) -> dict[str, str]:
    """Load the portfolio's CRM side into `org`; returns Store_Id__c → Account Id (stores and MSO parents).

    Stores with `has_account=False` (CA-006) get no Account, so a run can report them as unmatched.
    MSO parents carry their id (`MSO-1`) in Store_Id__c, the key the platform's `parent_id` uses.
    """
    user_ids = dict(
        zip(
            (u.key for u in portfolio.users),
            org.load("User", [_user_row(u) for u in portfolio.users]),
            strict=True,
        )
    )
    org.insert(
        "Group", {"Name": MENU_ENGINEERING_QUEUE, "DeveloperName": "Menu_Engineering", "Type": "Queue"}
    )

    accounts: dict[str, str] = {}
    mso_rows = [
        {
            "Name": mso.name,
            "Store_Id__c": mso.id,
            "OwnerId": user_ids[mso.owner],
            "CSM__c": user_ids[mso.csm],
            "Plan__c": mso.plan,
            "Type": ACCOUNT_TYPE,
            "Onboarding_Start__c": mso.onboarding_started_on.isoformat()
            if mso.onboarding_started_on
            else None,
            "Description": "Multi-state operator (parent account; its locations carry the store feeds).",
        }
        for mso in portfolio.msos
    ]
    accounts.update(zip((m.id for m in portfolio.msos), org.load("Account", mso_rows), strict=True))

    stores = [s for s in portfolio.stores if s.has_account]
    store_rows = [
        {
            "Name": store.name,
            "Store_Id__c": store.id,
            "ParentId": accounts[store.parent_id] if store.parent_id else None,
            "OwnerId": user_ids[store.owner],
            "CSM__c": user_ids[store.csm],
            "BillingCity": store.city,
            "BillingState": store.state,
            "BillingCountry": "US",
            "Plan__c": store.plan,
            "ARR__c": round(12 * portfolio.contract(store.id).monthly_fee, 2),
            "Onboarding_Start__c": _onboarding_start(store, portfolio.today),
            "Type": ACCOUNT_TYPE,
        }
        for store in stores
    ]
    accounts.update(zip((s.id for s in stores), org.load("Account", store_rows), strict=True))
    org.load("Onboarding_Milestone__c", _past_milestones(portfolio, accounts))

    contracts = [portfolio.contract(s.id) for s in stores]
    contract_ids = org.load(
        "Contract",
        [
            {
                "AccountId": accounts[c.store_id],
                "StartDate": c.start_date.isoformat(),
                "ContractTerm": c.term_months,
                "Status": "Activated",
                "OwnerId": user_ids[portfolio.store(c.store_id).owner],
                "Description": f"{portfolio.store(c.store_id).plan} plan, {c.monthly_fee:.2f} per month",
            }
            for c in contracts
        ],
    )
    by_store = dict(zip((c.store_id for c in contracts), contract_ids, strict=True))
    org.load(
        "Opportunity",
        [
            {
                "Name": o.name,
                "AccountId": accounts[o.store_id],
                "StageName": o.stage,
                "CloseDate": o.close_date.isoformat(),
                "Type": o.type,
                "Amount": o.amount,
                "OwnerId": user_ids[portfolio.store(o.store_id).owner],
                "ContractId": by_store[o.store_id],
            }
            for o in portfolio.opportunities
            if o.store_id in accounts
        ],
    )
    _seed_activity(org, portfolio, accounts, user_ids)
    _seed_champions(org, portfolio, {s.id: accounts[s.id] for s in stores})
    return accounts


def _seed_activity(
    org: SeedableOrg, portfolio: Portfolio, accounts: Mapping[str, str], user_ids: Mapping[str, str]
) -> None:
    """The touchpoints CSMs logged: completed Tasks (calls, emails), Events (meetings, 1 h at 15:00)."""
    tasks, events = [], []
    for store in (s for s in portfolio.stores if s.id in accounts):
        for t in portfolio.touchpoints(store.id):
            day = portfolio.today - timedelta(days=t.days_ago)
            row = {"WhatId": accounts[store.id], "OwnerId": user_ids[store.csm], "Subject": t.subject}
            if t.kind == "Meeting":
                start = datetime.combine(day, time(15), UTC)
                events.append({**row, "Type": t.kind, "StartDateTime": start.isoformat(),
                               "EndDateTime": (start + timedelta(hours=1)).isoformat()})  # fmt: skip
            else:
                tasks.append({**row, "Type": t.kind, "Status": "Completed", "ActivityDate": day.isoformat()})
    org.load("Task", tasks)
    org.load("Event", events)


FIRST_NAMES = ("Jordan", "Avery", "Riley", "Morgan", "Casey", "Quinn", "Harper", "Reese", "Rowan", "Emery")
LAST_NAMES = ("Alvarez", "Brooks", "Chen", "Diaz", "Ellis", "Foster", "Garcia", "Hughes", "Ito", "Jensen")


def _seed_champions(org: SeedableOrg, portfolio: Portfolio, accounts: Mapping[str, str]) -> None:
    """Two Contacts a store (its general manager, the champion, and a buyer), the champion recorded on
    the Account as an earlier champions run left it; CHAMPION_CHANGES plants what changed since."""
    since = (portfolio.today - timedelta(days=CHAMPION_SINCE_DAYS_AGO)).isoformat()
    ids = list(accounts)
    rows: list[dict[str, Any]] = []
    for i, store in enumerate(ids):
        change = CHAMPION_CHANGES.get(store, "steady")
        first, last = FIRST_NAMES[i % 10], LAST_NAMES[(i // 10 + i) % 10]
        rows.append(
            {
                "FirstName": first,
                "LastName": last,
                "Title": {"role": "Inventory Lead", "retitled": "general  MANAGER"}.get(
                    change, "General Manager"
                ),
                "AccountId": accounts[ids[(i + 1) % len(ids)]] if change == "left" else accounts[store],
                "Email": f"{first}.{last}@{store.lower()}.example.com".lower(),
                "Champion__c": change not in ("none", "left"),
                "Inactive__c": change == "deactivated",
            }
        )
        first, last = FIRST_NAMES[(i + 5) % 10], LAST_NAMES[(i + 3) % 10]
        rows.append(
            {
                "FirstName": first,
                "LastName": last,
                "Title": "Buyer",
                "AccountId": accounts[store],
                "Email": f"{first}.{last}@{store.lower()}.example.com".lower(),
                "Champion__c": False,
                "Inactive__c": False,
            }
        )
    contact_ids = org.load("Contact", rows)
    for i, store in enumerate(ids):
        if CHAMPION_CHANGES.get(store) in ("none", "first"):
            continue
        org.update(
            "Account",
            accounts[store],
            {
                "Champion_Contact__c": contact_ids[2 * i],
                "Champion_Title__c": "General Manager",
                "Champion_Since__c": since,
            },
        )


def _onboarding_start(store: Store, today: date) -> str | None:
    if store.id in PAST_ONBOARDINGS:
        return (today - timedelta(days=PAST_ONBOARDINGS[store.id][0])).isoformat()
    return store.onboarding_started_on.isoformat() if store.onboarding_started_on else None


def _past_milestones(portfolio: Portfolio, accounts: Mapping[str, str]) -> list[dict[str, Any]]:
    """The milestones of onboardings before the demo, as the onboarding job and the CSMs left them.

    A completed one has every milestone Done, spread from kickoff (day 0) to its last day, and the 30-day
    review done 28 days later; an open one lacks OPEN_MILESTONE (In Progress, set by its CSM). The job
    fills in what it derives from the template (due dates, details) on its first run.
    """
    rows: list[dict[str, Any]] = []
    for sid, (days_ago, last_day) in sorted(PAST_ONBOARDINGS.items()):
        store = portfolio.store(sid)
        start = portfolio.today - timedelta(days=days_ago)
        codes = [
            c
            for c in ONBOARDING_MILESTONES
            if c != REVIEW_MILESTONE and (c != "staff_training" or store.plan in STAFF_TRAINING_PLANS)
        ]
        end = last_day if last_day is not None else days_ago - 1
        done = {c: round(end * i / (len(codes) - 1)) for i, c in enumerate(codes)}
        if last_day is None:
            del done[OPEN_MILESTONE]
        elif last_day + 28 < days_ago:
            done[REVIEW_MILESTONE] = last_day + 28
        for seq, code in enumerate([*codes, REVIEW_MILESTONE], start=1):
            if code == REVIEW_MILESTONE and code not in done:
                continue
            day = done.get(code)
            rows.append({
                "Name": ONBOARDING_MILESTONES[code],
                "Account__c": accounts[sid],
                "Milestone_Key__c": f"{sid}:{code}",
                "Code__c": code,
                "Sequence__c": seq,
                "Status__c": "Done" if day is not None else "In Progress",
                "Status_Source__c": "Auto",  # as the job created it; a CSM set the manual ones' status
                "Completed_Date__c": (start + timedelta(days=day)).isoformat() if day is not None else None,
            })  # fmt: skip
    return rows
