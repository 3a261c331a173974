"""A Salesforce-compatible org for tests and the demo, schema read from the repository's SFDX metadata."""

from __future__ import annotations

from sandbox.salesforce.auth import ConnectedApp
from sandbox.salesforce.errors import ApiError, RecordError
from sandbox.salesforce.faults import Faults
from sandbox.salesforce.org import INTEGRATION_USERNAME, Org
from sandbox.server import WSGIAdapter as OrgAdapter

__all__ = ["INTEGRATION_USERNAME", "ApiError", "ConnectedApp", "Faults", "Org", "OrgAdapter", "RecordError"]
