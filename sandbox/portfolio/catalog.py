"""Fixed reference data for the demo portfolio: states, cities, people, brands and their product lines."""

from __future__ import annotations

import re
from dataclasses import dataclass

CATEGORIES: tuple[str, ...] = (
    "flower",
    "pre_rolls",
    "vapes",
    "concentrates",
    "edibles",
    "beverages",
    "tinctures",
    "topicals",
)

# Net weight per unit by name: "3.5g", "0.5g"; a "5pk" of mini pre-rolls holds 5 x 0.5 g.
_GRAMS = re.compile(r"(\d+(?:\.\d+)?)g\b")
_PACK = re.compile(r"(\d+)pk\b")
MINI_PRE_ROLL_GRAMS = 0.5


def net_grams(name: str, category: str) -> float | None:
    """A weighed product's net weight in grams, read from its name; None for items sold by mg or volume."""
    if category in MG_CATEGORIES:
        return None
    m = _GRAMS.search(name)
    if m:
        return float(m.group(1))
    pack = _PACK.search(name)
    return int(pack.group(1)) * MINI_PRE_ROLL_GRAMS if pack else None


# Categories sold by THC per serving/package (mg); the rest are labelled in percent.
MG_CATEGORIES = frozenset({"edibles", "beverages", "tinctures", "topicals"})

# What a store's POS lets one ordinary sale carry, below every demo state's purchase limits (the
# tightest: 1 oz = 28.35 g flower in AZ, 5 g concentrate in IL/AZ/MA, 500 mg THC infused in IL/MA),
# so only the planted orders break a limit. Vapes count as concentrate, pre-rolls as flower.
LIMIT_GROUP: dict[str, str] = {
    "flower": "flower",
    "pre_rolls": "flower",
    "concentrates": "concentrate",
    "vapes": "concentrate",
    **dict.fromkeys(MG_CATEGORIES, "infused"),
}
SALE_CAPS: dict[str, float] = {"flower": 28.0, "concentrate": 5.0, "infused": 500.0}  # g, g, mg THC

# How each POS names our categories (Dutchie stores configure free text; Treez has an enum).
DUTCHIE_CATEGORY = {
    "flower": "Flower",
    "pre_rolls": "Pre-Rolls",
    "vapes": "Vapes",
    "concentrates": "Concentrates",
    "edibles": "Edibles",
    "beverages": "Beverages",
    "tinctures": "Tinctures",
    "topicals": "Topicals",
}
TREEZ_CATEGORY = {
    "flower": "FLOWER",
    "pre_rolls": "PREROLL",
    "vapes": "CARTRIDGE",
    "concentrates": "EXTRACT",
    "edibles": "EDIBLE",
    "beverages": "BEVERAGE",
    "tinctures": "TINCTURE",
    "topicals": "TOPICAL",
}
# Flowhub and BLAZE category names, as their dispensaries set them up: not the vocabulary's own.
FLOWHUB_CATEGORY = {
    "flower": "Flower",
    "pre_rolls": "PreRoll",
    "vapes": "Vape Pens",
    "concentrates": "Concentrate",
    "edibles": "Edible",
    "beverages": "Drinkable",
    "tinctures": "Tincture",
    "topicals": "Topical",
}
BLAZE_CATEGORY = {
    "flower": "Flower",
    "pre_rolls": "Prerolls",
    "vapes": "Vaporizers",
    "concentrates": "Concentrates",
    "edibles": "Infused Edibles",
    "beverages": "Infused Beverages",
    "tinctures": "Tinctures",
    "topicals": "Topicals",
}

