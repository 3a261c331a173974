"""Local stand-ins for Salesforce and the source systems, for the demo, tests and benchmarks."""
