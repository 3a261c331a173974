"""The state database: the only package that knows its tables and queries."""