# Share of line items per category; a state may lean differently (IL: more vapes, NV: more flower).
CATEGORY_MIX: dict[str, float] = {
    "flower": 0.34,
    "pre_rolls": 0.14,
    "vapes": 0.20,
    "concentrates": 0.08,
    "edibles": 0.14,
    "beverages": 0.04,
    "tinctures": 0.03,
    "topicals": 0.03,
}
STATE_MIX_TILT: dict[str, dict[str, float]] = {
    "NV": {"flower": 1.1, "pre_rolls": 1.15, "vapes": 0.9},
    "IL": {"flower": 0.85, "vapes": 1.3, "beverages": 1.3},
    "CA": {"pre_rolls": 1.1, "concentrates": 1.15},
    "MA": {"edibles": 1.1},
}

# How many of a store's ~60 products fall in each category (scaled to products_per_store).
PRODUCTS_PER_CATEGORY: dict[str, int] = {
    "flower": 18,
    "pre_rolls": 8,
    "vapes": 11,
    "concentrates": 6,
    "edibles": 9,
    "beverages": 3,
    "tinctures": 3,
    "topicals": 2,
}


@dataclass(frozen=True, slots=True)
class StateFacts:
    code: str
    name: str
    timezone: str
    tax_rate: float  # combined excise + sales tax on a retail order, simplified
    edible_serving_mg: float  # the potency per serving a compliant edible carries
    cities: tuple[str, ...]
    license_format: str  # str.format with {n}


STATES: dict[str, StateFacts] = {
    "NV": StateFacts(
        "NV",
        "Nevada",
        "America/Los_Angeles",
        0.1838,
        10.0,
        ("Las Vegas", "Henderson", "Reno", "North Las Vegas", "Sparks", "Carson City"),
        "RD{n:03d}",
    ),
    "AZ": StateFacts(
        "AZ",
        "Arizona",
        "America/Phoenix",
        0.216,
        10.0,
        ("Phoenix", "Tempe", "Tucson", "Scottsdale", "Mesa", "Flagstaff"),
        "00000{n:03d}ESAZ",
    ),
    "IL": StateFacts(
        "IL",
        "Illinois",
        "America/Chicago",
        0.26,
        10.0,
        ("Chicago", "Naperville", "Springfield", "Peoria", "Rockford", "Evanston"),
        "284.000{n:03d}-AUDO",
    ),
    "CA": StateFacts(
        "CA",
        "California",
        "America/Los_Angeles",
        0.2475,
        10.0,
        ("Los Angeles", "San Diego", "Oakland", "Sacramento", "San Jose", "Long Beach", "Fresno"),
        "C10-0000{n:03d}-LIC",
    ),
    "MI": StateFacts(
        "MI",
        "Michigan",
        "America/Detroit",
        0.16,
        10.0,
        ("Detroit", "Ann Arbor", "Grand Rapids", "Lansing", "Kalamazoo", "Traverse City"),
        "AU-R-000{n:03d}",
    ),
    "MA": StateFacts(
        "MA",
        "Massachusetts",
        "America/New_York",
        0.20,
        5.0,
        ("Boston", "Worcester", "Springfield", "Cambridge", "Lowell", "Northampton"),
        "MR28{n:04d}",
    ),
}
STATE_ORDER: tuple[str, ...] = ("NV", "AZ", "IL", "CA", "MI", "MA")
STATE_WEIGHTS: dict[str, int] = {"NV": 8, "AZ": 7, "IL": 6, "CA": 8, "MI": 6, "MA": 5}

STORE_NAME_WORDS: tuple[tuple[str, ...], tuple[str, ...]] = (
    (
        "Desert",
        "Green",
        "Golden",
        "High",
        "Lakeshore",
        "Prairie",
        "Canyon",
        "Harbor",
        "Silver",
        "Red Rock",
        "Evergreen",
        "Sunset",
        "North Star",
        "Blue Sky",
        "Cedar",
        "Juniper",
        "Copper",
        "River",
        "Summit",
        "Pacific",
    ),
    (
        "Bloom",
        "Leaf",
        "Remedy",
        "Collective",
        "Dispensary",
        "Cannabis Co.",
        "Botanicals",
        "Apothecary",
        "Provisions",
        "Greenhouse",
        "Wellness",
        "Supply",
        "Market",
        "House",
        "Garden",
    ),
)

