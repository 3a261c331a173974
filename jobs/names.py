"""The jobs by name, in the order one pass over every job runs them (no imports: the CLI's help reads it).

Onboarding comes before the health score (its onboarding component reads the milestones); every job
that raises flags (compliance, receivables, champions, then risk_alerts, whose Open_Risk_Count__c
counts them all) before those that read the flags and the score from Salesforce (snapshots,
renewals); the morning brief (digest) last, as it tells each CSM what all the others changed.
"""

from __future__ import annotations

RUN_ORDER = (
    "pull",
    "onboarding",
    "account_health",
    "compliance",
    "receivables",
    "champions",
    "risk_alerts",
    "snapshots",
    "renewals",
    "qbr",
    "qbr_pack",
    "expansion",
    "nps_followup",
    "cadence",
    "voice",
    "digest",
)

# Jobs that work on the whole portfolio at once, one shard a firing: voice of the customer (a request
# adds up its accounts and ARR; a run for some stores still reads them all) and the morning briefs (each
# CSM's whole book, whatever a shard's stores: split, every shard would read every book).
PORTFOLIO_JOBS = ("voice", "digest")

# The jobs `csm-sync plan JOB` can show: the pull writes nothing to Salesforce, the QBR pack uploads
# Files and the digest sends messages, rather than planning record changes.
MAPPING_JOBS = tuple(j for j in RUN_ORDER if j not in ("pull", "qbr_pack", "digest"))
