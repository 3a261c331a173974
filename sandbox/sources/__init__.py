"""Source sandboxes: the POS, Metrc, platform, billing, support and NPS APIs of docs/sources.md."""

from __future__ import annotations

from sandbox.sources.app import MOUNTS, SourcesApp, build_app
from sandbox.sources.credentials import DutchieKey, SandboxCredentials, TreezKey
from sandbox.sources.faults import SYSTEMS, FaultBoard, Faults

__all__ = [
    "MOUNTS",
    "SYSTEMS",
    "DutchieKey",
    "FaultBoard",
    "Faults",
    "SandboxCredentials",
    "SourcesApp",
    "TreezKey",
    "build_app",
]