CSM_NAMES: tuple[tuple[str, str], ...] = (
    ("Maya", "Ortiz"),
    ("Jordan", "Lee"),
    ("Priya", "Raman"),
    ("Sam", "Whitaker"),
    ("Elena", "Petrova"),
    ("Marcus", "Bell"),
)
ACCOUNT_MANAGER_NAMES: tuple[tuple[str, str], ...] = (
    ("Dana", "Brooks"),
    ("Luis", "Herrera"),
    ("Kim", "Nguyen"),
)
EMAIL_DOMAIN = "csm-sync.example.com"

PLANS: dict[str, tuple[int, int, float]] = {
    # plan: (monthly online orders, locations, monthly fee per location)
    "Starter": (1_000, 1, 499.0),
    "Growth": (5_000, 3, 1_299.0),
    "Enterprise": (25_000, 25, 2_499.0),
}

STRAINS: tuple[str, ...] = (
    "Blue Dream",
    "Gelato",
    "Wedding Cake",
    "Sour Diesel",
    "OG Kush",
    "Jack Herer",
    "Durban Poison",
    "Zkittlez",
    "Runtz",
    "Purple Punch",
    "Lemon Haze",
    "Mimosa",
    "Pineapple Express",
    "Granddaddy Purple",
    "Green Crack",
    "Northern Lights",
    "Tangie",
    "Ice Cream Cake",
    "Gushers",
    "Biscotti",
    "Apple Fritter",
    "Super Lemon Haze",
    "Cherry Pie",
    "Forbidden Fruit",
)
FLAVORS: tuple[str, ...] = (
    "Watermelon",
    "Sour Cherry",
    "Blueberry",
    "Mango",
    "Peach",
    "Lime",
    "Raspberry",
    "Pomegranate",
    "Dark Chocolate",
    "Mint Chocolate",
    "Salted Caramel",
    "Strawberry Lemonade",
    "Tangerine",
    "Grape",
)


@dataclass(frozen=True, slots=True)
class BrandLine:
    """A brand's range in one category: how its products are named and priced."""

    brand: str
    category: str
    pattern: str  # str.format with {name}
    names: tuple[str, ...]
    msrp_low: float
    msrp_high: float
    potency_low: float  # percent, or mg per serving for mg categories
    potency_high: float
    servings: int = 0  # mg categories: servings per package


