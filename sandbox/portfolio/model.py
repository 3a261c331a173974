"""The demo portfolio's entities: plain frozen records the source sandboxes render in each API's shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, NamedTuple

Health = Literal["green", "yellow", "red"]
Channel = Literal["online", "in_store"]


@dataclass(frozen=True, slots=True)
class User:
    """A Salesforce user of the company: a CSM or an account manager (Account owner)."""

    key: str  # "csm-1", "am-1": stable handle the seed maps to a Salesforce Id
    first_name: str
    last_name: str
    email: str
    role: Literal["csm", "account_manager"]

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class PlanLimits:
    monthly_orders: int
    locations: int


@dataclass(frozen=True, slots=True)
class Mso:
    """A multi-state operator: a parent Account in Salesforce, with no store feed of its own."""

    id: str  # "MSO-1"
    name: str
    csm: str
    owner: str
    plan: str
    plan_limits: PlanLimits
    onboarding_started_on: date | None


@dataclass(frozen=True, slots=True)
class Store:
    """One dispensary location and the knobs that shape its history."""

    id: str  # "NV-001"
    index: int  # position in the portfolio, for stable numeric ids
    state: str
    name: str
    city: str
    timezone: str
    license_number: str
    pos_kind: Literal["dutchie_pos", "treez_pos", "flowhub", "blaze"]
    pos_location_id: int | str  # Dutchie LocationId, or the Treez/Flowhub/BLAZE location (text)
    plan: str
    plan_limits: PlanLimits
    parent_id: str | None
    onboarding_started_on: date | None
    csm: str
    owner: str
    health: Health  # the band the history is shaped to show
    size: float  # multiplier on the portfolio's orders per day
    online_share: float  # share of completed orders placed online
    conversion: float  # online orders / sessions
    abandonment: float  # 1 - orders / carts
    sales_start: date | None  # first day with sales (None: none yet)
    live_on: date | None  # first day with online orders (None: not live)
    pos_feed_end: datetime | None  # the POS API serves nothing modified at or after this time
    has_account: bool  # False: deliberately absent from Salesforce
    created_at: datetime
    scenario: str  # "" or the planted scenario's short name


@dataclass(frozen=True, slots=True)
class Contract:
    id: str
    store_id: str
    start_date: date
    term_months: int
    end_date: date  # as Salesforce derives it: start + term months - 1 day
    monthly_fee: float


@dataclass(frozen=True, slots=True)
class Opportunity:
    store_id: str
    name: str
    close_date: date
    stage: str
    type: str
    amount: float


@dataclass(frozen=True, slots=True)
class Product:
    """A product in a store's POS catalogue, with its current stock and its online menu listing."""

    key: int  # 0.. within the store
    pos_id: str  # Dutchie productId (digits) or Treez product_id (UUID)
    inventory_id: int
    menu_id: str
    sku: str
    name: str
    brand: str
    category: str
    price: float
    msrp: float
    potency: float
    potency_unit: Literal["mg", "%"]
    package_thc_mg: float | None
    servings: int | None
    weight: float  # relative popularity
    pos_stock: int
    allocated: int
    pos_online: bool  # Dutchie onlineProduct / not Treez hide_from_menu
    min_visible: int  # Treez minimum_visible_inventory_level
    image_path: str  # relative to the sources server root: "/images/NV-001/p017.png"
    image_ok: bool
    pos_modified_at: datetime


@dataclass(frozen=True, slots=True)
class MenuItem:
    id: str
    pos_product_id: str
    name: str
    brand: str
    category: str
    price: float
    stock: int
    visible: bool
    image_path: str
    potency: float
    potency_unit: Literal["mg", "%"]
    package_thc_mg: float | None
    servings: int | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Menu:
    items: tuple[MenuItem, ...]
    last_menu_sync_at: datetime | None


@dataclass(frozen=True, slots=True)
class Promotion:
    id: str
    title: str
    description: str
    discount_percent: float
    starts_on: date
    ends_on: date
    channels: tuple[str, ...]
    updated_at: datetime


class Line(NamedTuple):
    """One product on an order (a tuple: hundreds of thousands are made per portfolio)."""

    product_key: int
    pos_id: str
    menu_id: str
    inventory_id: int
    category: str
    brand: str
    quantity: int
    unit_price: float
    total_price: float
    weight_grams: float | None = None  # net weight of one unit (flower, pre-rolls, vapes, concentrates)
    thc_mg: float | None = None  # THC in one unit (mg-labelled categories)


class Order(NamedTuple):
    """A sale as the POS records it; online ones are also the platform's orders and Metrc mirrors the rest.

    A named tuple rather than a dataclass: it is the one record made by the hundred thousand.
    """

    number: int  # unique in the portfolio: POS transaction id, Metrc receipt id
    store_id: str
    day: date  # the store's local business day
    placed_at: datetime
    updated_at: datetime
    channel: Channel
    fulfillment: Literal["pickup", "delivery", "in_store"]
    status: Literal["completed", "canceled"]
    lines: tuple[Line, ...]
    subtotal: float
    discount: float
    tax: float
    total: float
    customer_id: int

    @property
    def platform_id(self) -> str:
        return f"ord-{self.store_id}-{self.day:%Y%m%d}-{self.number % 10_000:04d}"

    @property
    def items(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True, slots=True)
class DaySummary:
    """One store-day's completed orders by channel, as the platform's analytics and tests read them."""

    day: date
    online_orders: int
    online_revenue: float
    in_store_orders: int
    in_store_revenue: float
    canceled_online: int


@dataclass(frozen=True, slots=True)
class AnalyticsDay:
    day: date
    sessions: int
    carts_created: int
    checkouts_started: int
    orders: int
    revenue: float
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UsageDay:
    day: date
    logins: int
    active_users: int
    menu_edits: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Ticket:
    id: str
    store_id: str
    subject: str
    priority: Literal["low", "normal", "high", "urgent"]
    status: Literal["open", "pending", "solved", "closed"]
    opened_at: datetime
    closed_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NpsResponse:
    id: str
    store_id: str
    score: int
    comment: str
    responded_at: datetime


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    store_id: str
    number: str
    issued_on: date
    due_on: date
    amount: float
    amount_paid: float
    status: Literal["open", "paid", "void"]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    invoice_id: str
    store_id: str
    amount: float
    method: Literal["ach", "check", "wire"]
    status: Literal["succeeded", "failed", "returned"]
    return_code: str | None
    payment_method_changed: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Receipt:
    """A Metrc sales receipt mirroring one completed POS sale (no channel: the state does not record it)."""

    id: int
    receipt_number: str
    sales_at: datetime
    packages: int
    total_price: float
    is_final: bool
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class MsrpItem:
    name: str
    msrp: float
    tolerance_percent: float
