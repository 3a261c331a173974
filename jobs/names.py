"""The jobs by name, in the order one pass over every job runs them (no imports: the CLI's help reads it).

Onboarding comes before the health score (its onboarding component reads the milestones); health and
risks before snapshots and renewals (which carry the score and the open risks).
"""

from __future__ import annotations

RUN_ORDER = (
    "pull",
    "onboarding",
    "account_health",
    "risk_alerts",
    "snapshots",
    "renewals",
    "qbr",
    "compliance",
    "receivables",
    "expansion",
)
