"""The demo portfolio: deterministic stores, people, contracts and history with the scenarios planted."""

from __future__ import annotations

from sandbox.portfolio.model import (
    AnalyticsDay,
    Contract,
    DaySummary,
    Invoice,
    Line,
    Menu,
    MenuItem,
    Mso,
    MsrpItem,
    NpsResponse,
    Opportunity,
    Order,
    Payment,
    PlanLimits,
    Product,
    Promotion,
    Receipt,
    Store,
    Ticket,
    UsageDay,
    User,
)
from sandbox.portfolio.portfolio import Portfolio
from sandbox.portfolio.scenarios import ROLES, SCENARIOS, Scenario

__all__ = [
    "ROLES",
    "SCENARIOS",
    "AnalyticsDay",
    "Contract",
    "DaySummary",
    "Invoice",
    "Line",
    "Menu",
    "MenuItem",
    "Mso",
    "MsrpItem",
    "NpsResponse",
    "Opportunity",
    "Order",
    "Payment",
    "PlanLimits",
    "Portfolio",
    "Product",
    "Promotion",
    "Receipt",
    "Scenario",
    "Store",
    "Ticket",
    "UsageDay",
    "User",
]
