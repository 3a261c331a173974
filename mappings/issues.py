"""Mapping problems as located sentences, and the mapping file names they point at."""

from __future__ import annotations

from configfiles import FileIssue, FileProblems

SOURCES_FILE = "sources.toml"
HEALTH_FILE = "account_health.toml"
RISK_FILE = "risk_rules.toml"
FILES = (SOURCES_FILE, HEALTH_FILE, RISK_FILE)


# One issue type for every file people edit: the config's, the mappings' and the source specs' read alike.
MappingIssue = FileIssue


class MappingError(FileProblems):
    """The mapping files are not valid; `issues` lists every problem found, in file order."""