BRAND_LINES: tuple[BrandLine, ...] = (
    BrandLine("Canyon Kind", "flower", "{name} 3.5g", STRAINS[0:12], 32, 55, 19, 29),
    BrandLine("Prairie Leaf", "flower", "{name} 3.5g", STRAINS[6:18], 25, 45, 17, 26),
    BrandLine("Tidewater Farms", "flower", "{name} 7g", STRAINS[12:24], 45, 80, 18, 27),
    BrandLine("High Desert Co.", "flower", "{name} 1g", STRAINS[3:15], 10, 16, 20, 31),
    BrandLine("Pine & Ember", "pre_rolls", "{name} Pre-Roll 1g", STRAINS[0:10], 9, 15, 18, 27),
    BrandLine("Golden Hour", "pre_rolls", "{name} Infused Pre-Roll 1g", STRAINS[10:20], 14, 22, 30, 42),
    BrandLine("Canyon Kind", "pre_rolls", "{name} Mini Pre-Rolls 5pk", STRAINS[5:15], 22, 35, 19, 27),
    BrandLine("Nebula Extracts", "vapes", "{name} Cartridge 0.5g", STRAINS[0:12], 28, 45, 75, 90),
    BrandLine("Velvet Haze", "vapes", "{name} All-in-One 1g", STRAINS[8:20], 40, 65, 80, 92),
    BrandLine("Circuit", "vapes", "{name} Live Resin Pod 0.5g", STRAINS[12:24], 32, 50, 70, 85),
    BrandLine("Nebula Extracts", "concentrates", "{name} Badder 1g", STRAINS[2:12], 35, 60, 70, 85),
    BrandLine("Amber Lab", "concentrates", "{name} Shatter 1g", STRAINS[10:20], 25, 45, 72, 88),
    BrandLine("Glacier Rosin", "concentrates", "{name} Live Rosin 1g", STRAINS[14:24], 55, 80, 68, 80),
    BrandLine("Sunset Confections", "edibles", "{name} Gummies", FLAVORS[0:8], 16, 26, 10, 10, 10),
    BrandLine("Wildflower Edibles", "edibles", "{name} Chews", FLAVORS[3:11], 15, 24, 10, 10, 10),
    BrandLine("Little Dipper", "edibles", "{name} Bar", FLAVORS[8:14], 18, 30, 10, 10, 10),
    BrandLine("Fizz Theory", "beverages", "{name} Seltzer", FLAVORS[0:7], 6, 10, 5, 10, 1),
    BrandLine("Cloud Soda", "beverages", "{name} Soda", FLAVORS[6:14], 7, 12, 5, 10, 1),
    BrandLine(
        "Still Water Wellness",
        "tinctures",
        "{name} Tincture 30ml",
        ("Calm", "Balance", "Sleep", "Daytime", "Recovery"),
        28,
        48,
        5,
        10,
        10,
    ),
    BrandLine(
        "Herbal Draft",
        "tinctures",
        "{name} Drops",
        ("Unwind", "Focus", "Night", "Classic"),
        25,
        40,
        5,
        10,
        10,
    ),
    BrandLine(
        "Still Water Wellness",
        "topicals",
        "{name} Balm",
        ("Cooling", "Warming", "Lavender", "Unscented"),
        22,
        40,
        10,
        10,
        10,
    ),
    BrandLine(
        "Balm & Co.",
        "topicals",
        "{name} Lotion",
        ("Eucalyptus", "Citrus", "Rose", "Sport"),
        20,
        36,
        10,
        10,
        10,
    ),
)

TICKET_SUBJECTS: dict[str, tuple[str, ...]] = {
    "routine": (
        "How do I add a new staff login?",
        "Question about the monthly invoice",
        "Change store hours on the online menu",
        "Request: add delivery zone",
        "How to schedule a promotion",
        "Update the store logo",
        "Export last month's order report",
    ),
    "trouble": (
        "Menu prices do not match the POS",
        "Customers report checkout errors",
        "Online orders not reaching the POS",
        "Menu images not loading",
        "Delivery orders stuck in pending",
        "Promotions not applied at checkout",
        "Staff cannot log in to the dashboard",
    ),
}

NPS_COMMENTS: dict[str, tuple[str, ...]] = {
    "promoter": (
        "Online ordering doubled our pickup volume.",
        "Support is fast and helpful.",
        "Easy to run promotions.",
        "Our customers love the menu.",
        "",
    ),
    "passive": ("Works fine, reporting could be better.", "Good, some sync delays.", "OK overall.", ""),
    "detractor": (
        "Menu sync breaks too often.",
        "Too expensive for what we use.",
        "Support takes days to answer.",
        "Checkout problems cost us orders.",
        "",
    ),
}

# Regular promotions, free of words a state's marketing rules object to.
PROMOTION_TEMPLATES: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    ("Happy Hour Pre-Rolls", "15% off pre-rolls from 4 to 6 pm.", 15.0, ("menu", "sms")),
    ("Wellness Wednesday", "10% off tinctures and topicals every Wednesday.", 10.0, ("menu", "email")),
    ("Weekend Flower Special", "20% off selected eighths Friday to Sunday.", 20.0, ("menu", "sms", "email")),
    ("Loyalty Members Save", "Members save 10% on every order.", 10.0, ("menu", "email")),
    ("Early Bird Vapes", "20% off cartridges before 11 am.", 20.0, ("menu",)),
    ("Edible of the Month", "15% off the featured edible.", 15.0, ("menu", "email")),
)
