"""Outside systems: the connector contract, the shared HTTP client and one module per source."""
