"""The acceptance scenarios planted in the demo portfolio: which store carries which story, and why."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.portfolio.model import Health


@dataclass(frozen=True, slots=True)
class Role:
    """What a named store of the default roster is shaped to show."""

    health: Health
    scenario: str = ""
    parent: str | None = None
    pos: str | None = None  # "dutchie_pos" | "treez_pos" | "flowhub" | "blaze"; None: the state's usual
    plan: str | None = None
    size: float | None = None
    has_account: bool = True


@dataclass(frozen=True, slots=True)
class MsoRole:
    id: str
    name: str
    plan: str
    csm_state: str  # the CSM covering this state looks after the group
    onboarding_days_ago: int | None


MSO_ROLES: tuple[MsoRole, ...] = (
    MsoRole("MSO-1", "Copperline Cannabis Group", "Growth", "NV", None),
    MsoRole("MSO-2", "Lakeside Brands Group", "Enterprise", "IL", 20),
    MsoRole("MSO-3", "Pacific Greenhouse Collective", "Enterprise", "CA", None),
)

# The first 40 stores (NV-001 … MA-005); larger portfolios add generic stores after them.
ROLES: dict[str, Role] = {
    "NV-001": Role("green", "menu_sync_failure", pos="dutchie_pos", plan="Growth", size=1.7),
    "NV-002": Role("green", "compliance_edible_potency", parent="MSO-1", pos="dutchie_pos"),
    "NV-003": Role("yellow", "renewal_60"),
    "NV-004": Role("green", parent="MSO-1"),
    "NV-005": Role("red"),
    "NV-006": Role("green", "mso_new_location", parent="MSO-1", pos="dutchie_pos"),
    "NV-007": Role("yellow"),
    "NV-008": Role("green", pos="flowhub"),  # a POS wired in by a TOML spec alone
    "AZ-001": Role("green", "category_drop_edibles", pos="treez_pos", plan="Growth", size=1.6),
    "AZ-002": Role("green", parent="MSO-1", pos="treez_pos"),
    "AZ-003": Role("yellow", "compliance_msrp"),
    "AZ-004": Role("green"),
    "AZ-005": Role("red"),
    "AZ-006": Role("green", "online_drop_traffic", size=2.0),
    "AZ-007": Role("yellow"),
    "IL-001": Role("green", "qbr", pos="dutchie_pos"),
    "IL-002": Role("red", "receivables"),
    "IL-003": Role("yellow"),
    "IL-004": Role("green"),
    "IL-005": Role("green"),
    "IL-006": Role("green", "mso_onboarding_pos_day2", parent="MSO-2", pos="dutchie_pos"),
    "CA-001": Role("green", "compliance_promotion", pos="treez_pos"),
    "CA-002": Role("green", "stale_feed", pos="treez_pos"),
    "CA-003": Role("green", parent="MSO-3"),
    "CA-004": Role("green", parent="MSO-3"),
    "CA-005": Role("green", parent="MSO-3"),
    "CA-006": Role("green", "unmatched_store", has_account=False),
    "CA-007": Role("red"),
    "CA-008": Role("yellow"),
    "MI-001": Role("green"),
    "MI-002": Role("green", "expansion_growth", plan="Starter", pos="dutchie_pos"),
    "MI-003": Role("red", "renewal_30"),
    "MI-004": Role("yellow"),
    "MI-005": Role("green", pos="blaze"),  # a POS wired in by a TOML spec alone
    "MI-006": Role("green", "mso_onboarding_golive_day12", parent="MSO-2", pos="dutchie_pos"),
    "MA-001": Role("yellow"),
    "MA-002": Role("green", "renewal_90"),
    "MA-003": Role("green", "online_drop_conversion", size=2.0),
    "MA-004": Role("red"),
    "MA-005": Role("green", "mso_onboarding_no_pos", parent="MSO-2", pos="dutchie_pos"),
}

# Online sales drops yesterday without a menu or category cause: online orders at ONLINE_DROP_SHARE of
# the same-weekday median, in-store as usual. At the traffic-loss store the site's sessions (and carts)
# fall with them, so conversion holds; at the conversion store as many shoppers visit as usual.
ONLINE_DROPS: dict[str, str] = {"online_drop_traffic": "traffic", "online_drop_conversion": "conversion"}
ONLINE_DROP_SHARE = 0.5
RENEWAL_DAYS: dict[str, int] = {"MI-003": 30, "NV-003": 60, "MA-002": 90}
ONBOARDING_DAYS_AGO = 20
# Onboarding stores: (first day with POS sales, first online order) as 1-based days of onboarding.
ONBOARDING_DAYS: dict[str, tuple[int | None, int | None]] = {
    "IL-006": (2, 5),
    "MI-006": (4, 12),
    "MA-005": (None, None),
}


@dataclass(frozen=True, slots=True)
class Touch:
    """A touchpoint logged on an account: a completed Task ("Call", "Email") or an Event ("Meeting")."""

    days_ago: int  # negative: an Event planned for later
    kind: str
    subject: str


# Touchpoint cadence (mappings/cadence.toml): what each account logged. Every other account met its GM
# (an Event) 3 to 20 days ago: on schedule on any tier. Overdue: NV-005 (a call 45 days ago; its next
# meeting, planned in 3 days, is not one yet), MA-004 (a call 100 days ago), AZ-005 (only an email,
# which is not a touchpoint) and IL-006 (onboarding day 20, weekly: last check-in on day 5). Must not
# fire: AZ-001 (Growth, 30 days) called exactly 30 days ago, due today; MA-005 and MI-006 (onboarding,
# weekly) checked in within the week.
TOUCHPOINTS: dict[str, tuple[Touch, ...]] = {
    "NV-005": (Touch(45, "Call", "Monthly check-in"), Touch(-3, "Meeting", "Quarterly review prep")),
    "MA-004": (Touch(100, "Call", "Check-in call"),),
    "AZ-005": (Touch(6, "Email", "Invoice copy sent"),),
    "IL-006": (Touch(15, "Call", "Weekly onboarding check-in"),),
    "AZ-001": (Touch(30, "Call", "Monthly check-in"),),
    "MA-005": (Touch(6, "Call", "Weekly onboarding check-in"),),
    "MI-006": (Touch(3, "Meeting", "Weekly onboarding check-in"),),
}


def touchpoints(store_id: str, index: int) -> tuple[Touch, ...]:
    """The touchpoints an account logged: planted above, else a meeting 3 to 20 days ago."""
    return TOUCHPOINTS.get(store_id, (Touch(3 + index % 18, "Meeting", "Monthly check-in"),))


# Onboardings finished (or not) before the demo, as the org holds them: the Account's onboarding start
# and the milestones the onboarding job kept. Store -> (days ago it started, the day of the onboarding
# its last counted milestone was done; None: one is still open). Day 30 itself is on time.
PAST_ONBOARDINGS: dict[str, tuple[int, int | None]] = {
    "NV-007": (75, 30),  # exactly day 30: on time
    "NV-008": (120, 22),
    "AZ-004": (90, 26),
    "AZ-006": (150, 19),
    "AZ-007": (64, 28),
    "IL-003": (100, 29),
    "IL-004": (140, 24),
    "IL-005": (70, 27),
    "CA-008": (110, 21),
    "MI-004": (160, 25),
    "MA-001": (85, 31),  # one day late
    "MA-003": (40, None),  # menu limits still open on day 40: overdue, so not on time
}
# mappings/onboarding.toml's template as the seed plants it: code -> title, in order (staff training is
# only on STAFF_TRAINING_PLANS; the 30-day review follows completion).
# A unit test keeps them in step with the file.
ONBOARDING_MILESTONES: dict[str, str] = {
    "kickoff": "Kickoff call",
    "pos_integration": "POS integration",
    "menu_potency": "Menu: potency display",
    "menu_limits": "Menu: purchase limits",
    "menu_marketing": "Menu: marketing language",
    "brand_msrp": "Brand MSRP rules",
    "staff_training": "Staff training",
    "go_live": "Go-live",
    "review_30d": "30-day review",
}
STAFF_TRAINING_PLANS = ("Growth", "Enterprise")
OPEN_MILESTONE = "menu_limits"  # what an open past onboarding still lacks
REVIEW_MILESTONE = "review_30d"
NEW_LOCATION_DAYS_AGO = 30  # NV-006 joined MSO-1: onboarding start; sales from 2 days later, live at 9
STALE_DAYS = 4  # CA-002: the POS serves nothing from the last 4 local days
# Purchase limits: the first completed online order of the local day 2 days ago becomes `quantity` of
# the store's first product of `category` (concentrates are 1 g each; edible packages 100 mg THC).
LIMIT_ORDER_DAYS_AGO = 2
LIMIT_ORDERS: dict[str, tuple[str, int]] = {
    "IL-004": ("concentrates", 7),  # 7 g: above IL's 5 g per transaction -> flagged
    "IL-005": ("concentrates", 5),  # 5 g: exactly IL's limit -> not flagged
    "AZ-004": ("edibles", 12),  # 1,200 mg THC: AZ has no infused-product limit -> not flagged
}
# Metrc reporting: receipts the POS did not send to Metrc, by local days ago.
# "every_other": half the day's receipts missing; "all": none; "smallest": the day's smallest one.
METRC_GAPS: dict[str, dict[int, str]] = {
    "MI-001": {3: "all", 2: "every_other"},  # beyond tolerance on 2 days -> flagged
    "MI-005": {2: "smallest"},  # one small receipt: within tolerance -> not flagged
}
# Champions (the champions job): each store Account has a champion Contact recorded on it by an earlier
# run ("steady"), except these. Stores chosen among those already flagged, so the demo's flagged stores
# and its renewal priorities stay as the README states them.
CHAMPION_CHANGES: dict[str, str] = {
    "AZ-001": "left",  # the recorded champion's Contact moved to another Account -> flagged
    "CA-002": "deactivated",  # Inactive__c set -> flagged
    "NV-002": "role",  # "General Manager" became "Inventory Lead" -> flagged
    "CA-001": "retitled",  # the same title in other case and spacing -> not flagged
    "AZ-004": "none",  # no Contact ever marked champion -> not flagged
    "IL-006": "first",  # marked, not yet recorded: the first run records it -> not flagged
}
CHAMPION_SINCE_DAYS_AGO = 200


# Voice of the customer: feature requests in words. An answer's comment or a ticket's subject is
# replaced, never added, so no count a health score or rule reads moves. The store's latest NPS answers
# scoring 7 or more take these comments, newest first (detractor comments stay, their Tasks quote them).
VOICE_COMMENTS: dict[str, tuple[str, ...]] = {
    "NV-004": ("Would love to bundle pre-rolls with papers at one price.",),
    "AZ-002": ("Please add bundling for gift sets before the holidays.",),
    "IL-004": ("We need buy one get one deals on the online menu.",),
    "CA-004": ("Bundles of a vape with a battery would sell.",),
    "CA-006": ("We want bundles too.",),  # no Salesforce Account: counts for no request
    "MI-001": ("Not interested in bundling, the menu is great.",),  # excluded phrase
    "CA-001": ("Could the menu run a promotion compliance check before we publish?",),
    "MI-005": ("A compliance check for promos before they go live would save us a review.",),
    "IL-005": ("Promotion compliance is a manual review for us every week.",),
    "MA-003": ("Route planning for our delivery drivers would help.",),  # one account: below the minimum
    "NV-008": ("Easy to run promotions, and compliance likes the check-in reports.",),  # near miss
}
# The store's latest closed ticket of low or normal priority opened 16 days or more ago takes this subject
# (no recent or urgent ticket, which risk flags quote, changes).
VOICE_TICKETS: dict[str, str] = {
    "AZ-002": "Feature request: mix and match bundles for edibles",
    "IL-005": "Can you check promotions against state rules automatically?",
}


@dataclass(frozen=True, slots=True)
class Scenario:
    number: int
    name: str
    store_ids: tuple[str, ...]
    planted: str
    conclusion: str


def _band(health: Health) -> tuple[str, ...]:
    return tuple(sid for sid, role in ROLES.items() if role.health == health)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        1,
        "menu_sync_failure",
        ("NV-001",),
        "Last 2 local days: completed online orders = 30% of the same-weekday median of the 4 weeks before; "
        "in-store orders follow the normal plan. The store's 5 top sellers (trailing 28 days) have POS stock "
        "> 0 but the menu shows stock 0 (3 items) or visible false (2 items); last_menu_sync_at is 30 h "
        "before `now`; online orders on those days contain none of them. Sessions stay normal. An open high "
        "ticket 'Online menu shows best sellers out of stock'.",
        "One 'Menu sync failure' flag (high) with the orders-vs-baseline, the 5 items and the sync age; a "
        "high-priority Case to Menu Engineering; a Task for the CSM to call the GM. No generic sales drop.",
    ),
    Scenario(
        2,
        "category_drop_edibles",
        ("AZ-001",),
        "Last 7 days: online edibles revenue -20% (+-1%) vs the 7 days before (each day at 80% of the same "
        "day a week earlier); every other online category holds at the week before, in-store is normal. "
        "Of the edibles on the menu: "
        "2 hidden (visible false / Treez hide_from_menu), 2 out of stock (POS and menu 0), 3 with an "
        "image URL the sandbox answers 404 to (HEAD and GET).",
        "A category drop flag naming edibles and the likely causes (hidden, out of stock, broken images); a "
        "Task for the CSM.",
    ),
    Scenario(
        3,
        "stale_feed",
        ("CA-002",),
        "The Treez POS serves no ticket modified in the last 4 local days (nor newer products); the platform "
        "keeps normal sessions and online orders, Metrc keeps receiving sales.",
        "A 'Data feed stale' flag; no sales-drop flag from the missing POS days.",
    ),
    Scenario(
        4,
        "mso_onboarding",
        ("MSO-2", "IL-006", "MI-006", "MA-005"),
        "MSO-2 (IL, MI, MA) with onboarding_started_on 20 days ago. IL-006: POS sales from day 2, online "
        "from day 5. MI-006: POS sales from day 4, first online order on day 12 (go-live). MA-005: the POS "
        "key answers with no data at all, no menu, no online orders (integration not done).",
        "Milestones per location from the template; POS integration done for IL-006 and MI-006, go-live "
        "done for both; MA-005's POS integration overdue with a Task to the CSM; MSO-2 shows the roll-up "
        "(2 of 3 live).",
    ),
    Scenario(
        5,
        "renewals",
        tuple(RENEWAL_DAYS),
        "Contracts ending in 30 (MI-003, red health), 60 (NV-003, yellow) and 90 (MA-002, green) days, each "
        "with a renewal Opportunity closing on the end date. Other contracts end 100+ days out.",
        "Renewal Tasks at 30/60/90 days carrying health, open risks and ROI; MI-003's at raised priority.",
    ),
    Scenario(
        6,
        "qbr",
        ("IL-001",),
        "Every store has `days` of daily history (orders by channel, items by category, sessions, carts, "
        "checkouts); online AOV is about 1.3x in-store, conversion 2.6-4.6%, cart abandonment about 70%. A "
        "full previous quarter is covered when `today - days` is on or before that quarter's first day.",
        "A quarterly review per account with AOV online vs in-store, conversion, abandonment, orders, trend.",
    ),
    Scenario(
        7,
        "compliance",
        ("NV-002", "CA-001", "AZ-003"),
        "NV-002: an edible with package_thc_mg 200 (10 servings of 20 mg) in a 100 mg state. CA-001: "
        "promotions 'BOGO Pre-Roll Fridays' and 'Free Lighter With Purchase'. AZ-003: a vape priced 30% "
        "under its brand MSRP (tolerance 10%). Every other item and promotion is within the rules.",
        "One violation per item/promotion naming the item and the rule (state cap, CA marketing ban, MSRP).",
    ),
    Scenario(
        8,
        "receivables",
        ("IL-002",),
        "Open invoices about 30, 60 and 90 days past due; a returned ACH payment (R01) on the oldest, a "
        "failed ACH on the newest past-due one, a partial check payment; 3 payments flagged "
        "payment_method_changed in the last 100 days.",
        "An accounts-receivable flag and a Task for the account manager (Account owner).",
    ),
    Scenario(
        9,
        "expansion",
        ("MI-002", "MSO-1", "NV-006"),
        "MI-002 (Starter, 1,000 online orders a month): flat, then orders grow ~+30% over the last 8 weeks; "
        "its last 30 days of online orders reach the plan limit. MSO-1 (Growth, 3 locations) added NV-006 "
        "30 days ago and now has 4.",
        "Upsell Tasks: MI-002 for growth at the order limit, MSO-1 for the location over its plan.",
    ),
    Scenario(
        10,
        "health_variety",
        _band("green") + _band("yellow") + _band("red"),
        f"Green: {', '.join(_band('green'))}. Yellow (flat or slipping orders, middling usage and NPS, a "
        f"late payment): {', '.join(_band('yellow'))}. Red (orders declining ~3%/week for 8 weeks, almost "
        f"no logins, urgent tickets, detractors, a past-due invoice): {', '.join(_band('red'))}. Generic "
        "stores beyond the first 40 are spread about 60/28/12.",
        "Scores spread over the three bands with drivers that match each store's signals.",
    ),
    Scenario(
        11,
        "unmatched_store",
        ("CA-006",),
        "A store every source serves but that has no Salesforce Account.",
        "The run reports it as unmatched and writes nothing for it.",
    ),
    Scenario(
        12,
        "purchase_limits",
        tuple(LIMIT_ORDERS),
        "Ordinary sales stay within every demo state's limits (28 g flower, 5 g concentrate with vapes, "
        "500 mg THC infused). 2 local days ago: IL-004 sells 7 x 1 g concentrate in one online order (IL "
        "allows 5 g); IL-005 exactly 5 x 1 g; AZ-004 12 edible packages of 100 mg (1,200 mg; AZ has no "
        "infused-product limit on file). Order lines carry weight_grams or thc_mg per unit.",
        "One purchase-limit flag and Task for IL-004 naming the order and its 7 g; none for IL-005 or "
        "AZ-004.",
    ),
    Scenario(
        13,
        "metrc_reporting",
        tuple(METRC_GAPS),
        "MI-001 sent Metrc no receipts 3 local days ago and every other one 2 days ago; MI-005 left out "
        "the smallest receipt of the day 2 days ago (about $10 on $2,000). Every other store's receipts "
        "mirror its completed POS sales; CA-002's POS feed is stale while Metrc keeps receiving sales.",
        "One Metrc reporting-gap flag and Task for MI-001 listing both days with POS and Metrc amounts; "
        "none for MI-005 (within tolerance) or CA-002 (held while its POS data is stale).",
    ),
    Scenario(
        14,
        "touchpoint_cadence",
        tuple(TOUCHPOINTS),
        "Salesforce activity (TOUCHPOINTS): NV-005 (Growth) called 45 days ago, its next meeting planned "
        "in 3 days; MA-004 (Enterprise) called 100 days ago; AZ-005 only emailed; IL-006 (onboarding day "
        "20) last checked in on day 5; AZ-001 (Growth) called exactly 30 days ago; MA-005 and MI-006 "
        "(onboarding) checked in this week; every other account met its GM 3 to 20 days ago.",
        "Overdue-touchpoint Tasks for NV-005, MA-004, AZ-005 and IL-006 only; AZ-001 Due (today), no Task.",
    ),
    Scenario(
        15,
        "voice_of_the_customer",
        tuple(sorted({*VOICE_COMMENTS, *VOICE_TICKETS})),
        "NPS comments and ticket subjects asking for features: promotional bundling from NV-004, AZ-002 "
        "(twice: a comment and a ticket), IL-004 and CA-004, and CA-006 (no Account); an automated "
        "promotion compliance check from CA-001, MI-005 and IL-005 (a comment and a ticket); delivery "
        "route planning from MA-003 only. Near misses: MI-001 is 'not interested in bundling'; NV-008 "
        "finds promotions easy and compliance likes the check-in reports; the catalog's 'How to "
        "schedule a promotion' and 'add delivery zone'.",
        "Two Product_Request__c records: promotional bundling (4 accounts, AZ-002's ARR once) and the "
        "promotion compliance check (3 accounts), each with its account rows; none for route planning "
        "(below min_accounts) and nothing from CA-006 or the near misses.",
    ),
    Scenario(
        16,
        "onboarding_on_time",
        tuple(PAST_ONBOARDINGS),
        "Twelve onboardings begun 40-160 days ago whose milestones the org already holds (the Account's "
        "Onboarding Start and Done milestones with their dates): ten complete within 30 days (NV-007 on day "
        "30 exactly), MA-001 complete on day 31, MA-003 with menu limits still open on day 40. The four "
        "onboardings of scenarios 4 and 9 are 20 and 30 days in and still open.",
        "Onboarding on time 10 of 12 (83%) against the 90% goal, per CSM in the Onboarding On Time report; "
        "MA-001 Late, MA-003 Overdue; IL-006, MI-006, MA-005 and NV-006 In progress, left out.",
    ),
    Scenario(
        17,
        "online_sales_drop",
        ("AZ-006", "MA-003"),
        "Yesterday's completed online orders at half the same-weekday median of the 4 weeks before, in-store "
        "orders as planned, menu and stock normal. AZ-006: the platform's site sessions and carts fall with "
        "the orders (a traffic loss; conversion holds). MA-003: sessions as usual, fewer of them order.",
        "An 'Online sales drop' flag and Task on each: AZ-006's likely cause a traffic loss, MA-003's a "
        "conversion or menu problem; no menu sync or category drop flag.",
    ),
)
