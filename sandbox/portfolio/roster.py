"""Who is in the portfolio: stores, MSO parents, the company's people, contracts and renewal opportunities."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sandbox.portfolio import catalog, sales
from sandbox.portfolio.model import Contract, Health, Mso, Opportunity, PlanLimits, Store, User
from sandbox.portfolio.scenarios import (
    MSO_ROLES,
    NEW_LOCATION_DAYS_AGO,
    ONBOARDING_DAYS,
    ONBOARDING_DAYS_AGO,
    ONLINE_DROPS,
    RENEWAL_DAYS,
    ROLES,
    STALE_DAYS,
    Role,
)
from sandbox.portfolio.seasons import add_months, contract_end, rng

REGION_MANAGER = {"NV": "am-1", "AZ": "am-1", "CA": "am-1", "IL": "am-2", "MI": "am-2", "MA": "am-3"}
RENEWAL_OPPORTUNITY_TYPE = "Existing Customer - Upgrade"
_POS_KINDS: dict[str, Literal["dutchie_pos", "treez_pos", "flowhub", "blaze"]] = {
    "dutchie_pos": "dutchie_pos",
    "treez_pos": "treez_pos",
    "flowhub": "flowhub",
    "blaze": "blaze",
}


@dataclass(frozen=True, slots=True)
class Roster:
    users: tuple[User, ...]
    msos: tuple[Mso, ...]
    stores: tuple[Store, ...]
    contracts: tuple[Contract, ...]
    opportunities: tuple[Opportunity, ...]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def state_counts(total: int) -> dict[str, int]:
    """Stores per state in the default proportions (largest remainder), 40 giving 8/7/6/8/6/5."""
    weight_sum = sum(catalog.STATE_WEIGHTS.values())
    exact = {s: total * w / weight_sum for s, w in catalog.STATE_WEIGHTS.items()}
    counts = {s: int(v) for s, v in exact.items()}
    by_remainder = sorted(
        catalog.STATE_ORDER, key=lambda s: (-(exact[s] - counts[s]), catalog.STATE_ORDER.index(s))
    )
    for s in by_remainder[: total - sum(counts.values())]:
        counts[s] += 1
    return counts


def _users() -> tuple[User, ...]:
    def make(key: str, names: tuple[str, str], role: str) -> User:
        first, last = names
        email = f"{first.lower()}.{last.lower()}@{catalog.EMAIL_DOMAIN}"
        return User(key, first, last, email, "csm" if role == "csm" else "account_manager")

    csms = [make(f"csm-{i + 1}", n, "csm") for i, n in enumerate(catalog.CSM_NAMES)]
    ams = [make(f"am-{i + 1}", n, "am") for i, n in enumerate(catalog.ACCOUNT_MANAGER_NAMES)]
    return (*csms, *ams)


def _csm_for_state(state: str) -> str:
    return f"csm-{catalog.STATE_ORDER.index(state) % len(catalog.CSM_NAMES) + 1}"


def _limits(plan: str) -> PlanLimits:
    orders, locations, _fee = catalog.PLANS[plan]
    return PlanLimits(orders, locations)


def _generic_role(seed: int, sid: str) -> Role:
    draw = rng(seed, "health", sid).random()
    health: Health = "green" if draw < 0.60 else "yellow" if draw < 0.88 else "red"
    return Role(health)


def build_roster(seed: int, today: date, count: int, orders_per_day: float) -> Roster:
    """Build the eager part of the portfolio; per-store detail is derived later, on demand."""
    counts = state_counts(count)
    missing = [sid for sid in ROLES if int(sid[3:]) > counts[sid[:2]]]
    if missing:
        raise ValueError(
            f"{count} stores cannot hold every planted scenario (missing {', '.join(missing)}); use 40+"
        )
    onboarding_start = today - timedelta(days=ONBOARDING_DAYS_AGO)
    msos: dict[str, Mso] = {}
    for mso_role in MSO_ROLES:
        started = (
            today - timedelta(days=mso_role.onboarding_days_ago) if mso_role.onboarding_days_ago else None
        )
        msos[mso_role.id] = Mso(
            mso_role.id,
            mso_role.name,
            _csm_for_state(mso_role.csm_state),
            REGION_MANAGER[mso_role.csm_state],
            mso_role.plan,
            _limits(mso_role.plan),
            started,
        )

    stores: list[Store] = []
    used_names: set[str] = set()
    index = 0
    generic_mso_members: dict[str, list[str]] = {}
    group = ""
    for state in catalog.STATE_ORDER:
        facts = catalog.STATES[state]
        group = ""
        for number in range(1, counts[state] + 1):
            sid = f"{state}-{number:03d}"
            role = ROLES.get(sid) or _generic_role(seed, sid)
            r = rng(seed, "store", sid)
            parent = role.parent
            if sid not in ROLES and number % 10 in (1, 2, 3):
                # Generic stores beyond the roster: in every ten, a run of three belongs to one MSO.
                if number % 10 == 1 or not group:
                    group = f"MSO-{len(MSO_ROLES) + len(generic_mso_members) + 1}"
                parent = group
                generic_mso_members.setdefault(parent, []).append(sid)
            elif sid not in ROLES:
                group = ""
            city = r.choice(facts.cities)
            words = catalog.STORE_NAME_WORDS
            name = f"{r.choice(words[0])} {r.choice(words[1])}"
            if name in used_names:
                name = f"{name} {city}"
            if name in used_names:
                name = f"{name} {number}"
            used_names.add(name)
            usual_treez = state in ("AZ", "CA")
            # A spec-only POS (Flowhub, BLAZE) still draws, so the stores after it keep their history.
            drawn = role.pos if role.pos in ("dutchie_pos", "treez_pos") else None
            pos_kind = drawn or (
                ("treez_pos" if r.random() < 0.7 else "dutchie_pos")
                if usual_treez
                else ("dutchie_pos" if r.random() < 0.85 else "treez_pos")
            )
            pos_kind = role.pos or pos_kind
            location: int | str = 1000 + index if pos_kind == "dutchie_pos" else slug(f"{name} {sid}")
            mso = msos.get(parent) if parent else None
            plan = role.plan or (mso.plan if mso else r.choice(("Starter", "Growth", "Growth", "Enterprise")))
            health = role.health
            conversion = {
                "green": r.uniform(0.036, 0.046),
                "yellow": r.uniform(0.030, 0.036),
                "red": r.uniform(0.026, 0.030),
            }[health]
            abandonment = {
                "green": r.uniform(0.66, 0.70),
                "yellow": r.uniform(0.69, 0.73),
                "red": r.uniform(0.72, 0.76),
            }[health]
            created = today - timedelta(days=r.randint(400, 1800))
            onboarding: date | None = None
            sales_start: date | None = created
            live_on: date | None = created + timedelta(days=30)
            if sid in ONBOARDING_DAYS:
                onboarding = onboarding_start
                pos_day, live_day = ONBOARDING_DAYS[sid]
                sales_start = onboarding + timedelta(days=pos_day - 1) if pos_day else None
                live_on = onboarding + timedelta(days=live_day - 1) if live_day else None
                created = onboarding
            elif role.scenario == "mso_new_location":
                onboarding = today - timedelta(days=NEW_LOCATION_DAYS_AGO)
                sales_start = onboarding + timedelta(days=2)
                live_on = onboarding + timedelta(days=8)
                created = onboarding
            feed_end = None
            if role.scenario == "stale_feed":
                local_midnight = datetime.combine(
                    today - timedelta(days=STALE_DAYS), time(0), ZoneInfo(facts.timezone)
                )
                feed_end = local_midnight.astimezone(ZoneInfo("UTC"))
            store = Store(
                id=sid,
                index=index,
                state=state,
                name=name,
                city=city,
                timezone=facts.timezone,
                license_number=facts.license_format.format(n=number),
                pos_kind=_POS_KINDS.get(pos_kind, "dutchie_pos"),
                pos_location_id=location,
                plan=plan,
                plan_limits=mso.plan_limits if mso else _limits(plan),
                parent_id=parent,
                onboarding_started_on=onboarding,
                csm=mso.csm if mso else _csm_for_state(state),
                owner=mso.owner if mso else REGION_MANAGER[state],
                health=health,
                size=role.size or min(1.6, max(0.55, r.lognormvariate(0.0, 0.25))),
                online_share=0.5
                if role.scenario == "menu_sync_failure" or role.scenario in ONLINE_DROPS
                else r.uniform(0.38, 0.52),
                conversion=conversion,
                abandonment=abandonment,
                sales_start=sales_start,
                live_on=live_on,
                pos_feed_end=feed_end,
                has_account=role.has_account,
                created_at=datetime.combine(created, time(15, 0), ZoneInfo("UTC")),
                scenario=role.scenario,
            )
            if role.scenario == "expansion_growth":
                store = _calibrate_to_order_limit(store, today, orders_per_day)
            stores.append(store)
            index += 1

    for mso_id, members in generic_mso_members.items():
        lead = next(s for s in stores if s.id == members[0])
        plan = "Growth" if len(members) <= 3 else "Enterprise"
        msos[mso_id] = Mso(
            mso_id,
            f"{lead.name.split()[0]} {lead.state} Holdings {mso_id[4:]}",
            lead.csm,
            lead.owner,
            plan,
            _limits(plan),
            None,
        )
    for i, store in enumerate(stores):
        if store.parent_id in generic_mso_members:
            mso = msos[store.parent_id]
            stores[i] = replace(
                store, plan=mso.plan, plan_limits=mso.plan_limits, csm=mso.csm, owner=mso.owner
            )

    contracts = tuple(_contract(seed, today, s) for s in stores)
    opportunities = tuple(
        _renewal(c, s, today)
        for c, s in zip(contracts, stores, strict=True)
        if 0 <= (c.end_date - today).days <= 120
    )
    return Roster(_users(), tuple(msos.values()), tuple(stores), contracts, opportunities)


def _calibrate_to_order_limit(store: Store, today: date, orders_per_day: float) -> Store:
    """Size the growth store so its last 30 days of online orders sit just over its plan's monthly limit."""
    unit = replace(store, size=1.0)
    expected = sum(
        sales.expected_orders(unit, today - timedelta(days=d), today, orders_per_day)[0] for d in range(1, 31)
    )
    target = store.plan_limits.monthly_orders * 1.03
    return replace(store, size=target / expected if expected else 1.0)


def _contract(seed: int, today: date, store: Store) -> Contract:
    r = rng(seed, "contract", store.id)
    fee = catalog.PLANS[store.plan][2]
    if store.id in RENEWAL_DAYS:
        term = 12
        start = add_months(today + timedelta(days=RENEWAL_DAYS[store.id] + 1), -term)
    elif store.onboarding_started_on:
        term = 24 if store.parent_id else 12
        start = store.onboarding_started_on
    else:
        term = r.choice((12, 24, 24, 36))
        days_out = r.randint(100, min(term * 30 - 30, 720))
        start = add_months(today + timedelta(days=days_out + 1), -term)
    return Contract(f"CT-{store.id}", store.id, start, term, contract_end(start, term), fee)


def _renewal(contract: Contract, store: Store, today: date) -> Opportunity:
    days_out = (contract.end_date - today).days
    stage = "Negotiation/Review" if days_out <= 30 else "Needs Analysis" if days_out <= 60 else "Prospecting"
    return Opportunity(
        store.id,
        f"{store.name} ({store.id}) renewal {contract.end_date.year}",
        contract.end_date,
        stage,
        RENEWAL_OPPORTUNITY_TYPE,
        round(contract.monthly_fee * 12, 2),
    )
